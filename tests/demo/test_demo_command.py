"""`skimguard demo`: the main job, end to end on the embedded default (SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skimguard.cli import app

pytestmark = pytest.mark.browser


def test_demo_tells_the_story_and_catches_the_attack(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--scenario", "fake-payment-form", "--workdir", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stdout
    text = " ".join(result.stdout.split())
    assert "1. The shop, as it should be" in text and "2. Accept the baseline" in text
    assert "odd page transition" in text  # the incident's story is told in full, not cut off
    assert "fake-payment-form │ yes" in text and "SG501" in text and "SG306" in text
    assert (tmp_path / "skimguard.db").exists() and (tmp_path / "skimguard.yaml").exists()
    # the breach scoped: window from the scans, 4 card payments by 3 people, the drafts written
    assert "The breach, scoped" in text and "people / cards" in text
    assert "│ 3 / 3 " in text
    assert (tmp_path / "drafts" / "public-notice.ja.md").exists()


def test_demo_rejects_an_unknown_scenario() -> None:
    result = CliRunner().invoke(app, ["demo", "--scenario", "nope"])
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.stderr
