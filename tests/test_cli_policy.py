"""``skimguard csp`` through the CLI, on a SQLite store filled from factory captures (no browser)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from skimguard.cli import app
from skimguard.config import load_config
from skimguard.models import ChangeRule, MatchType, ScanResult, ScanStatus, script_url_key
from skimguard.monitor import accept_baseline
from skimguard.store import Store
from skimguard.testing.factories import APP_JS, APP_URL, VENDOR_JS, VENDOR_URL, make_capture

CSP = (
    "script-src 'report-sample' 'report-sha256' http://shop.test/static/app.js "
    "https://cdn.vendor.test/form-assist/v1/assist.js; connect-src 'self' http://pay.psp.test; "
    "img-src 'self' data:; frame-src http://pay.psp.test; form-action 'self' http://pay.psp.test; "
    "object-src 'none'; base-uri 'self'; report-uri {endpoint}"
)  # an http site: no report-to (Chromium would then send nothing at all, not even to report-uri)
NO_REPORT_TO = (
    "no report-to, since a browser that knows report-to ignores report-uri and Chromium delivers report-to only "
    "from https pages to https endpoints (else it sends nothing at all); reports go through report-uri alone, "
    "without 'report-sha256' hash reports and Integrity-Policy reports"
)


def endpoint(cfg: Path, template: str = "http://127.0.0.1:8787/r/{key}") -> str:
    """The report URL of the site "shop": the collector's unguessable key, not the site name."""
    with Store.open(load_config(cfg).database_url) as store:
        return template.format(key=store.collector_key("shop"))


def sri(text: str) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(text.encode()).digest()).decode()


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"SKIMGUARD_CONFIG": None})


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("skimguard: error: "), lines[0]
    return lines[0]


def write_config(tmp_path: Path, *, sites: tuple[str, ...] = ("shop",), base_url: str = "http://shop.test/") -> Path:
    cfg = tmp_path / "skimguard.yaml"
    data = {
        "version": 1,
        "database": f"sqlite:///{tmp_path / 'sg.db'}",
        "sites": [
            {
                "name": name,
                "base_url": base_url,
                "payment_hosts": ["pay.psp.test"],
                "journeys": [{"name": "checkout", "steps": [{"goto": "/cart", "page": "cart"}]}],
            }
            for name in sites
        ],
    }
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    return cfg


def fill_store(cfg: Path, *, baseline: bool = True, approve_vendor: bool = True) -> None:
    """One stored scan of the factory shop, its baseline, and the approvals of its scripts."""
    config = load_config(cfg)
    site = config.site("shop")
    capture = make_capture()
    with Store.open(config.database_url) as store:
        store.finish_scan(
            ScanResult(
                site="shop",
                scan_id="20240501T120000Z-a1b2c3",
                started_at=capture.started_at,
                finished_at=capture.finished_at,
                status=ScanStatus.OK,
                captures=(capture,),
                findings=(),
            )
        )
        if baseline:
            accept_baseline(store, site, scan_id=None, actor="alice", note="clean")
        store.add_decision(
            "shop", MatchType.URL, script_url_key(APP_URL), "our bundle", "ec-team", "alice", ChangeRule.PIN, None
        )
        if approve_vendor:
            store.add_decision(
                "shop",
                MatchType.URL,
                script_url_key(VENDOR_URL),
                "form assist",
                "ec-team",
                "alice",
                ChangeRule.REVIEW,
                None,
            )


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = write_config(tmp_path)
    fill_store(path)
    return path


def test_enforce_prints_the_headers_and_the_sri_tags(cfg: Path) -> None:
    result = run("csp", "--config", str(cfg), "--mode", "enforce")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    url = endpoint(cfg)
    assert result.stdout.splitlines() == [
        "# skimguard csp: site shop, mode enforce",
        "Content-Security-Policy: " + CSP.format(endpoint=url),
        "Integrity-Policy: blocked-destinations=(script)",
        "",
        "# Subresource Integrity: give each approved external script these attributes",
        f'# <script src="{APP_URL}" integrity="{sri(APP_JS)}" crossorigin="anonymous"></script>',
        f'# <script src="{VENDOR_URL}" integrity="{sri(VENDOR_JS)}" crossorigin="anonymous"></script>'
        "  (needs Access-Control-Allow-Origin)",
        "",
        "# Notes",
        f"# - the report endpoint {url} is not https: {NO_REPORT_TO} (serve the collector and the site over https "
        "to get them)",
    ]
    assert result.stderr == ""


def test_report_only_json_with_an_endpoint_and_an_output_file(cfg: Path, tmp_path: Path) -> None:
    out = tmp_path / "csp.json"
    result = run(
        "csp", "-c", str(cfg), "--endpoint", "https://collector.example/r/{site}", "-f", "json", "-o", str(out)
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout == ""
    data = json.loads(out.read_text(encoding="utf-8"))
    url = endpoint(cfg, "https://collector.example/r/{key}")
    assert data["schema"] == "skimguard.csp/1"
    assert (data["site"], data["mode"], data["endpoint"]) == ("shop", "report-only", url)
    assert data["headers"] == {"Content-Security-Policy-Report-Only": CSP.format(endpoint=url)}
    assert data["sri"] == [
        {"url": APP_URL, "integrity": sri(APP_JS), "cross_origin": False},
        {"url": VENDOR_URL, "integrity": sri(VENDOR_JS), "cross_origin": True},
    ]
    assert data["notes"] == [
        f"the site http://shop.test/ is not https: {NO_REPORT_TO} (serve the site over https to get them)"
    ]
    assert list(data["directives"]) == [
        "script-src",
        "connect-src",
        "img-src",
        "frame-src",
        "form-action",
        "object-src",
        "base-uri",
        "report-uri",
    ]


def test_unapproved_scripts_and_a_missing_baseline_become_notes(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    fill_store(cfg, baseline=False, approve_vendor=False)
    result = run("csp", "-c", str(cfg), "-f", "json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["directives"]["script-src"] == ["'report-sample'", "'report-sha256'", "http://shop.test/static/app.js"]
    assert "connect-src" not in data["directives"]
    assert data["notes"] == [
        "1 script(s) in the inventory are not approved and are not allowed by this policy "
        "(see `skimguard inventory list --unapproved`)",
        "no accepted baseline: connect-src, img-src, frame-src and form-action are left out (accept one with "
        "`skimguard baseline accept`)",
        f"the report endpoint {endpoint(cfg)} is not https: {NO_REPORT_TO} (serve the collector and the site over "
        "https to get them)",
    ]


def test_discovery_needs_no_inventory(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, base_url="https://shop.test/")
    template = "https://collector.example/r/{site}"
    result = run("csp", "-c", str(cfg), "--mode", "discovery", "--endpoint", template)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    url = endpoint(cfg, "https://collector.example/r/{key}")  # the database is needed only for the site's key
    assert result.stdout.splitlines()[:3] == [
        "# skimguard csp: site shop, mode discovery",
        f'Reporting-Endpoints: skimguard="{url}"',
        "Content-Security-Policy-Report-Only: default-src 'none'; script-src 'none' 'report-sample' "
        "'report-sha256'; connect-src 'none'; img-src 'none'; frame-src 'none'; form-action 'none'; "
        f"report-uri {url}; report-to skimguard",
    ]
    assert len(url.rsplit("/", 1)[1]) >= 24 and "shop" not in url
    # the default endpoint is plain http: report-uri only
    plain = run("csp", "-c", str(cfg), "--mode", "discovery")
    assert plain.exit_code == 0, (plain.stdout, plain.stderr)
    assert plain.stdout.splitlines()[1] == (
        "Content-Security-Policy-Report-Only: default-src 'none'; script-src 'none' 'report-sample' "
        "'report-sha256'; connect-src 'none'; img-src 'none'; frame-src 'none'; form-action 'none'; "
        f"report-uri {endpoint(cfg)}"
    )


def test_errors_are_one_line_with_a_hint(tmp_path: Path, cfg: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = one_error_line(run("csp", "-c", str(write_config(empty))))
    assert line == (
        "skimguard: error: the inventory of shop is empty: there is nothing approved to build a policy from "
        "(hint: run `skimguard scan --site shop`, approve its scripts, or use --mode discovery)"
    )
    line = one_error_line(run("csp", "-c", str(cfg), "--endpoint", "https://c.example/a b"))
    assert "report endpoint 'https://c.example/a b' cannot go into a header" in line
    assert "(hint: give --endpoint an http(s) URL" in line
    assert "no site named 'nope'" in one_error_line(run("csp", "-c", str(cfg), "--site", "nope"))
    two = tmp_path / "two"
    two.mkdir()
    assert "several sites" in one_error_line(run("csp", "-c", str(write_config(two, sites=("a", "b")))))
    assert run("csp", "-c", str(cfg), "--mode", "block").exit_code == 2  # typer: not a choice
