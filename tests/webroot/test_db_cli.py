"""``skimguard db scan``: exit codes, JSON (``skimguard.db/1``), one-line errors, and with
``--site`` the findings stored and alerted like telemetry, and linked to browser findings."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from test_db_shops import CLEAN_FOOTER, LOADER, SKIMMER, build_magento2
from typer.testing import CliRunner, Result

from skimguard.cli import app
from skimguard.config import load_config
from skimguard.detect.registry import rule
from skimguard.models import Finding, ScanResult, ScanStatus
from skimguard.store import Store

HEAD = '<script src="https://cdn.unknown.test/jquery.min.js"></script>'
FOOTER_ROW = "core_config_data[config_id=4].value"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"SKIMGUARD_CONFIG": None})


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("skimguard: error: "), lines[0]
    return lines[0]


@pytest.fixture
def shop(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'magento.db'}"
    build_magento2(url, footer=SKIMMER, head=HEAD)
    return url


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "skimguard.yaml"
    data = {
        "database": f"sqlite:///{tmp_path / 'sg.db'}",
        "sites": [
            {
                "name": "shop",
                "base_url": "https://shop.test/",
                "payment_hosts": ["pay.psp.test"],
                "journeys": [{"name": "checkout", "steps": [{"goto": "/cart", "page": "cart"}]}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_json_output_and_exit_code(shop: str, tmp_path: Path) -> None:
    result = run("db", "scan", shop, "--format", "json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["schema"] == "skimguard.db/1"
    assert (data["site"], data["scan_id"], data["platform"], data["status"]) == (None, None, "magento2", "ok")
    assert data["source"] == {"kind": "database", "name": shop, "dialect": "sqlite"}
    assert [(f["rule_id"], f["severity"], f["subject"]) for f in data["findings"]] == [
        ("SG720", "critical", "core_config_data:config_id=4:value"),
        ("SG722", "low", "core_config_data:config_id=3:value:cdn.unknown.test"),
    ]
    assert data["findings"][0]["category"] == "server"
    assert data["findings"][0]["evidence"]["location"] == FOOTER_ROW
    assert {t["table"]: t["rows_read"] for t in data["tables"]} == {
        "core_config_data": 6,
        "cms_block": 1,
        "cms_page": 1,
    }
    assert data["links"] == [] and data["problems"] == []
    # a critical finding passes --fail-on critical too; the table output says what was read
    table = run("db", "scan", shop, "--fail-on", "critical", "-o", str(tmp_path / "out.txt"))
    assert table.exit_code == 1
    text = (tmp_path / "out.txt").read_text("utf-8")
    assert "platform magento2" in text and "SG720" in text and "core_config_data" in text


def test_clean_and_suspicious_exit_codes(tmp_path: Path) -> None:
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    build_magento2(clean)
    result = run("db", "scan", clean)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "no findings" in result.stdout
    loader = f"sqlite:///{tmp_path / 'loader.db'}"
    build_magento2(loader, head=LOADER)
    assert run("db", "scan", loader).exit_code == 0  # SG721 is medium: below the default high
    assert run("db", "scan", loader, "--fail-on", "medium").exit_code == 1


def test_errors_are_one_line_and_never_show_a_password(tmp_path: Path, shop: str) -> None:
    assert "no such dump file" in one_error_line(run("db", "scan", str(tmp_path / "missing.sql")))
    assert "unknown platform" in one_error_line(run("db", "scan", shop, "--platform", "shopify"))
    assert "needs a --table" in one_error_line(run("db", "scan", shop, "--column", "html"))
    assert "unsupported database" in one_error_line(run("db", "scan", "oracle://u@h/db"))
    assert "--correlate needs --site" in one_error_line(run("db", "scan", shop, "--correlate"))
    assert "no such SQLite database file" in one_error_line(run("db", "scan", f"sqlite:///{tmp_path / 'nope.db'}"))
    refused = one_error_line(run("db", "scan", "postgresql+psycopg://scanner:s3cret@127.0.0.1:1/shop"))
    assert "cannot connect" in refused and "s3cret" not in refused and "***" in refused


def test_site_findings_are_stored_once_and_alerted(shop: str, cfg: Path) -> None:
    first = run("db", "scan", shop, "--site", "shop", "-c", str(cfg), "--format", "json")
    assert first.exit_code == 1, (first.stdout, first.stderr)
    data = json.loads(first.stdout)
    assert data["site"] == "shop" and data["scan_id"].startswith("db-")
    # with a site, the unknown script host is checked against the inventory: high
    assert [(f["rule_id"], f["severity"]) for f in data["findings"]] == [("SG720", "critical"), ("SG722", "high")]
    assert all(f["first_seen"] for f in data["findings"])
    assert "SG720" in first.stderr  # the console sink
    config = load_config(cfg)
    with Store.open(config.database_url) as store:
        scan = store.scan(data["scan_id"])
        assert scan is not None and scan.status == "failed"  # never taken as the latest capture
        stored = store.findings("shop")
        assert sorted(s.finding.rule_id for s in stored) == ["SG720", "SG722"]
        alert = store.last_alert(stored[0].fingerprint, "console")
        assert alert is not None and alert.ok
    again = run("db", "scan", shop, "--site", "shop", "-c", str(cfg), "--format", "json", "--no-alerts")
    assert again.exit_code == 1
    assert json.loads(again.stdout)["scan_id"] is None  # nothing new: nothing stored
    with Store.open(config.database_url) as store:
        assert [s.id for s in store.scans("shop")] == [data["scan_id"]]


def _set_footer(url: str, value: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE core_config_data SET value = ? WHERE config_id = 4", (value,))


def _statuses(cfg: Path) -> dict[str, str]:
    with Store.open(load_config(cfg).database_url) as store:
        return {s.finding.rule_id: s.status for s in store.findings("shop", status=None)}


def test_a_cleaned_row_resolves_its_finding_only_on_a_whole_read_of_the_same_source(
    shop: str, cfg: Path, tmp_path: Path
) -> None:
    def scan(source: str, *more: str) -> dict[str, object]:
        result = run("db", "scan", source, "--site", "shop", "-c", str(cfg), "-f", "json", "--no-alerts", *more)
        assert result.exit_code in (0, 1), (result.stdout, result.stderr)
        data: dict[str, object] = json.loads(result.stdout)
        return data

    assert scan(shop)["resolved"] == 0
    assert _statuses(cfg) == {"SG720": "open", "SG722": "open"}
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    shutil.copy(shop.removeprefix("sqlite:///"), copy.removeprefix("sqlite:///"))
    _set_footer(shop, CLEAN_FOOTER)
    _set_footer(copy, CLEAN_FOOTER)
    # another source (a staging copy) says nothing about this one's rows
    other = scan(copy)
    assert (other["resolved"], other["scan_id"]) == (0, None)
    # a read cut short by --max-rows (6 rows in core_config_data) leaves the finding open
    cut = scan(shop, "--max-rows", "2")
    assert cut["resolved"] == 0
    assert _statuses(cfg) == {"SG720": "open", "SG722": "open", "SG723": "open"}  # SG723: the cut
    # a whole read: the cleaned footer's finding and the cut are resolved, the head's script host stays
    cleaned = scan(shop)
    assert cleaned["resolved"] == 2 and str(cleaned["scan_id"]).startswith("db-")
    assert [f["rule_id"] for f in cleaned["findings"]] == ["SG722"]  # type: ignore[index, union-attr]
    assert _statuses(cfg) == {"SG720": "resolved", "SG722": "open", "SG723": "resolved"}
    again = scan(shop)
    assert (again["resolved"], again["scan_id"]) == (0, None)
    # planted again: open again
    _set_footer(shop, SKIMMER)
    assert scan(shop)["resolved"] == 0
    assert _statuses(cfg) == {"SG720": "open", "SG722": "open", "SG723": "resolved"}
    table = run("db", "scan", shop, "--site", "shop", "-c", str(cfg), "--no-alerts")
    assert "resolved" not in table.stdout
    _set_footer(shop, CLEAN_FOOTER)
    table = run("db", "scan", shop, "--site", "shop", "-c", str(cfg), "--no-alerts")
    assert "resolved 1 finding(s) of this source that the scan no longer found" in table.stdout


def test_correlate_links_open_browser_findings_to_rows(shop: str, cfg: Path) -> None:
    config = load_config(cfg)
    now = datetime(2025, 3, 14, tzinfo=UTC)
    beacon: Finding = rule("SG501").finding(
        "shop",
        page="payment",
        subject="collect.evil.test|url",
        destination="collect.evil.test",
        evidence={"destination": "https://collect.evil.test/i.gif"},
    )
    with Store.open(config.database_url) as store:
        store.finish_scan(ScanResult("shop", "20250314T000000Z-abc123", now, now, ScanStatus.OK, (), (beacon,)))
    result = run("db", "scan", shop, "--site", "shop", "-c", str(cfg), "--correlate", "--no-alerts", "-f", "json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    links = json.loads(result.stdout)["links"]
    assert [(lk["rule_id"], lk["finding"], lk["location"], lk["reason"]) for lk in links] == [
        ("SG501", beacon.fingerprint, FOOTER_ROW, "url")
    ]
    assert "collect.evil.test/i.gif" in links[0]["excerpt"]
    with Store.open(config.database_url) as store:  # the link is kept on the browser finding
        (stored,) = [f for f in store.findings("shop", status=None) if f.fingerprint == beacon.fingerprint]
        assert [(e["location"], e["reason"]) for e in stored.finding.evidence["explained_by"]] == [(FOOTER_ROW, "url")]
        assert stored.content_hash == beacon.content_hash  # context, not a change of what the browser saw
    table = run("db", "scan", shop, "--site", "shop", "-c", str(cfg), "--correlate", "--no-alerts")
    assert "correlation" in table.stdout and FOOTER_ROW in table.stdout
