"""``skimguard demo``: the founding incidents, replayed on the bundled shop and caught.

Starts the demo shop on loopback, scans it clean, accepts that as the baseline, then for each
attack switches the shop to it, scans again and shows what skimguard found, and what the
attacker's collector received meanwhile. Everything runs on this machine, on SQLite.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from skimguard.config import Config, config_from_dict
from skimguard.demo.journeys import demo_site_config
from skimguard.demo.shop import DemoShop
from skimguard.incident.records import Contact, Order, PaymentMethod
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


SCOPED = ("vendor-script-tampered", "fake-payment-form")  # the card attacks the demo scopes (the first shown)


def _demo_orders(start: datetime, end: datetime) -> list[Order]:
    """The shop's order export around the window (simulated): card payments inside it (one shopper
    paying twice), cash on delivery and store pickup inside it, one card payment before it."""
    span = max((end - start).total_seconds(), 1.0)

    def at(fraction: float) -> datetime:
        return start + timedelta(seconds=span * fraction)

    def card(n: int, when: datetime, customer: str, email: str, last4: str) -> Order:
        return Order(
            order_id=f"D-{n:04d}",
            placed_at=when,
            payment=PaymentMethod.CARD,
            customer_id=customer,
            contact=Contact(name=f"Shopper {customer}", email=email),
            card_masked=f"411111******{last4}",
            card_expiry="12/29",
        )

    return [
        card(1, start - timedelta(hours=1), "c1", "c1@example.test", "0001"),
        card(2, at(0.2), "c2", "c2@example.test", "0002"),
        card(3, at(0.4), "c3", "c3@example.test", "0003"),
        card(4, at(0.6), "c2", "c2@example.test", "0002"),
        card(5, at(0.8), "c4", "", "0004"),
        Order("D-0006", at(0.5), PaymentMethod.CASH_ON_DELIVERY, "c5", Contact(email="c5@example.test")),
        Order("D-0007", at(0.7), PaymentMethod.STORE_PICKUP, "c6", Contact(email="c6@example.test")),
    ]


def _scope_the_breach(
    store: Store, config: Config, attack: str, attacked: ScanResult, workdir: Path, console: Console
) -> None:
    """A founding incident, answered: open an incident from the findings, compute the window from
    the scan history, scope a (simulated) order export, run the clocks and draft the documents."""
    from skimguard.incident import service, storage
    from skimguard.incident.documents import render_all
    from skimguard.incident.drafting import draft_context
    from skimguard.incident.window import format_local

    site = config.sites[0]
    findings = [f for f in attacked.findings if f.severity >= Severity.HIGH and f.page]
    if not findings:
        console.print("[red]No finding to open an incident from.[/]")
        return
    now = datetime.now(UTC).replace(microsecond=0)
    row = storage.open_incident(
        store,
        site.name,
        {f.fingerprint: attack for f in findings},
        known_at=now,
        zone=config.incident.zone,
        title=ATTACKS[attack].split(":")[0],
        actor="demo",
    )
    loaded = service.load_incident(store, row.id)
    windows = loaded.windows()
    closed = [w for w in windows if w.start is not None and w.end is not None]
    if not closed:
        console.print("[red]The window could not be established from the scans.[/]")
        return
    start, end = closed[0].start, closed[0].end
    assert start is not None and end is not None
    affected = service.run_scope(loaded, orders=_demo_orders(start, end))
    summary = service.summary(affected, loaded.incident.zone)
    storage.save_scope(store, row.id, summary, service.people_rows(affected), "demo")
    clocks, _ = service.status_clocks(loaded, affected.counts.people, now)
    zone = loaded.incident.zone
    table = Table("incident " + escape(row.id), "")
    for w in windows:
        table.add_row(
            f"window {escape(w.page)}",
            escape(f"{format_local(w.start, zone)} to {format_local(w.end, zone)}"),
        )
    c = affected.counts
    table.add_row("card payments in the window (simulated export)", str(c.card_orders))
    table.add_row("people / cards", f"{c.people} / {c.cards}")
    table.add_row("cash on delivery, store pickup", "not affected (no card entered)")
    for clock in clocks:
        if clock.applies and clock.due_on is not None:
            table.add_row(clock.name.value, f"due {clock.due_on.isoformat()}")
    console.print(table)
    drafts = workdir / "drafts"
    render_all(
        draft_context(
            loaded.incident,
            windows,
            details=loaded.row.details,
            summary=summary,
            people=storage.people(store, row.id),
            clocks=clocks,
            findings=[(f.fingerprint, f.rule_id, f.title) for f in findings],
            script_urls={f.fingerprint: f.script_url for f in findings if f.script_url},
            site_url=site.base_url,
            issued_on=now.date(),
        ),
        drafts,
    )
    console.print(
        f"Drafts of the regulator report, the notices and the acquirer summary (ja/en): {escape(str(drafts))}"
    )


async def _story(
    shop: DemoShop, config: Config, store: Store, attacks: Sequence[str], console: Console, workdir: Path
) -> bool:
    site = config.sites[0]
    verdicts: list[tuple[str, bool, str, int]] = []
    scoped: tuple[str, ScanResult] | None = None
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
            if attack in SCOPED and scoped is None:
                scoped = (attack, result)

        if scoped is not None:
            console.rule(f"[bold]{len(attacks) + 3}. The breach, scoped ({scoped[0]})")
            console.print("The shop removed the skimmer; a scan shows the card page clean again.")
            await scan_site(config, site, store, browser, alert=False)
            _scope_the_breach(store, config, scoped[0], scoped[1], workdir, console)

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
                ok = asyncio.run(_story(shop, config, store, attacks, console, root))
            finally:
                store.close()
        if workdir:
            console.print(f"Config and database kept in {escape(str(root))}")
        return ok
