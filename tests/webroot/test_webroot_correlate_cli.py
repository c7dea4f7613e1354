"""``skimguard webroot scan --correlate``: the browser finding of a skimmer is linked to the template
that holds it, the link is kept on the browser finding, and the incident window can use its mtime."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import Result
from webroot_samples import SKIMMED_TEMPLATE

from skimguard.config import Config
from skimguard.detect.registry import rule
from skimguard.models import ScanResult, ScanStatus
from skimguard.store import Store

TEMPLATE = "app/template/default/Shopping/index.twig"
PLANTED = datetime(2024, 5, 3, 1, 2, 3, tzinfo=UTC)


def test_scan_links_the_browser_finding_to_the_template(
    cli: Callable[..., Result], shop: Callable[[str], Path], config: Config
) -> None:
    root = shop("eccube4")
    assert cli("webroot", "baseline", str(root)).exit_code == 0
    beacon = rule("SG501").finding(
        "shop",
        page="payment",
        subject="collect.evil.test|body",
        destination="collect.evil.test",
        evidence={"destination": "https://collect.evil.test/g.php"},
    )
    now = datetime(2024, 5, 4, tzinfo=UTC)
    with Store.open(config.database_url) as store:
        store.finish_scan(ScanResult("shop", "20240504T000000Z-abc123", now, now, ScanStatus.OK, (), (beacon,)))
    template = root / TEMPLATE
    template.write_text(SKIMMED_TEMPLATE, encoding="utf-8")
    os.utime(template, (PLANTED.timestamp(), PLANTED.timestamp()))

    result = cli("webroot", "scan", str(root), "--site", "shop", "--no-alerts", "--correlate", "-f", "json")
    assert result.exit_code == 1, result.output
    links = json.loads(result.stdout)["links"]
    assert [(lk["finding"], lk["rule_id"], lk["location"], lk["mtime"]) for lk in links] == [
        (beacon.fingerprint, "SG501", TEMPLATE, PLANTED.isoformat())
    ]
    with Store.open(config.database_url) as store:
        (stored,) = [s for s in store.findings("shop", status=None) if s.fingerprint == beacon.fingerprint]
    assert [(e["location"], e["mtime"]) for e in stored.finding.evidence["explained_by"]] == [
        (TEMPLATE, PLANTED.isoformat())
    ]
    table = cli("webroot", "scan", str(root), "--site", "shop", "--no-alerts", "--correlate")
    assert f"explains browser finding SG501 {beacon.fingerprint[:10]}: {TEMPLATE}" in " ".join(table.stdout.split())
