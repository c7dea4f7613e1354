"""Inventory authorization: hash > URL > pattern, change rules, revocations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from skimguard.inventory.authorize import AuthStatus, authorize
from skimguard.models import ChangeRule, MatchType
from skimguard.testing.factories import NOW, VENDOR_URL, make_decision

KEY = "https://cdn.vendor.test/form-assist/v1/assist.js"
OLD = "a" * 64
NEW = "b" * 64


def test_no_decision_is_unapproved() -> None:
    auth = authorize(KEY, VENDOR_URL, NEW, [])
    assert (auth.status, auth.decision, auth.authorized) == (AuthStatus.UNAPPROVED, None, False)
    assert auth.reason == f"no decision covers {KEY}"


def test_hash_approval_approves_these_bytes_anywhere() -> None:
    d = make_decision(NEW.upper(), match=MatchType.HASH)
    assert authorize("https://elsewhere.test/x.js", None, NEW, [d]).status is AuthStatus.APPROVED
    assert authorize(KEY, VENDOR_URL, OLD, [d]).status is AuthStatus.UNAPPROVED
    assert authorize(KEY, VENDOR_URL, None, [d]).status is AuthStatus.UNAPPROVED


@pytest.mark.parametrize(
    ("rule", "sha", "status"),
    [
        (ChangeRule.PIN, OLD, AuthStatus.APPROVED),
        (ChangeRule.PIN, NEW, AuthStatus.UNAPPROVED),
        (ChangeRule.PIN, None, AuthStatus.UNAPPROVED),
        (ChangeRule.REVIEW, OLD, AuthStatus.APPROVED),
        (ChangeRule.REVIEW, NEW, AuthStatus.CHANGED),
        (ChangeRule.ALLOW, NEW, AuthStatus.APPROVED),
        (ChangeRule.ALLOW, None, AuthStatus.APPROVED),
    ],
)
def test_url_approval_and_change_rules(rule: ChangeRule, sha: str | None, status: AuthStatus) -> None:
    d = make_decision(KEY, change_rule=rule, pinned_sha256=OLD)
    auth = authorize(KEY, VENDOR_URL + "?v=9", sha, [d])
    assert auth.status is status
    assert auth.decision == d


def test_url_approval_without_pinned_bytes_approves() -> None:
    d = make_decision(KEY, change_rule=ChangeRule.PIN, pinned_sha256=None)
    assert authorize(KEY, VENDOR_URL, NEW, [d]).status is AuthStatus.APPROVED


def test_changed_is_still_authorized() -> None:
    d = make_decision(KEY, change_rule=ChangeRule.REVIEW, pinned_sha256=OLD)
    auth = authorize(KEY, VENDOR_URL, NEW, [d])
    assert auth.authorized is True
    assert "review" in auth.reason


def test_pattern_matches_the_key_with_fnmatch() -> None:
    d = make_decision("https://cdn.vendor.test/form-assist/*", match=MatchType.PATTERN, change_rule=ChangeRule.ALLOW)
    assert authorize(KEY, VENDOR_URL, NEW, [d]).status is AuthStatus.APPROVED
    assert authorize("https://cdn.vendor.test/chat/x.js", None, NEW, [d]).status is AuthStatus.UNAPPROVED
    # Case-sensitive paths, and the query is not part of the key.
    assert authorize(KEY.upper(), None, NEW, [d]).status is AuthStatus.UNAPPROVED


def test_most_specific_wins_hash_over_url_over_pattern() -> None:
    allow_all = make_decision("https://cdn.vendor.test/*", id=1, match=MatchType.PATTERN, change_rule=ChangeRule.ALLOW)
    pinned_url = make_decision(KEY, id=2, change_rule=ChangeRule.PIN, pinned_sha256=OLD)
    by_hash = make_decision(NEW, id=3, match=MatchType.HASH)
    # The URL pin beats the broader pattern...
    assert authorize(KEY, VENDOR_URL, NEW, [allow_all, pinned_url]).decision == pinned_url
    assert authorize(KEY, VENDOR_URL, NEW, [allow_all, pinned_url]).status is AuthStatus.UNAPPROVED
    # ...and an approval of the exact bytes beats both.
    auth = authorize(KEY, VENDOR_URL, NEW, [allow_all, pinned_url, by_hash])
    assert (auth.status, auth.decision) == (AuthStatus.APPROVED, by_hash)


def test_longest_pattern_wins_then_newest() -> None:
    broad = make_decision("https://cdn.vendor.test/*", id=1, match=MatchType.PATTERN, change_rule=ChangeRule.ALLOW)
    narrow = make_decision(
        "https://cdn.vendor.test/form-assist/*",
        id=2,
        match=MatchType.PATTERN,
        change_rule=ChangeRule.REVIEW,
        pinned_sha256=OLD,
    )
    auth = authorize(KEY, VENDOR_URL, NEW, [broad, narrow])
    assert (auth.status, auth.decision) == (AuthStatus.CHANGED, narrow)

    older = make_decision(KEY, id=4, change_rule=ChangeRule.ALLOW, at=NOW - timedelta(days=90))
    newer = make_decision(KEY, id=5, change_rule=ChangeRule.PIN, pinned_sha256=OLD, at=NOW - timedelta(days=1))
    assert authorize(KEY, VENDOR_URL, NEW, [older, newer]).decision == newer


def test_any_url_approval_pinning_these_bytes_approves() -> None:
    first = make_decision(KEY, id=1, pinned_sha256=OLD, at=NOW - timedelta(days=60))
    second = make_decision(KEY, id=2, pinned_sha256=NEW, at=NOW - timedelta(days=2))
    assert authorize(KEY, VENDOR_URL, OLD, [first, second]).decision == first
    assert authorize(KEY, VENDOR_URL, NEW, [first, second]).decision == second


def test_revoked_decisions_never_authorize() -> None:
    revoked = make_decision(KEY, change_rule=ChangeRule.ALLOW, revoked=True)
    auth = authorize(KEY, VENDOR_URL, NEW, [revoked])
    assert (auth.status, auth.decision) == (AuthStatus.UNAPPROVED, revoked)
    assert auth.reason == "authorization revoked (decision 1): vendor contract ended"
    revoked_hash = make_decision(NEW, match=MatchType.HASH, revoked=True)
    assert authorize(KEY, VENDOR_URL, NEW, [revoked_hash]).status is AuthStatus.UNAPPROVED
    # A revoked specific decision does not hide an active broader one.
    pattern = make_decision("https://cdn.vendor.test/*", id=9, match=MatchType.PATTERN, change_rule=ChangeRule.ALLOW)
    assert authorize(KEY, VENDOR_URL, NEW, [revoked, pattern]).decision == pattern


def test_other_sites_decisions_are_ignored_when_site_is_given() -> None:
    other = make_decision(KEY, change_rule=ChangeRule.ALLOW, site="other-shop")
    assert authorize(KEY, VENDOR_URL, NEW, [other], site="shop").status is AuthStatus.UNAPPROVED
    assert authorize(KEY, VENDOR_URL, NEW, [other]).status is AuthStatus.APPROVED


def test_inline_scripts_are_approved_by_hash_or_key() -> None:
    key = f"inline:{NEW}"
    assert authorize(key, None, NEW, [make_decision(NEW, match=MatchType.HASH)]).status is AuthStatus.APPROVED
    assert authorize(key, None, NEW, [make_decision(key)]).status is AuthStatus.APPROVED
