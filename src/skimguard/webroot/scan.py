"""From what a web-root scan saw to findings: the pure core of ``skimguard webroot scan``.

The runner (:mod:`.runner`) walks, hashes and analyses; here, each path becomes a
:class:`FileCheck` (what is there now, what the baseline recorded, the engine's verdict, the
release's hash) and :func:`assess` turns the checks into findings under the rules of
:mod:`.rules`. No I/O, no clock: everything comes in as data, so every decision is testable.

The integrity scope (:class:`Scope`) decides which files the baseline watches: everything except
upload, cache and log zones and ``--exclude`` globs; ``--include`` globs take files back in; server
configuration files (.htaccess, .user.ini) are always in, wherever they are.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from skimguard.analyze.model import FileVerdict
from skimguard.detect.base import Rule, clip
from skimguard.models import Finding, Severity
from skimguard.webroot import kinds
from skimguard.webroot.platform import OUT_OF_INTEGRITY, SENSITIVE, Zone, compile_globs
from skimguard.webroot.rules import (
    SG701,
    SG702,
    SG703,
    SG704,
    SG705,
    SG706,
    SG707,
    SG708,
    SG709,
    SG710,
    SG711,
    SG712,
    SG713,
    SG714,
    SG715,
)
from skimguard.webroot.walk import SYMLINK

MAX_FINDINGS: Final = 2000  # per scan; the rest is counted in SG715
MAX_HITS: Final = 10  # engine hits listed in a finding's evidence
MAX_EXAMPLES: Final = 20
MAX_PAGE: Final = 1000
_WRITABLE_BY_ALL: Final = 0o002
_SET_ID: Final = 0o6000


class Change(enum.StrEnum):
    NEW = "new"
    MODIFIED = "modified"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    UNTRACKED = "untracked"  # no baseline, or outside the integrity scope


@functools.lru_cache(maxsize=64)
def _globs(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    return compile_globs(globs)


@dataclass(frozen=True)
class Scope:
    """Which files the integrity baseline watches (see the module docstring)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def watched(self, path: str, zone: Zone) -> bool:
        include, exclude = _globs(self.include), _globs(self.exclude)
        if include is not None and include.match(path):
            return True
        if exclude is not None and exclude.match(path):
            return False
        return zone not in OUT_OF_INTEGRITY or kinds.is_server_config(kinds.name_of(path))

    def matcher(self) -> Callable[[str, Zone, str], bool]:
        """:meth:`watched` as a function of (path, zone, lower-case base name), with the globs
        compiled once: it runs for every file of every scan."""
        include, exclude = _globs(self.include), _globs(self.exclude)
        outside, is_config = OUT_OF_INTEGRITY, kinds.is_server_config

        def watched(path: str, zone: Zone, name: str) -> bool:
            if include is not None and include.match(path):
                return True
            if exclude is not None and exclude.match(path):
                return False
            return zone not in outside or is_config(name)

        return watched

    def to_json(self) -> dict[str, list[str]]:
        return {"include": list(self.include), "exclude": list(self.exclude)}

    @classmethod
    def from_json(cls, data: Any) -> Scope:
        data = data if isinstance(data, dict) else {}
        return cls(
            tuple(str(g) for g in data.get("include", ()) if str(g).strip()),
            tuple(str(g) for g in data.get("exclude", ()) if str(g).strip()),
        )


@dataclass(frozen=True, slots=True)
class FileState:
    """A file as the walk saw it (``sha256`` None: it could not be read) or as the baseline recorded it."""

    kind: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    sha256: str | None
    target: str = ""  # symbolic links
    php_at: int = -1  # PHP found inside a media file at this offset


@dataclass(frozen=True, slots=True)
class FileCheck:
    """Everything known about one path in this scan."""

    path: str
    zone: Zone
    watched: bool  # in the integrity scope
    now: FileState | None  # None: gone
    base: FileState | None  # None: not in the baseline (or no baseline)
    verdict: str = ""  # the engine's verdict ('' not analysed, 'good' known good)
    analysis: FileVerdict | None = None
    core_sha256: str = ""  # the release's hash at this path
    core_release: str = ""  # name@version of that release
    intel: str = ""  # a threat-intel indicator listing this file's hash
    exec_expected: bool = False  # an executable a popular plugin keeps in uploads
    error: str = ""  # why it could not be read or analysed

    @property
    def known_good(self) -> bool:
        return self.verdict == "good"


@dataclass(frozen=True)
class Context:
    site: str
    root: str  # absolute path of the web root
    has_baseline: bool
    walk_problems: tuple[tuple[str, str], ...] = ()
    truncated: bool = False  # the walk stopped at --max-files

    @property
    def page(self) -> str:
        return page_of(self.root)


def page_of(root: str) -> str:
    """The ``page`` of a web-root finding: ``webroot:`` and the root's absolute path (a very long
    path is cut and completed by a hash, so the page stays within what the store keeps)."""
    page = f"webroot:{root}"
    if len(page) <= MAX_PAGE:
        return page
    digest = hashlib.sha256(root.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{page[: MAX_PAGE - 17]}~{digest}"


@dataclass(frozen=True)
class Counts:
    """What changed, for the summary line and the JSON output."""

    new: int = 0
    modified: int = 0
    deleted: int = 0
    permissions: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "new": self.new,
            "modified": self.modified,
            "deleted": self.deleted,
            "permissions": self.permissions,
        }


@dataclass(frozen=True)
class Assessment:
    findings: tuple[Finding, ...]
    counts: Counts
    dropped: int = 0
    incomplete: dict[str, Any] = field(default_factory=dict)


def change_of(check: FileCheck, has_baseline: bool) -> Change:
    if check.now is None:
        return Change.DELETED
    if not has_baseline or not check.watched:
        return Change.UNTRACKED
    if check.base is None:
        return Change.NEW
    if check.now.sha256 is not None and check.now.sha256 != check.base.sha256:
        return Change.MODIFIED
    return Change.UNCHANGED


def iso_ns(ns: int) -> str:
    """An ``st_mtime_ns`` as ISO 8601 UTC, to the microsecond (integer arithmetic: a float of
    nanoseconds since 1970 cannot hold every microsecond)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000).isoformat()


def _state_json(state: FileState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": state.kind,
        "sha256": state.sha256,
        "size": state.size,
        "mode": f"{state.mode:04o}",
        "owner": f"{state.uid}:{state.gid}",
        "mtime": iso_ns(state.mtime_ns),
    }
    if state.kind == SYMLINK:
        out["target"] = clip(state.target, 300)
    return out


def _evidence(check: FileCheck, ctx: Context, change: Change) -> dict[str, Any]:
    """What every file finding carries: path, root, zone, change, and the file's identity now
    (sha256, size, mode, mtime) and in the baseline."""
    ev: dict[str, Any] = {"path": check.path, "root": ctx.root, "zone": check.zone.value, "change": change.value}
    state = check.now or check.base
    if state is not None:
        ev.update({k: v for k, v in _state_json(state).items() if k != "kind"})
    if check.base is not None and check.now is not None:
        ev["baseline"] = _state_json(check.base)
    return ev


def _code_evidence(analysis: FileVerdict) -> dict[str, Any]:
    hits = list(analysis.hits)
    top = hits[0] if hits else None
    return {
        "verdict": analysis.verdict.value,
        "score": analysis.score,
        "language": analysis.language.value,
        "rule": top.rule_id if top else None,
        "line": top.line if top else None,
        "excerpt": clip(top.excerpt, 200) if top else "",
        "hits": [
            {
                "rule_id": h.rule_id,
                "severity": h.severity.label,
                "title": h.title,
                "line": h.line,
                "excerpt": clip(h.excerpt, 200),
                "decoded": h.normalized,
            }
            for h in hits[:MAX_HITS]
        ],
        "_problems": [clip(p, 200) for p in analysis.problems[:5]],  # vary with load: not substance
    }


def _finding(rule: Rule, check: FileCheck, ctx: Context, severity: Severity, evidence: dict[str, Any]) -> Finding:
    return rule.finding(
        ctx.site,
        page=ctx.page,
        subject=check.path,
        severity=severity,
        title=f"{rule.title}: {clip(check.path, 160)}",
        evidence=evidence,
    )


def _outside(root: str, path: str, target: str) -> bool:
    """Whether a link at ``path`` (relative to ``root``) with ``target`` leads outside ``root``
    (lexically: other links on the way are not followed)."""
    joined = posixpath.normpath(posixpath.join(root, posixpath.dirname(path), target))
    base = posixpath.normpath(root)
    return not (joined == base or joined.startswith(base.rstrip("/") + "/"))


def quiet(
    path: str,
    zone: Zone,
    *,
    watched: bool,
    has_baseline: bool,
    now: tuple[str, str | None, int, int, int, int],
    base: tuple[str | None, str | None, int | None, int | None, int | None],
    verdict: str,
    core_sha256: str,
    intel: str,
    partial: bool,
    name: str = "",
) -> bool:
    """Whether :func:`check_findings` (and :func:`assess`'s SG715 counts) would say nothing about
    a file, computed from plain values so that a re-scan builds no objects for the 99% of files
    that are as they were. ``now`` is (kind, sha256, mode, uid, gid, php_at); ``base`` is (kind,
    sha256, mode, uid, gid) of the baseline. It must stay in step with :func:`check_findings`:
    a property test checks that every quiet file has no finding. ``name``: the path's
    :func:`.kinds.name_of` when the caller has it already."""
    kind, sha256, mode, uid, gid, php_at = now
    if sha256 is None or kind != "file" or intel or partial:
        return False
    if verdict in ("malicious", "suspicious", "error") or (core_sha256 and core_sha256 != sha256):
        return False
    if has_baseline and watched and base != (kind, sha256, mode, uid, gid):
        return False
    name = name or kinds.name_of(path)
    if zone in _NO_EXEC_ZONES and kinds.is_executable(name) and not kinds.is_server_config(name):
        return False
    if php_at >= 0 and kinds.extension(name) not in kinds.EXECUTABLE_EXT:
        return False
    return not kinds.disguised_executable(name)


_NO_EXEC_ZONES: Final = frozenset({Zone.UPLOAD, Zone.MEDIA})


def check_findings(check: FileCheck, ctx: Context) -> list[Finding]:
    """The findings of one path (see :mod:`.rules` for what each rule means and its severities)."""
    name = kinds.name_of(check.path)
    ext = kinds.extension(name)
    code = kinds.is_code(name)
    config = kinds.is_server_config(name)
    executable = kinds.is_executable(name) and not config
    sensitive = check.zone in SENSITIVE
    change = change_of(check, ctx.has_baseline)
    now, base = check.now, check.base
    out: list[Finding] = []
    cache: list[dict[str, Any]] = []

    def evidence() -> dict[str, Any]:  # built only for paths that have a finding
        if not cache:
            cache.append(_evidence(check, ctx, change))
        return cache[0]

    if now is None:  # deleted
        if base is None or not ctx.has_baseline:
            return out
        if config:
            out.append(_finding(SG711, check, ctx, Severity.MEDIUM, evidence()))
        else:
            out.append(_finding(SG705, check, ctx, Severity.LOW if code else Severity.INFO, evidence()))
        return out
    if now.sha256 is None:  # unreadable: counted by SG715
        return out

    # --- integrity against the baseline
    if change is Change.NEW:
        if config:
            out.append(_finding(SG711, check, ctx, Severity.MEDIUM, evidence()))
        elif code:
            severity = Severity.INFO if check.known_good else Severity.MEDIUM if sensitive else Severity.LOW
            out.append(_finding(SG704, check, ctx, severity, evidence()))
        else:
            out.append(_finding(SG710, check, ctx, Severity.INFO, evidence()))
    elif change is Change.MODIFIED and base is not None:
        if config:
            out.append(_finding(SG711, check, ctx, Severity.MEDIUM, evidence()))
        else:
            plain = check.known_good or not code
            severity = Severity.INFO if plain else Severity.MEDIUM if sensitive else Severity.LOW
            out.append(_finding(SG703, check, ctx, severity, evidence()))
        if now.kind == base.kind == "file" and now.size == base.size and now.mtime_ns == base.mtime_ns:
            out.append(_finding(SG714, check, ctx, Severity.HIGH, evidence()))
    tracked = ctx.has_baseline and check.watched and base is not None and now.kind == base.kind
    if tracked and base is not None and (now.mode, now.uid, now.gid) != (base.mode, base.uid, base.gid):
        risky = now.mode & ~base.mode & (_WRITABLE_BY_ALL | _SET_ID)  # bits it gained
        out.append(_finding(SG706, check, ctx, Severity.MEDIUM if risky else Severity.LOW, evidence()))

    # --- where it is and what it is called
    if executable and check.zone in (Zone.UPLOAD, Zone.MEDIA):
        if check.exec_expected:
            severity = Severity.LOW
        else:
            severity = Severity.HIGH if check.zone is Zone.UPLOAD else Severity.MEDIUM
        out.append(_finding(SG707, check, ctx, severity, evidence()))
    if now.php_at >= 0 and ext not in kinds.EXECUTABLE_EXT:
        out.append(_finding(SG708, check, ctx, Severity.HIGH, {**evidence(), "offset": now.php_at}))
    disguise = kinds.disguised_executable(name)
    if disguise:
        out.append(_finding(SG712, check, ctx, Severity.MEDIUM, {**evidence(), "why": disguise}))
    if now.kind == SYMLINK and _outside(ctx.root, check.path, now.target):
        severity = Severity.INFO if change is Change.UNCHANGED else Severity.MEDIUM
        out.append(_finding(SG713, check, ctx, severity, evidence()))

    # --- content: the platform release, threat intel, the engine
    if check.core_sha256 and now.sha256 != check.core_sha256 and now.kind == "file":
        severity = Severity.INFO if check.known_good else Severity.HIGH if code else Severity.LOW
        core_ev = {**evidence(), "release": check.core_release, "release_sha256": check.core_sha256}
        out.append(_finding(SG709, check, ctx, severity, core_ev))
    analysis = check.analysis
    if check.intel or check.verdict == "malicious":
        critical = sensitive or (analysis is not None and any(h.severity is Severity.CRITICAL for h in analysis.hits))
        code_ev = {**evidence(), **(_code_evidence(analysis) if analysis is not None else {})}
        if check.intel:
            code_ev["intel"] = clip(check.intel, 300)
        out.append(_finding(SG701, check, ctx, Severity.CRITICAL if critical else Severity.HIGH, code_ev))
    elif check.verdict == "suspicious" and analysis is not None:
        if change is Change.UNCHANGED:
            severity = Severity.LOW
        elif change in (Change.NEW, Change.MODIFIED) and (sensitive or check.zone is Zone.UPLOAD):
            severity = Severity.HIGH
        else:
            severity = Severity.MEDIUM
        out.append(_finding(SG702, check, ctx, severity, {**evidence(), **_code_evidence(analysis)}))
    return out


def assess(checks: Iterable[FileCheck], ctx: Context) -> Assessment:
    """Findings of a whole scan, most severe first, at most :data:`MAX_FINDINGS` (plus SG715
    when something could not be checked or was dropped)."""
    findings: list[Finding] = []
    new = modified = deleted = permissions = 0
    unreadable: list[str] = []
    partial: list[str] = []
    failed: list[str] = []
    for check in checks:
        change = change_of(check, ctx.has_baseline)
        if check.now is not None and check.now.sha256 is None:
            unreadable.append(check.path)
            continue
        found = check_findings(check, ctx)
        findings.extend(found)
        new += change is Change.NEW
        modified += change is Change.MODIFIED
        deleted += change is Change.DELETED and check.base is not None and ctx.has_baseline
        permissions += any(f.rule_id == SG706.id for f in found)
        if check.error:
            failed.append(check.path)
        elif check.analysis is not None and any(_partial(p) for p in check.analysis.problems):
            partial.append(check.path)
    findings.sort(key=lambda f: (-f.severity, f.subject, f.rule_id))
    unreadable.sort()
    partial.sort()
    failed.sort()
    dropped = max(0, len(findings) - MAX_FINDINGS)
    kept = findings[:MAX_FINDINGS]
    incomplete: dict[str, Any] = {}
    if unreadable:
        incomplete["unreadable"] = {"count": len(unreadable), "examples": unreadable[:MAX_EXAMPLES]}
    if ctx.walk_problems:
        incomplete["not_listed"] = {
            "count": len(ctx.walk_problems),
            "examples": [f"{p}: {r}" for p, r in ctx.walk_problems[:MAX_EXAMPLES]],
        }
    if ctx.truncated:
        incomplete["truncated"] = True
    if partial:
        incomplete["analysed_in_part"] = {"count": len(partial), "examples": partial[:MAX_EXAMPLES]}
    if failed:
        incomplete["analysis_failed"] = {"count": len(failed), "examples": failed[:MAX_EXAMPLES]}
    if dropped:
        incomplete["findings_dropped"] = dropped
    if incomplete:
        kept.append(
            SG715.finding(
                ctx.site,
                page=ctx.page,
                subject="scan",
                evidence={"root": ctx.root, **incomplete},
            )
        )
    counts = Counts(new=new, modified=modified, deleted=deleted, permissions=permissions)
    return Assessment(tuple(kept), counts, dropped, incomplete)


def _partial(problem: str) -> bool:
    """Analysis problems that leave part of a file unchecked (as :func:`.hashing.partial_analysis`)."""
    return problem.startswith(("too large", "rules:")) or "budget" in problem


def worst(findings: Sequence[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)
