"""Is this script authorized? (PCI DSS 6.4.3: every payment-page script is authorized, with a reason.)

A :class:`~skimguard.models.Decision` approves scripts in one of three ways:

- ``hash``: exactly these bytes (sha256), wherever they are served from;
- ``url``: this script URL key (``scheme://host/path``, the query is a cache-buster);
- ``pattern``: an fnmatch pattern over the script key, e.g. ``https://cdn.vendor.test/v2/*``.

A URL or pattern approval says what happens when the bytes at the URL change (``change_rule``):
``pin`` (only the approved bytes: anything else is unapproved), ``review`` (still authorized, but
the change is reported for review: status ``changed``) or ``allow`` (versioned vendor code that may
change freely).

The most specific decision wins: a hash approval of these bytes, else the URL approvals of this
key, else the matching patterns (the longest, then the newest). Revoked decisions never authorize.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from skimguard.models import ChangeRule, Decision, MatchType

__all__ = ["AuthStatus", "Authorization", "authorize"]


class AuthStatus(enum.StrEnum):
    APPROVED = "approved"  # these bytes are authorized
    CHANGED = "changed"  # an approved URL/pattern under ``review`` now serves other bytes
    UNAPPROVED = "unapproved"  # no active decision, or ``pin`` with other bytes


@dataclass(frozen=True)
class Authorization:
    status: AuthStatus
    decision: Decision | None  # the decision that decided (None: nothing matched)
    reason: str

    @property
    def authorized(self) -> bool:
        """Approved, or changed under review (still authorized, but to be looked at)."""
        return self.status is not AuthStatus.UNAPPROVED


def _newest_first(d: Decision) -> tuple[float, int]:
    return (-d.at.timestamp(), -d.id)


def _pattern_specificity(d: Decision) -> tuple[int, float, int]:
    literal = sum(1 for c in d.value if c not in "*?[]")
    return (-literal, *_newest_first(d))


def _matches(d: Decision, script_key: str, sha256: str | None) -> bool:
    if d.match is MatchType.HASH:
        return sha256 is not None and d.value.lower() == sha256.lower()
    if d.match is MatchType.URL:
        return d.value == script_key
    return fnmatchcase(script_key, d.value)


def _judge(candidates: Sequence[Decision], sha256: str | None, how: str) -> Authorization:
    """Apply URL/pattern approvals (already ordered, best first) to the bytes seen."""
    if sha256 is not None:
        for d in candidates:
            if d.pinned_sha256 and d.pinned_sha256.lower() == sha256.lower():
                return Authorization(AuthStatus.APPROVED, d, f"{how} approved with these bytes (decision {d.id})")
    d = candidates[0]
    if d.change_rule is ChangeRule.ALLOW:
        return Authorization(AuthStatus.APPROVED, d, f"{how} approved; its code may change (allow, decision {d.id})")
    if not d.pinned_sha256:
        return Authorization(AuthStatus.APPROVED, d, f"{how} approved without pinned bytes (decision {d.id})")
    seen = f"bytes {sha256[:12]}…" if sha256 else "unreadable bytes"
    if d.change_rule is ChangeRule.REVIEW:
        return Authorization(
            AuthStatus.CHANGED,
            d,
            f"{how} approved for {d.pinned_sha256[:12]}…, now {seen}: review the change (decision {d.id})",
        )
    return Authorization(
        AuthStatus.UNAPPROVED,
        d,
        f"{how} pinned to {d.pinned_sha256[:12]}…, now {seen} (decision {d.id})",
    )


def authorize(
    script_key: str,
    url: str | None,
    sha256: str | None,
    decisions: Sequence[Decision],
    *,
    site: str | None = None,
) -> Authorization:
    """How the inventory ``decisions`` judge a script (its key, URL and current bytes).

    ``url`` is the script's full URL; matching uses the key (kept in the signature so callers pass
    what they know). When ``site`` is given, decisions of other sites are ignored.
    """
    relevant = [d for d in decisions if site is None or d.site == site]
    active = sorted((d for d in relevant if d.active), key=_newest_first)

    if sha256 is not None:
        for d in active:
            if d.match is MatchType.HASH and _matches(d, script_key, sha256):
                return Authorization(AuthStatus.APPROVED, d, f"these bytes are approved (hash, decision {d.id})")

    by_url = [d for d in active if d.match is MatchType.URL and d.value == script_key]
    if by_url:
        return _judge(by_url, sha256, "URL")

    by_pattern = sorted(
        (d for d in active if d.match is MatchType.PATTERN and fnmatchcase(script_key, d.value)),
        key=_pattern_specificity,
    )
    if by_pattern:
        return _judge(by_pattern, sha256, f"pattern {by_pattern[0].value!r}")

    revoked = sorted((d for d in relevant if not d.active and _matches(d, script_key, sha256)), key=_newest_first)
    if revoked:
        d = revoked[0]
        why = f": {d.revoke_reason}" if d.revoke_reason else ""
        return Authorization(AuthStatus.UNAPPROVED, d, f"authorization revoked (decision {d.id}){why}")
    return Authorization(AuthStatus.UNAPPROVED, None, f"no decision covers {script_key[:200]}")
