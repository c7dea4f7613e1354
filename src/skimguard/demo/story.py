"""``skimguard demo``: the founding incidents, replayed on the bundled shop and caught.

Starts the demo shop on loopback, scans it clean, accepts that as the baseline, then for each
attack switches the shop to it, scans again and shows what skimguard found, and what the
attacker's collector received meanwhile. Everything runs on this machine, on SQLite.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from skimguard.config import Config, config_from_dict
from skimguard.demo.journeys import demo_site_config
from skimguard.demo.shop import DemoShop
from skimguard.models import ScanResult, Severity
from skimguard.monitor import accept_baseline, browser_for, scan_site
from skimguard.output import render_scan
from skimguard.store import Store

ATTACKS: dict[str, str] = {
    "vendor-script-tampered": (
        "Founding incident 1: the outside vendor's form-assist script is altered at the vendor. "
        "Same URL, new bytes: it now copies card number, expiry and CVC to the attacker. "
        "The shop's own code never changed."
    ),
    "fake-payment-form": (
        "Founding incident 2: the shop's own checkout template is altered through a site "
        "vulnerability. A fake card form posts to the attacker, who forwards the shopper back to "
        "the real payment step (the 'odd page transition')."
    ),
    "registration-tampered": (
        "Founding incident 2, second page: the member-registration page sends name, address, "
        "phone, e-mail and password to the attacker."
    ),
    "header-weakened": (
        "The Content-Security-Policy header is dropped from the shop's pages: the anti-skimming "
        "measure itself is removed (PCI DSS 11.6.1 wants an alert for that too)."
    ),
}


def demo_config(shop: DemoShop, workdir: Path) -> Config:
    data = {
        "database": f"sqlite:///{workdir / 'skimguard.db'}",
        "alerts": {"min_severity": "high", "sinks": []},
        "sites": [demo_site_config(shop)],
    }
    (workdir / "skimguard.yaml").write_text(
        "# Written by `skimguard demo`; the shop's port changes on every run.\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return config_from_dict(data, source="demo", path=workdir / "skimguard.yaml")


def caught(result: ScanResult) -> bool:
    return any(f.severity >= Severity.HIGH for f in result.findings)


async def _story(shop: DemoShop, config: Config, store: Store, attacks: Sequence[str], console: Console) -> bool:
    site = config.sites[0]
    verdicts: list[tuple[str, bool, str, int]] = []
    async with browser_for([site]) as browser:
        console.rule("[bold]1. The shop, as it should be")
        console.print(
            f"Demo shop at {shop.url()}: the card page loads the vendor's form-assist script "
            f"from cdn.formassist.test:{shop.port}; card data goes to the token API at pay.psp.test"
        )
        clean = (await scan_site(config, site, store, browser, alert=False)).result
        render_scan(console, clean, min_severity=Severity.MEDIUM)

        console.rule("[bold]2. Accept the baseline")
        baseline_id, _ = accept_baseline(
            store, site, scan_id=clean.scan_id, actor="demo", note="clean demo shop, reviewed"
        )
        console.print(
            f"Baseline {baseline_id} accepted: {len(clean.pages)} pages, "
            f"{sum(len(p.scripts) for p in clean.pages)} scripts, the security headers and forms."
        )

        for step, attack in enumerate(attacks, start=3):
            console.rule(f"[bold]{step}. Attack: {attack}")
            console.print(Panel(ATTACKS[attack], expand=False), soft_wrap=False)
            before = len(shop.collected)
            shop.set_scenario(attack)
            try:
                result = (await scan_site(config, site, store, browser, alert=False)).result
            finally:
                shop.set_scenario("clean")
            stolen = len(shop.collected) - before
            render_scan(console, result, min_severity=Severity.MEDIUM)
            if stolen:
                console.print(
                    f"[dim]Meanwhile the attacker's collector received {stolen} request(s) "
                    "with the scanner's test data.[/]"
                )
            high_rules = sorted({f.rule_id for f in result.findings if f.severity >= Severity.HIGH})
            verdicts.append((attack, caught(result), ", ".join(high_rules), stolen))

    console.rule("[bold]Summary")
    table = Table("attack", "caught", "rules (high and above)")
    for attack, ok, rule_list, _stolen in verdicts:
        table.add_row(attack, "[green]yes[/]" if ok else "[bold red]NO[/]", escape(rule_list or "-"))
    console.print(table)
    return all(ok for _, ok, _, _ in verdicts)


def run_demo(attacks: Sequence[str], *, workdir: Path | None, console: Console) -> bool:
    """Tell the whole story; True when every attack was caught."""
    with tempfile.TemporaryDirectory(prefix="skimguard-demo-") as tmp:
        root = workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        with DemoShop() as shop:
            config = demo_config(shop, root)
            store = Store.open(config.database_url)
            try:
                ok = asyncio.run(_story(shop, config, store, attacks, console))
            finally:
                store.close()
        if workdir:
            console.print(f"Config and database kept in {escape(str(root))}")
        return ok
