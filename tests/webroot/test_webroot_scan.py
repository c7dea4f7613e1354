"""The pure core of ``webroot scan``: what each path becomes, severities by zone and change,
the integrity scope, SG715 and the finding cap. No file system, no store."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skimguard.analyze.model import CodeHit, FileVerdict, Language, Layer, Verdict
from skimguard.models import Category, Confidence, Severity
from skimguard.webroot import scan
from skimguard.webroot.platform import Zone
from skimguard.webroot.rules import WEBROOT_RULES
from skimguard.webroot.scan import Context, FileCheck, FileState, Scope, assess, check_findings, page_of

ROOT = "/var/www/shop"
CTX = Context(site="shop", root=ROOT, has_baseline=True)
NOW = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z


def state(sha: str = "a" * 64, **kw: object) -> FileState:
    base: dict[str, object] = {"kind": "file", "size": 10, "mode": 0o644, "uid": 33, "gid": 33, "mtime_ns": NOW}
    base.update(kw)
    return FileState(sha256=sha, **base)  # type: ignore[arg-type]


def check(path: str, zone: Zone = Zone.OTHER, now: FileState | None = None, base: FileState | None = None,
          **kw: object) -> FileCheck:  # fmt: skip
    return FileCheck(path=path, zone=zone, watched=zone not in (Zone.UPLOAD, Zone.CACHE, Zone.LOG), now=now,
                     base=base, **kw)  # type: ignore[arg-type]  # fmt: skip


def rules(c: FileCheck, ctx: Context = CTX) -> set[tuple[str, str]]:
    return {(f.rule_id, f.severity.label) for f in check_findings(c, ctx)}


def verdict(kind: Verdict, *hits: tuple[str, Severity]) -> FileVerdict:
    return FileVerdict(
        path="x",
        sha256="b" * 64,
        language=Language.PHP,
        size=10,
        verdict=kind,
        score=10,
        hits=tuple(
            CodeHit(rule, Layer.RULE, sev, Confidence.MEDIUM, f"title {rule}", "why", f"excerpt {rule}", line=3 + i)
            for i, (rule, sev) in enumerate(hits)
        ),
    )


def test_rules_are_documented_server_rules() -> None:
    assert [r.id for r in WEBROOT_RULES] == [f"SG7{n:02d}" for n in range(1, 16)]
    for rule in WEBROOT_RULES:
        assert rule.category is Category.SERVER
        assert "Why:" in rule.doc and "Known false positives:" in rule.doc and "How to fix:" in rule.doc
        assert len(rule.title) <= 80


@pytest.mark.parametrize(
    ("path", "zone", "known_good", "expected"),
    [
        ("src/Model/Order.php", Zone.OTHER, False, {("SG703", "low")}),
        ("app/template/default/Shopping/index.twig", Zone.CHECKOUT, False, {("SG703", "medium")}),
        ("vendor/magento/module-payment/Model/Cc.php", Zone.PAYMENT, False, {("SG703", "medium")}),
        ("html/template/default/assets/js/vendor/lib.js", Zone.CHECKOUT, True, {("SG703", "info")}),
        ("html/template/default/assets/img/logo.png", Zone.MEDIA, False, {("SG703", "info")}),
        (".htaccess", Zone.OTHER, False, {("SG711", "medium")}),
        ("pub/media/.htaccess", Zone.UPLOAD, False, {("SG711", "medium")}),
    ],
)
def test_modified(path: str, zone: Zone, known_good: bool, expected: set[tuple[str, str]]) -> None:
    c = check(path, zone, now=state("b" * 64, mtime_ns=NOW + 5), base=state(), verdict="good" if known_good else "")
    c = replace(c, watched=True)
    assert rules(c) == expected
    ev = check_findings(c, CTX)[0].evidence
    assert ev["change"] == "modified" and ev["mtime"] == "2024-05-01T12:00:00+00:00"
    assert ev["baseline"]["sha256"] == "a" * 64 and ev["sha256"] == "b" * 64


def test_evidence_names_the_file_and_its_mtime() -> None:
    c = check("src/Model/Order.php", now=state("b" * 64, mtime_ns=NOW + 1_500_000_000), base=state())
    (finding,) = check_findings(c, CTX)
    assert finding.page == "webroot:/var/www/shop" and finding.subject == "src/Model/Order.php"
    assert finding.title == "File modified since the baseline: src/Model/Order.php"
    assert finding.evidence == {
        "path": "src/Model/Order.php",
        "root": ROOT,
        "zone": "other",
        "change": "modified",
        "sha256": "b" * 64,
        "size": 10,
        "mode": "0644",
        "owner": "33:33",
        "mtime": "2024-05-01T12:00:01.500000+00:00",
        "baseline": {
            "kind": "file",
            "sha256": "a" * 64,
            "size": 10,
            "mode": "0644",
            "owner": "33:33",
            "mtime": "2024-05-01T12:00:00+00:00",
        },
    }


@pytest.mark.parametrize(
    ("path", "zone", "extra", "expected"),
    [
        ("src/helper.php", Zone.OTHER, {}, {("SG704", "low")}),
        ("app/template/default/Shopping/confirm.twig", Zone.CHECKOUT, {}, {("SG704", "medium")}),
        ("js/lib/jquery.min.js", Zone.OTHER, {"verdict": "good"}, {("SG704", "info")}),
        ("img/new.png", Zone.MEDIA, {}, {("SG710", "info")}),
        ("wp-content/.htaccess", Zone.OTHER, {}, {("SG711", "medium")}),
        ("src/.cache.php", Zone.OTHER, {}, {("SG704", "low"), ("SG712", "medium")}),
        ("html/upload/a.php", Zone.UPLOAD, {}, {("SG707", "high")}),
        ("html/template/default/img/a.php", Zone.MEDIA, {}, {("SG704", "low"), ("SG707", "medium")}),
        ("wp-content/uploads/wflogs/config.php", Zone.UPLOAD, {"exec_expected": True}, {("SG707", "low")}),
        ("wp-content/uploads/x.php.jpg", Zone.UPLOAD, {}, {("SG712", "medium")}),
    ],
)
def test_new_files(path: str, zone: Zone, extra: dict[str, object], expected: set[tuple[str, str]]) -> None:
    assert rules(check(path, zone, now=state(), **extra)) == expected


def test_deleted_files() -> None:
    assert rules(check("src/a.php", base=state())) == {("SG705", "low")}
    assert rules(check("img/a.png", Zone.MEDIA, base=state())) == {("SG705", "info")}
    assert rules(check(".htaccess", base=state())) == {("SG711", "medium")}
    assert rules(check("src/a.php", base=state()), replace(CTX, has_baseline=False)) == set()


def test_permissions_owner_and_forged_time() -> None:
    base = state()
    assert rules(check("a.php", now=state(mode=0o664), base=base)) == {("SG706", "low")}
    assert rules(check("a.php", now=state(mode=0o666), base=base)) == {("SG706", "medium")}
    assert rules(check("a.php", now=state(mode=0o4755), base=state(mode=0o755))) == {("SG706", "medium")}
    assert rules(check("a.php", now=state(uid=0), base=base)) == {("SG706", "low")}
    assert rules(check("a.php", now=state("c" * 64), base=base)) == {("SG703", "low"), ("SG714", "high")}
    assert rules(check("a.php", now=state("c" * 64, size=11), base=base)) == {("SG703", "low")}
    assert rules(check("a.php", now=state(), base=base)) == set()  # unchanged


def test_links_images_core_intel_and_engine_verdicts() -> None:
    link = state(kind="symlink", target="../../../etc/passwd")
    assert rules(check("html/a.txt", now=link)) == {("SG710", "info"), ("SG713", "medium")}
    assert rules(check("html/a.txt", now=link, base=state(kind="symlink", sha="a" * 64))) == {("SG713", "info")}
    inside = state(kind="symlink", target="../img/logo.png")
    assert rules(check("html/css/logo.png", now=inside, base=state(kind="symlink"))) == set()
    assert (
        rules(check("a/b.txt", now=state(kind="symlink", target="/var/www/shop/c.txt"), base=state(kind="symlink")))
        == set()
    )
    polyglot = state(php_at=24)
    assert rules(check("up/p.jpg", Zone.UPLOAD, now=polyglot)) == {("SG708", "high")}
    assert rules(check("a.php", now=state(php_at=0))) == {("SG704", "low")}  # PHP in a PHP file is no news
    core = {"core_sha256": "f" * 64, "core_release": "ec-cube-4@4.2.3"}
    unchanged = {"base": state()}
    assert rules(check("src/Eccube/Kernel.php", now=state(), **core, **unchanged)) == {("SG709", "high")}
    assert rules(check("src/Eccube/README.md", now=state(), **core, **unchanged)) == {("SG709", "low")}
    assert rules(check("src/Eccube/Kernel.php", now=state(), verdict="good", **core, **unchanged)) == {
        ("SG709", "info")
    }
    assert rules(check("src/Eccube/Kernel.php", now=state("f" * 64), **core, base=state("f" * 64))) == set()
    listed = check("a.js", now=state(), base=state(), intel="maltrail: " + "a" * 64)
    assert rules(listed) == {("SG701", "high")}
    bad = verdict(Verdict.MALICIOUS, ("SG458", Severity.CRITICAL), ("SG430", Severity.HIGH))
    assert rules(check("a.php", now=state(), base=state(), verdict="malicious", analysis=bad)) == {
        ("SG701", "critical")
    }
    high = verdict(Verdict.MALICIOUS, ("SG430", Severity.HIGH), ("SG433", Severity.LOW))
    assert rules(check("a.php", now=state(), base=state(), verdict="malicious", analysis=high)) == {("SG701", "high")}
    assert rules(check("pay.php", Zone.PAYMENT, now=state(), base=state(), verdict="malicious", analysis=high)) == {
        ("SG701", "critical")
    }
    meh = verdict(Verdict.SUSPICIOUS, ("SG438", Severity.MEDIUM))
    assert rules(check("a.php", now=state(), base=state(), verdict="suspicious", analysis=meh)) == {("SG702", "low")}
    assert rules(check("a.php", now=state(), verdict="suspicious", analysis=meh)) == {
        ("SG704", "low"),
        ("SG702", "medium"),
    }
    assert rules(check("s/c.twig", Zone.CHECKOUT, now=state(), verdict="suspicious", analysis=meh)) == {
        ("SG704", "medium"),
        ("SG702", "high"),
    }
    assert rules(check("a.php", now=state(), verdict="suspicious", analysis=meh), replace(CTX, has_baseline=False)) == {
        ("SG702", "medium")
    }
    (finding,) = check_findings(check("a.php", now=state(), base=state(), verdict="malicious", analysis=high), CTX)
    ev = finding.evidence
    assert (ev["rule"], ev["line"], ev["excerpt"], ev["verdict"]) == ("SG430", 3, "excerpt SG430", "malicious")
    assert [h["rule_id"] for h in ev["hits"]] == ["SG430", "SG433"]


def test_unreadable_truncated_and_capped_scans_say_so() -> None:
    unreadable = check("a.php", now=state(sha=None))  # type: ignore[arg-type]
    ctx = replace(CTX, walk_problems=(("secret", "Permission denied"),), truncated=True)
    result = assess([unreadable], ctx)
    (sg715,) = result.findings
    assert sg715.rule_id == "SG715" and sg715.subject == "scan" and sg715.severity is Severity.LOW
    assert sg715.evidence == {
        "root": ROOT,
        "unreadable": {"count": 1, "examples": ["a.php"]},
        "not_listed": {"count": 1, "examples": ["secret: Permission denied"]},
        "truncated": True,
    }
    many = [check(f"src/f{i:05d}.php", now=state()) for i in range(scan.MAX_FINDINGS + 5)]
    capped = assess(many, CTX)
    assert len(capped.findings) == scan.MAX_FINDINGS + 1 and capped.dropped == 5
    assert capped.findings[-1].evidence["findings_dropped"] == 5
    assert capped.counts.new == scan.MAX_FINDINGS + 5
    assert assess([], CTX).findings == ()


def test_scope() -> None:
    default = Scope()
    assert default.watched("src/a.php", Zone.OTHER) and default.watched("app/t/Shopping/a.twig", Zone.CHECKOUT)
    assert not default.watched("wp-content/uploads/a.jpg", Zone.UPLOAD)
    assert not default.watched("var/cache/a.php", Zone.CACHE) and not default.watched("var/log/a.log", Zone.LOG)
    assert default.watched("pub/media/.htaccess", Zone.UPLOAD)  # configuration files always
    custom = Scope(include=("html/upload/temp_template/**",), exclude=("node_modules/**", "*.bak"))
    assert custom.watched("html/upload/temp_template/a.tpl", Zone.UPLOAD)
    assert not custom.watched("node_modules/x/index.js", Zone.OTHER) and not custom.watched("a/b.php.bak", Zone.OTHER)
    assert Scope.from_json(custom.to_json()) == custom
    assert Scope.from_json(None) == Scope() and Scope.from_json({"include": ["", " "]}) == Scope()


def test_iso_ns_keeps_microseconds() -> None:
    assert scan.iso_ns(NOW + 123_456_789) == "2024-05-01T12:00:00.123456+00:00"
    assert scan.iso_ns(1_714_564_800_999_999_999) == "2024-05-01T12:00:00.999999+00:00"


def test_page_is_bounded() -> None:
    assert page_of("/var/www/shop") == "webroot:/var/www/shop"
    long_root = "/" + "d" * 2000
    page = page_of(long_root)
    assert len(page) == scan.MAX_PAGE and page != page_of(long_root + "x")


_PATHS = st.sampled_from(
    ["src/a.php", "img/a.png", "up/x.php.jpg", ".htaccess", "src/.h.php", "a.js", "up/a.jpg", "doc.txt", "a.twig"]
)
_ZONES = st.sampled_from(list(Zone))
_SHAS = st.sampled_from(["a" * 64, "b" * 64])
_MODES = st.sampled_from([0o644, 0o666, 0o4755])


@settings(max_examples=400, deadline=None)
@given(
    path=_PATHS,
    zone=_ZONES,
    watched=st.booleans(),
    has_baseline=st.booleans(),
    kind=st.sampled_from(["file", "symlink"]),
    sha=st.one_of(st.none(), _SHAS),
    mode=_MODES,
    uid=st.sampled_from([0, 33]),
    php_at=st.sampled_from([-1, 0, 24]),
    base_sha=st.one_of(st.none(), _SHAS),
    base_mode=_MODES,
    base_uid=st.sampled_from([0, 33]),
    base_kind=st.sampled_from(["file", "symlink"]),
    verdict=st.sampled_from(["", "good", "clean", "suspicious", "malicious", "error"]),
    core=st.one_of(st.just(""), _SHAS),
    intel=st.sampled_from(["", "feed: x"]),
)
def test_quiet_files_have_no_findings(
    path: str, zone: Zone, watched: bool, has_baseline: bool, kind: str, sha: str | None, mode: int, uid: int,
    php_at: int, base_sha: str | None, base_mode: int, base_uid: int, base_kind: str, verdict: str, core: str,
    intel: str,
) -> None:  # fmt: skip
    """The fast path of re-scans (scan.quiet) never hides a finding of check_findings."""
    now = state(sha, kind=kind, mode=mode, uid=uid, php_at=php_at, target="../../../../etc/passwd")
    base = state(base_sha, kind=base_kind, mode=base_mode, uid=base_uid) if base_sha is not None else None
    analysis = verdict_obj if verdict in ("suspicious", "malicious") else None
    c = FileCheck(path, zone, watched, now, base, verdict=verdict, analysis=analysis, core_sha256=core, intel=intel)
    ctx = replace(CTX, has_baseline=has_baseline)
    said = scan.quiet(
        path,
        zone,
        watched=watched,
        has_baseline=has_baseline,
        now=(kind, sha, mode, uid, 33, php_at),
        base=(base_kind, base_sha, base_mode, base_uid, 33) if base is not None else (None, None, None, None, None),
        verdict=verdict,
        core_sha256=core,
        intel=intel,
        partial=False,
    )
    if said:
        assert check_findings(c, ctx) == [] and assess([c], ctx).findings == ()
        assert assess([c], ctx).counts == scan.Counts()


verdict_obj = verdict(Verdict.SUSPICIOUS, ("SG438", Severity.MEDIUM))
