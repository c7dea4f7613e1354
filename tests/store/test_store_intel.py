"""Imported threat-intel feeds: a re-import refreshes its source; other sources stay."""

from __future__ import annotations

from skimguard.intel import IntelIndex, parse_feed
from skimguard.store import Store


def test_import_refresh_and_sources(store: Store) -> None:
    first = store.replace_indicators(
        "maltrail", parse_feed("a.example\nb.example\n/gate.php\n", "maltrail").indicators, "alice"
    )
    assert (first.added, first.removed, first.total) == (3, 0, 3)
    store.replace_indicators("own", parse_feed("c.example\n", "own").indicators, "alice")
    again = store.replace_indicators("maltrail", parse_feed("b.example\nd.example\n", "maltrail").indicators, "bob")
    assert (again.added, again.removed, again.total) == (1, 2, 2)
    values = sorted((i.source, i.kind.value, i.value) for i in store.indicators())
    assert values == [
        ("maltrail", "domain", "b.example"),
        ("maltrail", "domain", "d.example"),
        ("own", "domain", "c.example"),
    ]
    assert [(src, n) for src, n, _ in store.intel_sources()] == [("maltrail", 2), ("own", 1)]
    assert IntelIndex.build(store.indicators()).match_host("x.d.example") is not None
    assert [a.action for a in store.audit("*")] == ["intel-import"] * 3
