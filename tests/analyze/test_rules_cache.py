"""The cache of compiled packaged rules (``yara_rules._compiled``): a second process loads what
the first compiled, a damaged or foreign file is compiled again, a new generation replaces the
old, and folders others can write to are not used."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yara_x

from skimguard.analyze import yara_rules
from skimguard.analyze.model import Language

FIXTURE = Path(__file__).parent / "fixtures" / "rules" / "ok_payment_sdk.js"  # SG401, SG407


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(yara_rules.CACHE_ENV, str(folder))
    yara_rules.clear_caches()
    yield folder
    yara_rules.clear_caches()


def _matching(rules: yara_x.Rules, data: bytes | None = None) -> list[str]:
    found = yara_x.Scanner(rules).scan(FIXTURE.read_bytes() if data is None else data).matching_rules
    return sorted(r.identifier for r in found)


def _counting(calls: list[str], name: str) -> yara_x.Rules:
    calls.append(name)
    return yara_x.compile('rule t { strings: $a = "cc_number" condition: $a }')


def test_the_next_process_loads_what_the_first_compiled(cache: Path) -> None:
    compiled = yara_rules.packaged_rule_set(Language.JS)
    folder = cache / "rules" / yara_rules._generation()
    assert sorted(p.name for p in folder.iterdir()) == ["all.yrx", "js.yrx"]
    assert (folder.stat().st_mode & 0o777) == 0o700
    yara_rules.clear_caches()  # as a new process: nothing compiled in memory
    calls: list[str] = []
    loaded = yara_rules._compiled("js", lambda: _counting(calls, "js"))
    assert calls == []  # loaded, not built
    assert _matching(loaded) == _matching(compiled) == ["SG401_card_field_names", "SG407_send_to_hardcoded_url"]
    # the whole set serves the languages every rule applies to (text), as compiling it gives
    assert yara_rules.packaged_rule_set(Language.TEXT) is yara_rules.packaged_rules()


def test_a_damaged_file_is_compiled_again_and_replaced(cache: Path) -> None:
    calls: list[str] = []
    yara_rules._compiled("x", lambda: _counting(calls, "x"))
    file = cache / "rules" / yara_rules._generation() / "x.yrx"
    file.write_bytes(b"not rules at all")
    rules = yara_rules._compiled("x", lambda: _counting(calls, "x"))
    assert calls == ["x", "x"] and _matching(rules, b"cc_number") == ["t"]
    assert file.read_bytes() != b"not rules at all"
    yara_rules._compiled("x", lambda: _counting(calls, "x"))
    assert calls == ["x", "x"]  # the replacement loads


def test_a_new_generation_removes_the_old_one(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yara_rules._compiled("x", lambda: _counting([], "x"))
    old = cache / "rules" / yara_rules._generation()
    every = yara_rules.packaged_rule_sources()
    monkeypatch.setattr(yara_rules, "packaged_rule_sources", lambda: {**every, "extra.yar": "// new\n"})
    yara_rules.clear_caches()
    calls: list[str] = []
    yara_rules._compiled("x", lambda: _counting(calls, "x"))
    new = cache / "rules" / yara_rules._generation()
    assert calls == ["x"] and new != old
    assert [p.name for p in (cache / "rules").iterdir()] == [new.name]


def test_folders_others_can_write_to_are_not_used(cache: Path) -> None:
    calls: list[str] = []
    yara_rules._compiled("x", lambda: _counting(calls, "x"))
    folder = cache / "rules" / yara_rules._generation()
    os.chmod(folder, 0o777)
    yara_rules._compiled("x", lambda: _counting(calls, "x"))
    assert calls == ["x", "x"]  # not loaded from a folder anyone could have written to


def test_an_empty_setting_turns_the_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(yara_rules.CACHE_ENV, "")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    calls: list[str] = []
    yara_rules._compiled("x", lambda: _counting(calls, "x"))
    yara_rules._compiled("x", lambda: _counting(calls, "x"))
    assert calls == ["x", "x"] and list(tmp_path.iterdir()) == []
