"""``skimguard webroot`` through the CLI: exit codes, JSON, SARIF 2.1.0, errors, alerts to a real
loopback webhook, the release and root listings."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import Result
from webroot_samples import SKIMMED_TEMPLATE, SKIMMER_LINE, WEBSHELL

from skimguard.webroot.rules import WEBROOT_RULES

Cli = Callable[..., Result]
Shop = Callable[[str], Path]


def test_baseline_then_scan_table_and_exit_codes(cli: Cli, shop: Shop) -> None:
    root = shop("eccube4")
    taken = cli("webroot", "baseline", str(root), "--note", "after the May deploy")
    assert taken.exit_code == 0, taken.output
    assert "baseline of" in taken.stdout and "11 file(s) recorded" in taken.stdout and "EC-CUBE 4 4.2.3" in taken.stdout
    clean = cli("webroot", "scan", str(root), "--no-alerts")
    assert clean.exit_code == 0 and "no findings" in clean.stdout and "nothing new to store" in clean.stdout
    (root / "app/template/default/Shopping/index.twig").write_text(SKIMMED_TEMPLATE, encoding="utf-8")
    hit = cli("webroot", "scan", str(root), "--no-alerts")
    assert hit.exit_code == 1, hit.output  # critical >= the default --fail-on high
    assert "SG701" in hit.stdout and "SG703" in hit.stdout and f"index.twig:{SKIMMER_LINE}" in hit.stdout
    assert "stored as scan webroot-" in hit.stdout
    assert cli("webroot", "scan", str(root), "--no-alerts", "--fail-on", "critical").exit_code == 1
    (root / "app/template/default/Shopping/index.twig").write_text("{# emptied #}\n", encoding="utf-8")
    medium = cli("webroot", "scan", str(root), "--no-alerts")
    assert medium.exit_code == 0 and "SG703" in medium.stdout and "SG701" not in medium.stdout
    assert "1 resolved" in medium.stdout  # the SG701 of the skimmer is gone
    assert cli("webroot", "scan", str(root), "--no-alerts", "--fail-on", "medium").exit_code == 1


def test_scan_json(cli: Cli, shop: Shop, tmp_path: Path) -> None:
    root = shop("woocommerce")
    assert cli("webroot", "baseline", str(root)).exit_code == 0
    shell = root / "wp-content/uploads/2024/05/cache.php"
    shell.write_text(WEBSHELL)
    out = tmp_path / "scan.json"
    result = cli("webroot", "scan", str(root), "--no-alerts", "-f", "json", "-o", str(out))
    assert result.exit_code == 1
    doc = json.loads(out.read_text())
    assert doc["schema"] == "skimguard.webroot/1" and doc["site"] == "shop" and doc["root"] == str(root)
    assert doc["platforms"] == ["wordpress@6.5.2", "woocommerce@8.8.2"] and doc["complete"] is True
    assert doc["scan_id"].startswith("webroot-") and doc["baseline_at"].endswith("Z")
    assert doc["changes"] == {"new": 0, "modified": 0, "deleted": 0, "permissions": 0}
    # the first analysis after a baseline: 14 code files, 8 of them PHP without anything for the engine
    assert doc["files"]["files"] == 17 and (doc["files"]["analysed"], doc["files"]["prefiltered"]) == (6, 8)
    by_rule = {f["rule_id"]: f for f in doc["findings"]}
    assert set(by_rule) == {"SG701", "SG707"}
    sg701 = by_rule["SG701"]
    assert sg701["category"] == "server" and sg701["severity"] == "critical" and sg701["page"] == f"webroot:{root}"
    assert (sg701["path"], sg701["line"], sg701["rule"], sg701["zone"]) == (
        "wp-content/uploads/2024/05/cache.php",
        4,
        "SG462",
        "upload",
    )
    assert "system($_REQUEST['cmd'])" in sg701["excerpt"] and sg701["mtime"].startswith("20")
    assert sg701["first_seen"] is not None and len(sg701["fingerprint"]) == 32
    again = json.loads(cli("webroot", "scan", str(root), "--no-alerts", "-f", "json").stdout)
    assert again["scan_id"] is None and again["files"]["read"] == 0  # nothing new, nothing read
    assert {f["fingerprint"] for f in again["findings"]} == {f["fingerprint"] for f in doc["findings"]}
    assert [f["first_seen"] for f in again["findings"]] == [f["first_seen"] for f in doc["findings"]]


def test_scan_sarif_has_the_required_structure(cli: Cli, shop: Shop) -> None:
    root = shop("eccube4")
    assert cli("webroot", "baseline", str(root)).exit_code == 0
    (root / "app/template/default/Shopping/index.twig").write_text(SKIMMED_TEMPLATE, encoding="utf-8")
    (root / "html/upload/save_image/s p%ce.php").write_text(WEBSHELL)
    result = cli("webroot", "scan", str(root), "--no-alerts", "--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    # sarif-schema-2.1.0.json: required "version" and "runs"; run: "tool"; tool: "driver"; driver: "name";
    # reportingDescriptor: "id"; result: "message" (with "text" or "id"); artifactLocation.uri a URI reference
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "skimguard" and [r["id"] for r in driver["rules"]] == [r.id for r in WEBROOT_RULES]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["defaultConfiguration"]["level"] in (
            "error",
            "warning",
            "note",
        )
        assert float(rule["properties"]["security-severity"]) >= 0
    assert run["originalUriBaseIds"]["WEBROOT"]["uri"] == f"file://{root}/"
    levels = {(r["ruleId"], r["level"]) for r in run["results"]}
    assert levels == {("SG701", "error"), ("SG703", "warning"), ("SG707", "error")}
    for res in run["results"]:
        assert res["message"]["text"] and driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert len(res["partialFingerprints"]["skimguard/v1"]) == 32
        (loc,) = res["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uriBaseId"] == "WEBROOT"
        assert " " not in loc["physicalLocation"]["artifactLocation"]["uri"]
    template = [
        r
        for r in run["results"]
        if r["ruleId"] == "SG701" and "index.twig" in r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    ]
    (skimmer,) = template
    region = skimmer["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == SKIMMER_LINE and region["snippet"]["text"]
    shell = next(r for r in run["results"] if r["ruleId"] == "SG707")
    assert (
        shell["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "html/upload/save_image/s%20p%25ce.php"
    )
    assert "region" not in shell["locations"][0]["physicalLocation"]  # no line for a location finding


def test_errors_exit_2(cli: Cli, shop: Shop, tmp_path: Path) -> None:
    missing = cli("webroot", "scan", str(tmp_path / "nope"), "--no-alerts")
    assert missing.exit_code == 2 and "not a folder" in missing.stderr
    root = shop("eccube4")
    release = cli("webroot", "scan", str(root), "--release", "shopify@1", "--no-alerts")
    assert release.exit_code == 2 and "unknown platform" in release.stderr
    assert cli("webroot", "scan", str(root), "--fail-on", "urgent").exit_code == 2
    platform = cli("webroot", "known-good", "build", str(root), "--platform", "shopify", "--version", "1")
    assert platform.exit_code == 2 and "choose from" in platform.stderr
    archive = tmp_path / "x.zip"
    archive.write_bytes(b"PK not really")
    bad = cli("webroot", "known-good", "build", str(archive), "--platform", "ec-cube-4", "--version", "4.2.3")
    assert bad.exit_code == 2 and "not a readable zip" in bad.stderr
    assert (
        cli("webroot", "known-good", "build", str(root), "--platform", "ec-cube-4", "--version", "4 2").exit_code == 2
    )


def test_known_good_build_list_and_the_knowngood_store(cli: Cli, shop: Shop, tmp_path: Path) -> None:
    root = shop("eccube4")
    built = cli("webroot", "known-good", "build", str(root / "src"), "--platform", "ec-cube-4", "--version", "4.2.3",
                "--prefix", "src")  # fmt: skip
    assert built.exit_code == 0, built.output
    assert "ec-cube-4@4.2.3: 4 file(s)" in built.stdout and "4 new in the known-good store" in built.stdout
    listed = json.loads(cli("webroot", "known-good", "list", "-f", "json").stdout)
    assert [(r["platform"], r["version"], r["files"], r["prefix"]) for r in listed] == [
        ("ec-cube-4", "4.2.3", 4, "src")
    ]
    good = json.loads(cli("knowngood", "list", "-f", "json").stdout)
    assert {g["source"] for g in good} == {"release:ec-cube-4@4.2.3"}
    assert "ec-cube-4@4.2.3/src/Eccube/Kernel.php" in {g["note"] for g in good}
    rebuilt = cli("webroot", "known-good", "build", str(root / "src"), "--platform", "ec-cube-4", "--version", "4.2.3",
                  "--prefix", "src")  # fmt: skip
    assert "0 new in the known-good store" in rebuilt.stdout  # a rebuild replaces the release
    assert len(json.loads(cli("webroot", "known-good", "list", "-f", "json").stdout)) == 1


def test_list_and_platforms(cli: Cli, shop: Shop) -> None:
    root = shop("magento2")
    assert cli("webroot", "baseline", str(root), "--exclude", "pub/static/**").exit_code == 0
    rows = json.loads(cli("webroot", "list", "-f", "json").stdout)
    assert [(r["site"], r["root"], r["platforms"], r["baseline_files"]) for r in rows] == [
        ("shop", str(root), ["magento-2@2.4.6"], 10)  # 15 files: media, static, generated, cache, log out
    ]
    detected = cli("webroot", "platforms", str(root))
    assert detected.exit_code == 0 and "Magento 2 (Adobe Commerce) 2.4.6" in detected.stdout
    assert "pub/media/**" in detected.stdout and "wp-content" not in detected.stdout
    everything = cli("webroot", "platforms")
    assert "ec-cube-2" in everything.stdout and "woocommerce" in everything.stdout


# ------------------------------------------------------------------------------------------ alerts


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.posts  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_findings_alert_once(
    cli: Cli, shop: Shop, config_file: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, posts = webhook
    data = yaml.safe_load(config_file.read_text())
    data["alerts"] = {"min_severity": "high", "sinks": [{"type": "webhook", "url": url}]}
    config_file.write_text(yaml.safe_dump(data))
    root = shop("woocommerce")
    assert cli("webroot", "baseline", str(root)).exit_code == 0
    (root / "wp-content/uploads/2024/05/cache.php").write_text(WEBSHELL)
    assert cli("webroot", "scan", str(root)).exit_code == 1
    sent = [f for post in posts for f in post["findings"]]
    assert sorted((f["rule_id"], f["severity"]) for f in sent) == [("SG701", "critical"), ("SG707", "high")]
    assert all(f["category"] == "server" and f["evidence"]["path"].endswith("cache.php") for f in sent)
    assert cli("webroot", "scan", str(root)).exit_code == 1
    assert len([f for post in posts for f in post["findings"]]) == 2  # not again: same content
