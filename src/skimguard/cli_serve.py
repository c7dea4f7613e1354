"""The ``skimguard serve`` command: the report collector that shoppers' browsers send CSP and
Reporting API reports to (:mod:`skimguard.collector.app`).

It opens the store, gives every configured site its collector key (created once, kept in the
store), prints each site's endpoint URL (what ``report-uri`` / ``Reporting-Endpoints`` must name),
then serves until SIGINT or SIGTERM, when it lets in-flight requests finish and commits what is
pending before it exits 0. A counter line goes to stderr every minute.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from skimguard.cli import DEFAULT_CONFIG, ConfigOpt, app, errors, fail, opened
from skimguard.config import load_config

DEFAULT_PORT = 8787


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
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
            _log_to_stderr()
            try:
                run_server(create_app(store, keys, limits), sock)
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
