"""The documentation stays in step with the code: every rule in the README, every rule documented."""

from __future__ import annotations

import re
from pathlib import Path

from skimguard.detect.registry import ALL_RULES

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_every_rule_with_its_category_and_severity() -> None:
    rows = dict(re.findall(r"^\| (SG\d{3}) \| (\w+ \| \w+) \|", README.read_text("utf-8"), re.M))
    assert rows == {r.id: f"{r.category.value} | {r.severity.label}" for r in ALL_RULES}


def test_every_rule_documents_why_false_positives_and_fix() -> None:
    for rule in ALL_RULES:
        assert "Why:" in rule.doc, rule.id
        assert "How to fix:" in rule.doc, rule.id
        assert "false positives" in rule.doc.lower(), rule.id


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    text = README.read_text("utf-8")
    assert "./scripts/demo" in text and "./scripts/test" in text
    ci = (README.parent / ".ci" / "run").read_text("utf-8")
    assert "./scripts/test" in ci
