"""``skimguard incident ...`` end to end on a real SQLite store: the scanner's history gives the
window, a CSV export gives the people and cards, the clocks run, the notices and drafts come out.

The story is founding incident 1 in small: a vendor script altered between two scans; card
orders inside and outside the window, a customer paying twice, a cash-on-delivery and a store
pickup order inside it, one e-mail that bounced and one customer with no e-mail at all.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from skimguard.cli import app
from skimguard.config import load_config
from skimguard.models import Category, Confidence, Finding, ScanResult, ScanStatus, Severity
from skimguard.store import Store
from skimguard.testing.factories import VENDOR_URL, make_capture
from skimguard.webroot.correlate import Link
from skimguard.webroot.links import record_links

JST = "+09:00"
# Scans (UTC): clean 07-18 15:00 (= 07-19 00:00 JST), skimmer 07-19 12:00 and 07-25 12:00, clean 07-28 15:00.
CLEAN_BEFORE = datetime(2022, 7, 18, 15, 0, tzinfo=UTC)
SEEN_1 = datetime(2022, 7, 19, 12, 0, tzinfo=UTC)
SEEN_2 = datetime(2022, 7, 25, 12, 0, tzinfo=UTC)
CLEAN_AFTER = datetime(2022, 7, 28, 15, 0, tzinfo=UTC)

ORDERS = [
    # id, JST time, payment, customer, e-mail, name, postal, address, card, expiry
    (
        "A1",
        "2022-07-18 23:59:59",
        "クレジットカード",
        "c1",
        "a@example.jp",
        "青木",
        "100-0001",
        "東京都",
        "411111******1111",
        "12/25",
    ),
    (
        "A2",
        "2022-07-19 00:00:00",
        "クレジットカード",
        "c2",
        "b@example.jp",
        "井上",
        "100-0002",
        "東京都",
        "411111******2222",
        "01/26",
    ),
    (
        "A3",
        "2022-07-20 10:00:00",
        "クレジットカード",
        "c2",
        "b@example.jp",
        "井上",
        "100-0002",
        "東京都",
        "411111******2222",
        "01/26",
    ),
    (
        "A4",
        "2022-07-21 10:00:00",
        "クレジットカード",
        "c3",
        "bounced@example.jp",
        "上田",
        "100-0003",
        "大阪府",
        "555555******4444",
        "03/27",
    ),
    ("A5", "2022-07-22 10:00:00", "クレジットカード", "c4", "", "江藤", "", "", "411111******5555", "04/27"),
    ("A6", "2022-07-23 10:00:00", "代金引換", "c5", "cod@example.jp", "小野", "100-0005", "東京都", "", ""),
    ("A7", "2022-07-24 10:00:00", "店頭受取", "c6", "pick@example.jp", "加藤", "100-0006", "東京都", "", ""),
    (
        "A8",
        "2022-07-29 00:00:00",
        "クレジットカード",
        "c7",
        "late@example.jp",
        "木村",
        "100-0007",
        "東京都",
        "411111******7777",
        "05/27",
    ),
    (
        "A9",
        "2022-07-29 00:00:01",
        "クレジットカード",
        "c8",
        "x@example.jp",
        '=HYPERLINK("http://evil")',
        "1",
        "x",
        "411111******8888",
        "06/27",
    ),
]


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"SKIMGUARD_CONFIG": None})


def ok(result: Result, code: int = 0) -> Result:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def _finding() -> Finding:
    return Finding(
        rule_id="SG102",
        category=Category.INVENTORY,
        severity=Severity.HIGH,
        confidence=Confidence.HIGH,
        title="External script changed",
        site="shop",
        page="payment",
        script_url=VENDOR_URL,
        subject=VENDOR_URL,
        evidence={"subject": VENDOR_URL},
    )


def _scan(scan_id: str, at: datetime, skimmer: bool) -> ScanResult:
    cap = make_capture(started_at=at)
    return ScanResult(
        site="shop",
        scan_id=scan_id,
        started_at=at,
        finished_at=at + timedelta(minutes=1),
        status=ScanStatus.OK,
        captures=(cap,),
        findings=(_finding(),) if skimmer else (),
    )


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, str]:
    """A config, a store with the scan history, an order export with its mapping, a bounce list."""
    db = tmp_path / "sg.db"
    config = tmp_path / "skimguard.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "database": f"sqlite:///{db}",
                "sites": [
                    {
                        "name": "shop",
                        "base_url": "http://shop.test/",
                        "journeys": [{"name": "checkout", "steps": [{"goto": "/checkout/payment"}]}],
                    }
                ],
                "incident": {"operator": "株式会社テスト", "shop_name": "テスト書店"},
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    with Store.open(f"sqlite:///{db}") as store:
        for scan_id, at, skimmer in (
            ("s1", CLEAN_BEFORE, False),
            ("s2", SEEN_1, True),
            ("s3", SEEN_2, True),
            ("s4", CLEAN_AFTER, False),
        ):
            store.begin_scan("shop", scan_id, at)
            store.finish_scan(_scan(scan_id, at, skimmer))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["order", "time", "payment", "customer", "email", "name", "postal", "address", "card", "expiry"])
    w.writerows(ORDERS)
    (tmp_path / "orders.csv").write_text(buf.getvalue(), encoding="utf-8")
    (tmp_path / "orders.yaml").write_text(
        yaml.safe_dump(
            {
                "kind": "orders",
                "timezone": "Asia/Tokyo",
                "columns": {
                    "order_id": "order",
                    "time": "time",
                    "payment": "payment",
                    "customer_id": "customer",
                    "email": "email",
                    "name": "name",
                    "postal_code": "postal",
                    "address": "address",
                    "card_masked": "card",
                    "card_expiry": "expiry",
                },
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    (tmp_path / "bounces.txt").write_text("bounced@example.jp\n", encoding="utf-8")
    return config, _finding().fingerprint


def test_incident_from_scans_to_drafts(shop: tuple[Path, str], tmp_path: Path) -> None:
    config, fp = shop
    c = str(config)
    opened = ok(
        run(
            "incident",
            "open",
            "-c",
            c,
            "--site",
            "shop",
            "--finding",
            f"{fp[:12]}=vendor-script",
            "--known-at",
            f"2022-08-01T10:00:00{JST}",
            "--title",
            "form assist",
        )
    )
    assert "variant vendor-script (card) on /checkout/payment" in opened.stdout
    listed = json.loads(ok(run("incident", "list", "-c", c, "--format", "json")).stdout)
    (inc,) = listed["incidents"]
    iid = inc["id"]
    assert inc["variants"] == ["vendor-script"]

    # The window from the scans: the last clean scan to the first clean one after.
    win = json.loads(ok(run("incident", "window", iid, "-c", c, "--format", "json")).stdout)
    (w,) = win["windows"]
    assert (w["start"], w["end"]) == (CLEAN_BEFORE.isoformat(), CLEAN_AFTER.isoformat())
    assert (w["start_basis"], w["end_basis"]) == ("last-clean-observation", "first-clean-observation")
    assert win["suggestions"] == []

    # A web-root scan linked the finding to the altered file: its mtime is suggested, not applied.
    mtime = datetime(2022, 7, 19, 0, 0, 0, tzinfo=UTC)
    link = Link(fp, "SG102", "js/assist.js", "script-url", VENDOR_URL, "<script>", mtime)
    with Store.open(str(load_config(config).database_url)) as store:
        assert record_links(store, "shop", [link], actor="test") == 1
    win = json.loads(ok(run("incident", "window", iid, "-c", c, "--format", "json")).stdout)
    assert win["suggestions"] == [
        {"variant": "vendor-script", "at": mtime.isoformat(), "location": "js/assist.js", "reason": "script-url"}
    ]
    assert win["windows"][0]["start"] == CLEAN_BEFORE.isoformat()
    assert "suggested start for vendor-script: js/assist.js" in ok(run("incident", "window", iid, "-c", c)).stdout

    # Scope: A2 (edge second, in), A3 (same card, same person), A4, A5 in; A1 before; A8/A9 after
    # the end (07-29 00:00:00 JST = 07-28 15:00:00 UTC is the clean scan itself: A8 at that second is in).
    scoped = json.loads(
        ok(
            run(
                "incident",
                "scope",
                iid,
                "-c",
                c,
                "--orders",
                str(tmp_path / "orders.csv"),
                "--orders-mapping",
                str(tmp_path / "orders.yaml"),
                "--bounces",
                str(tmp_path / "bounces.txt"),
                "--format",
                "json",
            )
        ).stdout
    )
    counts = scoped["counts"]
    assert counts["card_orders"] == 5  # A2, A3, A4, A5, A8
    assert counts["people"] == 4  # c2, c3, c4, c7
    assert counts["cards"] == 4
    assert counts["non_card_orders_in_window"] == {"cod": 1, "pickup": 1}
    assert scoped["store_pickup_affected"] is False and scoped["cash_on_delivery_affected"] is False

    # A refinement from the web root: the file changed at 07-19 09:00 JST; the start moves there.
    refined = json.loads(
        ok(
            run(
                "incident",
                "window",
                iid,
                "-c",
                c,
                "--start",
                "2022-07-19 09:00:00",
                "--kind",
                "file-mtime",
                "--source",
                "webroot scan: assist.js mtime",
                "--format",
                "json",
            )
        ).stdout
    )
    assert refined["windows"][0]["start"] == "2022-07-19T00:00:00+00:00"
    assert refined["windows"][0]["start_basis"] == "evidence"
    rescoped = json.loads(
        ok(
            run(
                "incident",
                "scope",
                iid,
                "-c",
                c,
                "--orders",
                str(tmp_path / "orders.csv"),
                "--orders-mapping",
                str(tmp_path / "orders.yaml"),
                "--bounces",
                str(tmp_path / "bounces.txt"),
                "--format",
                "json",
            )
        ).stdout
    )
    assert rescoped["counts"]["card_orders"] == 4  # A2 (07-19 00:00 JST) is now before the start
    assert rescoped["counts"]["people"] == 4  # c2 still in through A3
    assert rescoped["counts"]["cards"] == 4

    # Notices: e-mail for c2 and c7, a letter for c3 (bounced), the substitute measure for c4.
    export = tmp_path / "merge.csv"
    ok(run("incident", "notify", iid, "-c", c, "--export", str(export)))
    rows = list(csv.reader(io.StringIO(export.read_text("utf-8-sig"))))
    assert len(rows) == 1 + 4
    channels = sorted(r[1] for r in rows[1:])
    assert channels == ["email", "email", "postal", "substitute"]
    ref = next(r[0] for r in rows[1:] if r[1] == "email")
    ok(
        run(
            "incident",
            "notice",
            iid,
            "-c",
            c,
            "--person",
            ref,
            "--channel",
            "email",
            "--result",
            "sent",
            "--at",
            "2022-08-05 10:00:00",
        )
    )
    bad = run("incident", "notice", iid, "-c", c, "--person", "P-NOBODY", "--channel", "email", "--result", "sent")
    assert bad.exit_code == 2 and "not an affected person" in bad.stderr

    # Clocks at 2022-08-03 JST: preliminary due on day 5 (08-05), final 60 days (09-29), reportable.
    status = json.loads(
        ok(run("incident", "status", iid, "-c", c, "--now", "2022-08-03 12:00:00", "--format", "json")).stdout
    )
    assert status["reportable"] is True
    assert set(status["triggers"]) == {"financial-loss", "wrongful-purpose"}
    clocks = {k["name"]: k for k in status["clocks"]}
    assert clocks["preliminary-report"]["due_on"] == "2022-08-05"
    assert clocks["final-report"]["due_on"] == "2022-09-29"
    assert status["notices"] == 1

    # Drafts: every file written, values filled, the bounced person's name not in the public notice.
    ok(
        run(
            "incident",
            "set",
            iid,
            "-c",
            c,
            "--desk",
            "name=お客様相談窓口",
            "--desk",
            "phone=0120-000-000",
            "--prevention",
            "決済画面の監視を導入",
        )
    )
    out_dir = tmp_path / "drafts"
    ok(run("incident", "draft", iid, "-c", c, "--out", str(out_dir), "--now", "2022-08-03 12:00:00"))
    names = sorted(p.name for p in out_dir.iterdir())
    assert "regulator-report.ja.md" in names and "public-notice.en.html" in names and "drafts.json" in names
    public = (out_dir / "public-notice.ja.md").read_text("utf-8")
    assert "テスト書店" in public and "0120-000-000" in public
    assert "上田" not in public and "411111" not in public
    acquirer = (out_dir / "acquirer-summary.en.md").read_text("utf-8")
    assert "555555\\*\\*\\*\\*\\*\\*4444" in acquirer  # Markdown-escaped
    cards = list(csv.reader(io.StringIO((out_dir / "acquirer-cards.csv").read_text("utf-8-sig"))))
    assert sorted(r[1] for r in cards[1:]) == [
        "411111******2222",
        "411111******5555",
        "411111******7777",
        "555555******4444",
    ]


def test_incident_errors_are_one_line(shop: tuple[Path, str]) -> None:
    config, fp = shop
    c = str(config)
    r = run("incident", "open", "-c", c, "--site", "shop", "--finding", "deadbeefdead")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "no finding" in r.stderr
    r = run("incident", "open", "-c", c, "--site", "nope", "--finding", fp)
    assert r.exit_code == 2 and "nope" in r.stderr
    r = run("incident", "status", "INC-missing", "-c", c)
    assert r.exit_code == 2 and "no incident" in r.stderr
    r = run("incident", "open", "-c", c, "--site", "shop", "--finding", fp, "--known-at", "yesterday")
    assert r.exit_code == 2 and "--known-at" in r.stderr
