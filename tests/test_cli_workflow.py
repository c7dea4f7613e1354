"""End to end through the CLI (DESIGN §5): the life of one shop under skimguard.

The ``test_workflow_*`` tests are ONE workflow, run in file order on one demo shop and one
database: scan clean, accept the baseline, manage the script inventory, get attacked, triage the
findings, list the scans. They share state through the module-scoped ``wf`` fixture; run them
together (``-k workflow``), not one by one. The other tests stand alone: an unreachable site,
``rules``/``--version``, and alert delivery to a webhook (own database).

Every command goes through ``typer.testing.CliRunner`` on ``skimguard.cli.app`` and its exit code,
stdout and stderr are checked as the contract says: 0 nothing at or above ``--fail-on``, 1 findings
at or above it, 2 an error given as ONE line on stderr.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

import skimguard
from skimguard.cli import app
from skimguard.demo import DemoShop
from skimguard.demo.story import demo_config

pytestmark = pytest.mark.browser

PAGES = ["product", "cart", "address", "payment", "complete", "register", "welcome"]
SEVERITIES = ["info", "low", "medium", "high", "critical"]
SCAN_ID = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{6}\b")


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"SKIMGUARD_CONFIG": None})


def ok(result: Result, code: int = 0) -> Result:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def one_error_line(result: Result) -> str:
    """The single stderr line of an exit-2 error."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("skimguard: error: "), lines[0]
    return lines[0]


def flat(text: str) -> str:
    """Rich wraps console messages at the terminal width (80 columns under the test runner)."""
    return " ".join(text.split())


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def formassist_url(shop: DemoShop) -> str:
    return f"http://cdn.formassist.test:{shop.port}/v2/formassist.js"


@pytest.fixture(scope="module")
def shop() -> Iterator[DemoShop]:
    with DemoShop() as demo:
        yield demo


@dataclass
class Workflow:
    shop: DemoShop
    cfg: Path
    workdir: Path
    scan_ids: list[str] = field(default_factory=list)
    clean: dict[str, Any] = field(default_factory=dict)
    attack: dict[str, Any] = field(default_factory=dict)

    def cli(self, *args: str) -> Result:
        return run(*args, "--config", str(self.cfg))


@pytest.fixture(scope="module")
def wf(shop: DemoShop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workflow]:
    workdir = tmp_path_factory.mktemp("workflow")
    demo_config(shop, workdir)
    shop.set_scenario("clean")
    try:
        yield Workflow(shop, workdir / "skimguard.yaml", workdir)
    finally:
        shop.set_scenario("clean")


# ------------------------------------------------------------------------------ 1. clean scan


def test_workflow_1_clean_scan_as_json(wf: Workflow) -> None:
    result = ok(wf.cli("scan", "--format", "json"))
    data = json.loads(result.stdout)
    assert data["schema"] == "skimguard.scan/1"
    assert data["site"] == "demo-shop"
    assert data["status"] == "ok"
    assert SCAN_ID.fullmatch(data["scan_id"])
    assert data["started_at"] <= data["finished_at"]
    assert [p["name"] for p in data["pages"]] == PAGES
    for page in data["pages"]:
        assert page["url"].startswith(f"http://shop.test:{wf.shop.port}/")
        assert page["final_url"]
        for script in page["scripts"]:
            assert {"url", "sha256", "inline", "frame", "initiator"} <= set(script)
            assert script["inline"] is (script["url"] is None)
    scripts = [s for p in data["pages"] for s in p["scripts"]]
    assert {p["name"] for p in data["pages"] if p["scripts"]} >= {"product", "cart", "payment"}
    assert any(s["inline"] for s in scripts) and any(not s["inline"] for s in scripts)
    payment = next(p for p in data["pages"] if p["name"] == "payment")
    assert formassist_url(wf.shop) in {s["url"] for s in payment["scripts"]}
    assert [f for f in data["findings"] if rank(f["severity"]) > rank("low")] == []
    wf.clean = data
    wf.scan_ids.append(data["scan_id"])


# ------------------------------------------------------------------------------ 2. baseline


def test_workflow_2_baseline_accept_and_show(wf: Workflow) -> None:
    result = ok(wf.cli("baseline", "accept", "--by", "tester", "--note", "clean shop, reviewed"))
    match = re.fullmatch(r"baseline (\d+) of demo-shop accepted from scan (\S+)", flat(result.stdout))
    assert match, result.stdout
    baseline_id, scan_id = int(match[1]), match[2]
    assert scan_id == wf.clean["scan_id"]

    shown = json.loads(ok(wf.cli("baseline", "show", "--format", "json")).stdout)
    assert shown["id"] == baseline_id
    assert shown["scan_id"] == scan_id
    assert shown["accepted_by"] == "tester"
    assert shown["note"] == "clean shop, reviewed"
    pages = shown["snapshot"]["pages"]
    assert sorted(pages) == sorted(PAGES)
    assert pages["payment"]["card_page"] is True
    assert pages["product"]["card_page"] is False


# ------------------------------------------------------------------------------ 3. inventory


def test_workflow_3_inventory_approve_show_export_revoke(wf: Workflow) -> None:
    listed = json.loads(ok(wf.cli("inventory", "list", "--format", "json")).stdout)
    assert listed["schema"] == "skimguard.inventory/1"
    scripts = listed["scripts"]
    assert {s["kind"] for s in scripts} >= {"inline", "external"}
    assert {s["authorization"] for s in scripts} == {"unapproved"}
    url = formassist_url(wf.shop)
    assert url in {s["url"] for s in scripts}

    # An approval needs a written justification (PCI DSS 6.4.3): one error line, nothing stored.
    refused = run("inventory", "approve", url, "--owner", "vendor FormAssist", "--config", str(wf.cfg))
    assert "justification" in one_error_line(refused)
    assert refused.stdout == ""

    approved = ok(
        wf.cli(
            "inventory", "approve", url,
            "--justification", "form assist (half-width digits)",
            "--owner", "vendor FormAssist",
            "--on-change", "pin",
            "--by", "tester",
        )
    )  # fmt: skip
    match = re.match(r"decision (\d+): url (\S+) approved \(on change: pin\) by tester", flat(approved.stdout))
    assert match, approved.stdout
    decision_id = int(match[1])
    assert match[2] == url

    shown = json.loads(ok(wf.cli("inventory", "show", url, "--format", "json")).stdout)
    assert shown["url"] == url
    assert shown["authorization"] == "approved"
    assert shown["approved_by"] == "tester"
    assert shown["justification"] == "form assist (half-width digits)"
    assert shown["owner"] == "vendor FormAssist"
    assert shown["change_rule"] == "pin"
    assert shown["decision_id"] == decision_id

    out_csv = wf.workdir / "inventory.csv"
    exported = ok(wf.cli("inventory", "export", "--format", "csv", "--output", str(out_csv)))
    assert exported.stdout == ""
    assert f"wrote{out_csv}" in "".join(exported.stderr.split())
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text("utf-8"))))
    assert rows and "authorization" in rows[0]
    assert len(rows) == len(scripts)
    assert sorted(r["key"] for r in rows) == sorted(s["key"] for s in scripts)
    by_url = {r["url"]: r for r in rows}
    assert by_url[url]["authorization"] == "approved"
    assert by_url[url]["justification"] == "form assist (half-width digits)"
    assert {r["authorization"] for r in rows if r["url"] != url} == {"unapproved"}

    export_json = json.loads(ok(wf.cli("inventory", "export", "--format", "json")).stdout)
    (decision,) = export_json["decisions"]
    assert decision["id"] == decision_id
    assert decision["match"] == "url"
    assert decision["value"] == url
    assert decision["change_rule"] == "pin"
    assert decision["pinned_sha256"] == shown["sha256"]
    assert decision["revoked_at"] is None

    assert "--reason" in one_error_line(run("inventory", "revoke", str(decision_id), "--config", str(wf.cfg)))
    revoked = ok(wf.cli("inventory", "revoke", str(decision_id), "--reason", "vendor contract ended", "--by", "tester"))
    assert flat(revoked.stdout) == f"decision {decision_id} (url {url}) revoked"

    after = json.loads(ok(wf.cli("inventory", "show", url, "--format", "json")).stdout)
    assert after["authorization"] == "unapproved"
    assert after["decision_id"] is None
    (kept,) = json.loads(ok(wf.cli("inventory", "export", "--format", "json")).stdout)["decisions"]
    assert kept["id"] == decision_id
    assert kept["revoked_by"] == "tester"
    assert kept["revoke_reason"] == "vendor contract ended"
    assert kept["revoked_at"] is not None
    # Revoking twice is an error, not a silent success.
    one_error_line(wf.cli("inventory", "revoke", str(decision_id), "--reason", "again"))


def test_workflow_3b_inventory_show_has_the_decision_audit_trail(wf: Workflow) -> None:
    shown = json.loads(ok(wf.cli("inventory", "show", formassist_url(wf.shop), "--format", "json")).stdout)
    actions = [(a["action"], a["actor"]) for a in shown["audit"]]
    assert ("decision.add", "tester") in actions
    assert ("decision.revoke", "tester") in actions


# ------------------------------------------------------------------------------ 4. attack


def test_workflow_4_attack_is_caught(wf: Workflow) -> None:
    url = formassist_url(wf.shop)
    output = wf.workdir / "attack.json"
    wf.shop.set_scenario("vendor-script-tampered")
    try:
        result = ok(wf.cli("scan", "--format", "json", "--output", str(output)), 1)
        assert result.stdout == ""
        data = json.loads(output.read_text("utf-8"))
        assert data["schema"] == "skimguard.scan/1"
        assert data["status"] == "ok"
        changed = [f for f in data["findings"] if f["rule_id"] == "SG102"]
        assert [(f["severity"], f["page"], f["script_url"]) for f in changed] == [("high", "payment", url)]
        assert changed[0]["category"] == "inventory"
        assert changed[0]["fingerprint"]
        worst = max(rank(f["severity"]) for f in data["findings"])
        assert worst >= rank("high")

        table = run("scan", "--config", str(wf.cfg), "--format", "table", "--fail-on", "critical")
    finally:
        wf.shop.set_scenario("clean")

    has_critical = any(f["severity"] == "critical" for f in data["findings"])
    assert table.exit_code == (1 if has_critical else 0), (table.stdout, table.stderr)
    assert has_critical  # the skimmer's exfiltration (SG310) is critical on the demo shop
    assert "SG102" in table.stdout
    assert "payment" in table.stdout
    assert ("critical" in table.stdout) is (table.exit_code == 1)
    assert "\x1b[" not in table.stdout  # no colour codes when stdout is not a terminal
    table_ids = SCAN_ID.findall(table.stdout)
    assert len(table_ids) == 1
    wf.attack = data
    wf.scan_ids += [data["scan_id"], table_ids[0]]


# ------------------------------------------------------------------------------ 5. findings


def test_workflow_5_findings_list_and_ack(wf: Workflow) -> None:
    listed = json.loads(ok(wf.cli("findings", "list", "--format", "json")).stdout)
    assert listed["schema"] == "skimguard.findings/1"
    findings = listed["findings"]
    assert findings and {f["status"] for f in findings} == {"open"}
    assert all(re.fullmatch(r"[0-9a-f]{32}", f["fingerprint"]) for f in findings)
    assert [rank(f["severity"]) for f in findings] == sorted((rank(f["severity"]) for f in findings), reverse=True)
    sg102 = next(f for f in findings if f["rule_id"] == "SG102")
    assert sg102["fingerprint"] == next(f for f in wf.attack["findings"] if f["rule_id"] == "SG102")["fingerprint"]
    fp = sg102["fingerprint"]

    assert "--note" in one_error_line(wf.cli("findings", "ack", fp))
    acked = ok(wf.cli("findings", "ack", fp, "--note", "investigating", "--by", "tester"))
    assert acked.stdout == f"finding {fp} acknowledged\n"
    one_error_line(wf.cli("findings", "ack", "0" * 32, "--note", "no such finding"))

    still_open = json.loads(ok(wf.cli("findings", "list", "--format", "json")).stdout)["findings"]
    assert fp not in {f["fingerprint"] for f in still_open}
    assert len(still_open) == len(findings) - 1
    everything = json.loads(ok(wf.cli("findings", "list", "--all", "--format", "json")).stdout)["findings"]
    assert next(f for f in everything if f["fingerprint"] == fp)["status"] == "acknowledged"
    high = json.loads(ok(wf.cli("findings", "list", "--min-severity", "high", "--format", "json")).stdout)
    assert all(rank(f["severity"]) >= rank("high") for f in high["findings"])


# ------------------------------------------------------------------------------ 6. scans


def test_workflow_6_scans_lists_every_scan(wf: Workflow) -> None:
    assert len(wf.scan_ids) == 3
    result = ok(wf.cli("scans"))
    listed = SCAN_ID.findall(result.stdout)
    assert sorted(listed) == sorted(wf.scan_ids)
    assert listed == sorted(listed, reverse=True)  # newest first
    assert result.stdout.count("demo-shop") == 3
    assert result.stdout.count(" ok ") == 3


# ------------------------------------------------------------------------------ 7. unreachable


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> Result:
    """One scan of a site that cannot be reached (its host is not mapped, and unmapped hosts are
    blocked). ``--no-alerts``: the default console sink would print its alert table on stderr."""
    workdir = tmp_path_factory.mktemp("unreachable")
    cfg = workdir / "skimguard.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "database": f"sqlite:///{workdir / 'skimguard.db'}",
                "sites": [
                    {
                        "name": "nowhere",
                        "base_url": "http://nowhere.test:9/",
                        "block_unmapped_hosts": True,
                        "journeys": [{"name": "home", "steps": [{"goto": "/", "page": "home"}]}],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    return run("scan", "--config", str(cfg), "--format", "json", "--no-alerts")


def test_unreachable_site_fails_with_an_error_and_a_health_finding(unreachable: Result) -> None:
    assert unreachable.exit_code == 2, (unreachable.stdout, unreachable.stderr, unreachable.exception)
    errors = [line for line in unreachable.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, unreachable.stderr
    assert errors[0].startswith("skimguard: error: scan failed for nowhere: ")
    assert "(hint: " in errors[0]
    data = json.loads(unreachable.stdout)  # the result is still written, for the record
    assert data["schema"] == "skimguard.scan/1"
    assert data["site"] == "nowhere"
    assert data["status"] == "failed"
    health = [f for f in data["findings"] if f["rule_id"] == "SG001"]
    assert health and all(f["category"] == "health" for f in health)
    assert all(f["severity"] == "high" for f in health)


def test_unreachable_site_error_is_the_only_stderr_line(unreachable: Result) -> None:
    line = one_error_line(unreachable)
    assert line.startswith("skimguard: error: scan failed for nowhere")


# ------------------------------------------------------------------------------ 8. rules, version


def test_rules_as_json_carry_their_documentation() -> None:
    rules = json.loads(ok(run("rules", "--format", "json")).stdout)
    by_id = {r["id"]: r for r in rules}
    assert len(by_id) == len(rules)
    sg102 = by_id["SG102"]
    assert sg102["category"] == "inventory"
    assert sg102["severity"] == "high"
    assert sg102["doc"].strip()
    assert all(r["doc"].strip() for r in rules)
    assert {r["category"] for r in rules} <= {
        "inventory", "header", "flow", "exfil", "code", "telemetry", "server", "health",
    }  # fmt: skip


def test_version() -> None:
    result = ok(run("--version"))
    assert result.stdout == f"skimguard {skimguard.__version__}\n"


# ------------------------------------------------------------------------------ 9. alerts


class _Recorder(BaseHTTPRequestHandler):
    posts: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append((self.path, json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.posts  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_alerts_are_sent_once_and_again_when_reopened(
    shop: DemoShop, tmp_path: Path, webhook: tuple[str, list[tuple[str, dict[str, Any]]]]
) -> None:
    hook_url, posts = webhook
    demo_config(shop, tmp_path)
    data = yaml.safe_load((tmp_path / "skimguard.yaml").read_text("utf-8"))
    data["database"] = f"sqlite:///{tmp_path / 'alerts.db'}"
    data["alerts"] = {"min_severity": "high", "sinks": [{"type": "webhook", "url": hook_url}]}
    cfg = tmp_path / "alerts.yaml"
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    url = formassist_url(shop)

    def scan(scenario: str, code: int) -> dict[str, Any]:
        shop.set_scenario(scenario)
        try:
            result = run("scan", "--config", str(cfg), "--format", "json")
        finally:
            shop.set_scenario("clean")
        assert result.exit_code == code, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    scan("clean", 0)
    ok(run("baseline", "accept", "--config", str(cfg), "--by", "tester"))
    assert posts == []

    first = scan("vendor-script-tampered", 1)
    assert len(posts) == 1
    path, payload = posts[0]
    assert path == "/hook"
    assert payload["schema"] == "skimguard.alert/1"
    assert payload["site"] == "demo-shop"
    assert payload["scan_id"] == first["scan_id"]
    sent = {(f["rule_id"], f["page"], f["script_url"]) for f in payload["findings"]}
    assert ("SG102", "payment", url) in sent
    assert all(rank(f["severity"]) >= rank("high") for f in payload["findings"])
    expected = {f["fingerprint"] for f in first["findings"] if rank(f["severity"]) >= rank("high")}
    assert {f["fingerprint"] for f in payload["findings"]} == expected

    scan("vendor-script-tampered", 1)
    assert len(posts) == 1, [p["findings"] for _, p in posts[1:]]  # same attack, same findings: no new alert

    clean = scan("clean", 0)
    assert clean["status"] == "ok"
    assert len(posts) == 1

    again = scan("vendor-script-tampered", 1)
    assert len(posts) == 2  # resolved, then back: alerted again
    _, payload = posts[1]
    assert payload["scan_id"] == again["scan_id"]
    assert ("SG102", "payment", url) in {(f["rule_id"], f["page"], f["script_url"]) for f in payload["findings"]}
