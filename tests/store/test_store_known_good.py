"""Known-good hashes in the store: upsert with the latest note, removal, validation, audit."""

from __future__ import annotations

import pytest

from skimguard.errors import StoreError
from skimguard.store import Store

A = "a" * 64
B = "b" * 64
C = "0123456789abcdef" * 4


def test_add_upserts_and_counts_new(store: Store) -> None:
    assert store.add_known_good([(A, "our checkout bundle"), (B.upper(), "vendor widget 2.1")], "manual", "alice") == 2
    assert store.known_good() == {A: ("manual", "our checkout bundle"), B: ("manual", "vendor widget 2.1")}
    # B again (with blanks around it) takes the new note and source; C is new.
    assert store.add_known_good([(f"  {B} ", "vendor widget 2.2"), (C, "")], "vendor-list", "bob") == 1
    assert store.known_good() == {
        A: ("manual", "our checkout bundle"),
        B: ("vendor-list", "vendor widget 2.2"),
        C: ("vendor-list", ""),
    }
    audit = store.audit("*")
    assert [(a.action, a.actor, a.subject) for a in audit] == [
        ("known-good-add", "bob", "vendor-list"),
        ("known-good-add", "alice", "manual"),
    ]
    assert (audit[0].details["added"], audit[0].details["updated"], audit[0].details["total"]) == (1, 1, 2)
    assert audit[0].details["entries"] == [[B, "vendor widget 2.2"], [C, ""]]


def test_remove(store: Store) -> None:
    store.add_known_good([(A, "x"), (B, "y")], "manual", "alice")
    assert store.remove_known_good(A.upper(), "carol") is True
    assert store.remove_known_good(A, "carol") is False
    assert store.known_good() == {B: ("manual", "y")}
    latest = store.audit("*")[0]
    assert (latest.action, latest.actor, latest.subject) == ("known-good-remove", "carol", A)
    assert latest.details == {"source": "manual", "note": "x", "added_by": "alice"}
    assert len(store.audit("*")) == 2  # the failed removal is not logged


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64, "a" * 63, "a" * 65, f"sha256:{A}"])
def test_bad_sha256_is_rejected_whole(store: Store, bad: str) -> None:
    with pytest.raises(StoreError, match="not a sha256") as info:
        store.add_known_good([(A, "fine"), (bad, "bad")], "manual", "alice")
    assert info.value.hint == "a sha256 is 64 hexadecimal digits (sha256sum FILE prints it)"
    assert store.known_good() == {}
    with pytest.raises(StoreError, match="not a sha256"):
        store.remove_known_good(bad, "alice")


def test_empty_add_and_bad_source(store: Store) -> None:
    assert store.add_known_good([], "manual", "alice") == 0
    assert store.audit("*") == []
    with pytest.raises(StoreError, match="known-good source is empty"):
        store.add_known_good([(A, "x")], " ", "alice")


def test_many_in_one_call(store: Store) -> None:
    digests = [f"{i:064x}" for i in range(1200)]
    assert store.add_known_good([(d, f"n{i}") for i, d in enumerate(digests)], "big-list", "ci") == 1200
    assert store.add_known_good([(d, "again") for d in digests[:700]], "big-list", "ci") == 0
    good = store.known_good()
    assert len(good) == 1200
    assert good[digests[0]] == ("big-list", "again")
    assert good[digests[-1]] == ("big-list", "n1199")
