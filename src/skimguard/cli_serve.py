"""The ``skimguard serve`` command: the report collector that shoppers' browsers send CSP and
Reporting API reports to (:mod:`skimguard.collector.app`).

It opens the store, gives every configured site its collector key (created once, kept in the
store), prints each site's endpoint URL (what ``report-uri`` / ``Reporting-Endpoints`` must name),
then serves until SIGINT or SIGTERM, when it lets in-flight requests finish and commits what is
pending before it exits 0. A counter line goes to stderr every minute.

Every ``--check-every`` seconds (default 60; 0 turns it off) it also runs the telemetry check of
every site, as ``skimguard telemetry check`` does (:func:`skimguard.cli_telemetry.check_site`:
findings SG601-SG605 stored when new or changed, alerts to the configured sinks, each sent once per
content), on a worker thread (:class:`skimguard.collector.periodic.PeriodicJob`), so a slow
database or alert sink never holds up a report request. A finding therefore reaches the sinks at
most about one interval after the browser's report; and the heartbeat (SG605) is checked even when
no report comes at all, which is exactly when it matters.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from skimguard.cli import DEFAULT_CONFIG, ConfigOpt, app, errors, fail, opened
from skimguard.config import Config, load_config

if TYPE_CHECKING:
    from skimguard.collector.periodic import PeriodicJob
    from skimguard.store import Store

DEFAULT_PORT = 8787
DEFAULT_CHECK_EVERY = 60.0  # seconds between two telemetry checks


def telemetry_job(config: Config, store: Store, every: float) -> PeriodicJob:
    """The periodic telemetry check of every configured site, alerting through the config's sinks.

    A site whose check fails is logged and skipped; the others are still checked. The log line
    names each site with findings, where they were stored and how many alerts went out."""
    from skimguard.cli_telemetry import check_site
    from skimguard.collector.periodic import PeriodicJob
    from skimguard.telemetry import HeartbeatPolicy

    policy = HeartbeatPolicy()
    log = logging.getLogger("skimguard.collector")

    def check() -> str | None:
        now = datetime.now(UTC)
        parts: list[str] = []
        for site in config.sites:
            try:
                outcome = check_site(config, site, store, now=now, policy=policy, alert=True)
            except Exception as exc:  # one broken site must not stop the others' checks
                log.error("telemetry check of %s failed: %s", site.name, str(exc)[:300] or type(exc).__name__)
                continue
            if not outcome.findings:
                continue
            stored = f"stored as scan {outcome.scan_id}" if outcome.scan_id else "nothing new to store"
            sent = outcome.alerts.sent if outcome.alerts else 0
            parts.append(f"{site.name}: {len(outcome.findings)} finding(s), {stored}, {sent} alert(s) sent")
            for error in outcome.alerts.errors if outcome.alerts else ():
                log.warning("telemetry check of %s: alert failed: %s", site.name, error[:300])
        return "telemetry check: " + "; ".join(parts) if parts else None

    return PeriodicJob("telemetry check", every, check)


@app.command()
def serve(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default: put an https proxy in front).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")] = (
        DEFAULT_PORT
    ),
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="Public URL of the collector as browsers reach it, {site} standing for the site key "
            "(default: http://HOST:PORT/r/{site}); only changes what is printed.",
        ),
    ] = None,
    ip_rate: Annotated[float, typer.Option("--ip-rate", min=0, help="Requests per second per client IP (0: off).")] = (
        20.0
    ),
    ip_burst: Annotated[float, typer.Option("--ip-burst", min=1, help="Requests a client may send at once.")] = 200.0,
    site_rate: Annotated[
        float, typer.Option("--site-rate", min=0, help="Reports per second per site (0: off).")
    ] = 1000.0,
    site_burst: Annotated[float, typer.Option("--site-burst", min=1, help="Reports a site may get at once.")] = (
        10_000.0
    ),
    body_timeout: Annotated[
        float, typer.Option("--body-timeout", min=0.1, help="Seconds for a request body to arrive.")
    ] = 10.0,
    check_every: Annotated[
        float,
        typer.Option(
            "--check-every",
            min=0,
            help="Seconds between two telemetry checks of every site (findings, alerts, heartbeat); 0: none.",
        ),
    ] = DEFAULT_CHECK_EVERY,
    log_every: Annotated[float, typer.Option("--log-every", min=0.1, hidden=True)] = 60.0,
) -> None:
    """Collect the CSP and Reporting API reports that shoppers' browsers send (report-uri / report-to)."""
    from skimguard.collector.app import Limits, bind, create_app, report_endpoint, run_server

    limits = Limits(
        ip_rate=ip_rate,
        ip_burst=ip_burst,
        site_rate=site_rate,
        site_burst=site_burst,
        body_timeout=body_timeout,
        log_every=log_every,
    )
    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            try:
                sock = bind(host, port)
            except OSError as exc:
                fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", "is something listening there? --port")
            bound_port = sock.getsockname()[1]
            shown_host = f"[{host}]" if ":" in host else host
            template = endpoint or f"http://{shown_host}:{bound_port}/r/{{site}}"
            keys: dict[str, str] = {}
            lines = [f"skimguard serve: listening on http://{shown_host}:{bound_port} (Ctrl-C or SIGTERM stops)"]
            for site in config.sites:
                url = report_endpoint(store, site.name, template)
                keys[store.collector_key(site.name)] = site.name
                lines.append(f"  {site.name}: {url}")
            jobs = [telemetry_job(config, store, check_every)] if check_every > 0 else []
            lines.append(
                f"  telemetry check every {check_every:g}s" if jobs else "  telemetry check: off (--check-every 0)"
            )
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
            _log_to_stderr()
            try:
                run_server(create_app(store, keys, limits, jobs=jobs), sock)
            finally:
                sock.close()
    sys.stdout.write("skimguard serve: stopped\n")
    sys.stdout.flush()


def _log_to_stderr() -> None:
    logger = logging.getLogger("skimguard.collector")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
