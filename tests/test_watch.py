"""``skimguard watch``: every site on its schedule, a failing site does not stop the others, and
never two scans of one site at once. Real Chromium on the demo shop, through the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from skimguard.cli import app
from skimguard.config import Config, load_config
from skimguard.demo import DemoShop
from skimguard.demo.journeys import demo_site_config
from skimguard.store import ScanRow, Store

pytestmark = pytest.mark.browser

NOWHERE: dict[str, Any] = {
    "name": "nowhere",
    "base_url": "http://nowhere.test:9/",
    "block_unmapped_hosts": True,
    "journeys": [{"name": "home", "steps": [{"goto": "/", "page": "home"}]}],
}


@pytest.fixture(scope="module")
def shop() -> Iterator[DemoShop]:
    with DemoShop() as demo:
        yield demo


def write_config(workdir: Path, sites: list[dict[str, Any]]) -> tuple[Path, Config]:
    path = workdir / "skimguard.yaml"
    data = {
        "database": f"sqlite:///{workdir / 'skimguard.db'}",
        "alerts": {"min_severity": "high", "sinks": []},
        "sites": sites,
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, load_config(path)


def watch(cfg: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["watch", "--config", str(cfg), *args], env={"SKIMGUARD_CONFIG": None})


def stored_scans(config: Config, site: str) -> list[ScanRow]:
    """The stored scans of ``site``, oldest first."""
    store = Store.open(config.database_url)
    try:
        return sorted(store.scans(site, limit=100), key=lambda r: (r.started_at, r.id))
    finally:
        store.close()


def test_watch_once_survives_a_failing_site(shop: DemoShop, tmp_path: Path) -> None:
    cfg, config = write_config(tmp_path, [demo_site_config(shop), NOWHERE])
    result = watch(cfg, "--once")
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""  # the log goes to stderr

    (demo,) = stored_scans(config, "demo-shop")
    (nowhere,) = stored_scans(config, "nowhere")
    assert demo.status == "ok"
    assert nowhere.status == "failed"
    assert demo.finished_at is not None and nowhere.finished_at is not None
    log = " ".join(result.stderr.split())
    assert "demo-shop: ok," in log
    assert "nowhere: failed," in log


def test_watch_never_runs_two_scans_of_one_site_at_once(shop: DemoShop, tmp_path: Path) -> None:
    site = demo_site_config(shop)
    # One short journey keeps the test quick; it still takes far longer than the 1 s schedule,
    # so the second scan is due long before the first one ends.
    site["journeys"] = [j for j in site["journeys"] if j["name"] == "registration"]
    site["schedule"] = {"every": "1s"}
    cfg, config = write_config(tmp_path, [site])
    result = watch(cfg, "--rounds", "2", "--concurrency", "4")
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)

    scans = stored_scans(config, "demo-shop")
    assert len(scans) == 2, scans
    assert [s.status for s in scans] == ["ok", "ok"]
    first, second = scans
    assert first.finished_at is not None and second.finished_at is not None
    assert (first.finished_at - first.started_at).total_seconds() > config.sites[0].schedule.every
    assert second.started_at >= first.finished_at
