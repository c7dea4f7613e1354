"""The ``skimguard csp`` command: the headers that let shoppers' browsers enforce the inventory.

It reads the site's inventory, decisions and accepted baseline from the store and prints what
:func:`skimguard.policy.build_policy` makes of them: header lines to paste into the web server's
config (text) or the ``skimguard.csp/1`` JSON object. ``--mode discovery`` needs no store: it is
the deny-all report-only policy for a sample of page views.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from skimguard.cli import (
    DEFAULT_CONFIG,
    ConfigOpt,
    OutputOpt,
    SiteOpt,
    app,
    dumps,
    emit,
    errors,
    fail,
    opened,
    pick_site,
)
from skimguard.config import load_config
from skimguard.policy import DEFAULT_ENDPOINT, Policy, PolicyMode, build_policy, discovery_policy


class CspFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def csp(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: SiteOpt = None,
    mode: Annotated[
        PolicyMode,
        typer.Option("--mode", "-m", help="report-only (default), enforce, or discovery (deny-all, report-only)."),
    ] = PolicyMode.REPORT_ONLY,
    endpoint: Annotated[
        str,
        typer.Option(
            "--endpoint",
            help="The collector's report URL; {site} becomes the site's collector key (see `skimguard serve`).",
        ),
    ] = DEFAULT_ENDPOINT,
    allow_eval: Annotated[
        bool, typer.Option("--allow-eval", help="Add 'unsafe-eval' when an approved script is dynamic code.")
    ] = False,
    format: Annotated[CspFormat, typer.Option("--format", "-f", help="Output format.")] = CspFormat.text,
    output: OutputOpt = None,
) -> None:
    """Content-Security-Policy, Integrity-Policy and SRI attributes from the approved inventory."""
    policy: Policy
    with errors():
        config = load_config(config_path)
        target = pick_site(config, site)
        from skimguard.collector.app import report_endpoint

        with opened(config) as store:
            url = report_endpoint(store, target.name, endpoint) if "{site}" in endpoint else endpoint
        if mode is PolicyMode.DISCOVERY:
            policy = discovery_policy(url, site=target.name, base_url=target.base_url)
        else:
            from skimguard.baseline.snapshot import SiteSnapshot

            with opened(config) as store:
                inventory = store.inventory(target.name)
                if not inventory:
                    fail(
                        f"the inventory of {target.name} is empty: there is nothing approved to build a policy from",
                        f"run `skimguard scan --site {target.name}`, approve its scripts, or use --mode discovery",
                    )
                row = store.baseline(target.name)
                policy = build_policy(
                    target,
                    SiteSnapshot.from_json(row.snapshot) if row else None,
                    inventory,
                    store.decisions(target.name),
                    store.body,
                    mode=mode,
                    endpoint_url=url,
                    allow_eval=allow_eval,
                )
    emit(dumps(policy.to_json()) if format is CspFormat.json else policy.to_text(), output)
