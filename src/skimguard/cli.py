"""The ``skimguard`` command.

Exit codes (DESIGN §5): 0 nothing at or above ``--fail-on``; 1 findings at or above it;
2 an error (one line on stderr with a hint).
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from skimguard import __version__
from skimguard.config import CONFIG_FILENAME, Config, Site, load_config
from skimguard.errors import ConfigError, SkimguardError
from skimguard.models import ScanResult, ScanStatus, Severity

if TYPE_CHECKING:
    from skimguard.store import Store

app = typer.Typer(
    name="skimguard",
    help="Protect payment pages from web skimming: scan checkouts in a real browser, keep the script "
    "inventory (PCI DSS 6.4.3), detect changes and tampering (11.6.1).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Piped output is not wrapped at 80 columns: messages stay one line, tables get room.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    json = "json"


ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="SKIMGUARD_CONFIG", help="Path of skimguard.yaml."),
]
SiteOpt = Annotated[str | None, typer.Option("--site", "-s", help="Site name (default: the only site).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write the output to this file.")]
FailOnOpt = Annotated[str, typer.Option("--fail-on", help="Exit 1 when a finding is at or above this severity.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who is acting (default: the login name).")]
DEFAULT_CONFIG = Path(CONFIG_FILENAME)


def fail(message: str, hint: str | None = None) -> NoReturn:
    line = f"skimguard: error: {message}"
    if hint:
        line += f" (hint: {hint})"
    err.print(escape(line.replace("\n", " ")), soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def errors() -> Iterator[None]:
    """Expected errors become one line on stderr and exit code 2."""
    try:
        yield
    except SkimguardError as e:
        fail(str(e), e.hint)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def actor(by: str | None) -> str:
    if by:
        return by
    import getpass  # (imported when needed: every command pays for what the CLI imports up front)

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def parse_severity(value: str, option: str = "--fail-on") -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as e:
        fail(f"{option}: {e}")


def pick_site(config: Config, name: str | None) -> Site:
    if name:
        return config.site(name)
    if len(config.sites) == 1:
        return config.sites[0]
    names = ", ".join(s.name for s in config.sites)
    raise ConfigError(f"this config has several sites ({names})", hint="choose one with --site NAME")


@contextmanager
def opened(config: Config) -> Iterator[Store]:
    from skimguard.store import Store

    store = Store.open(config.database_url)
    try:
        yield store
    finally:
        store.close()


def emit(text: str, output: Path | None) -> None:
    text = text if text.endswith("\n") else text + "\n"
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror}")
    err.print(f"wrote {escape(str(output))}")


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"skimguard {__version__}")
        raise typer.Exit(0)


# ------------------------------------------------------------------------------------------ init


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = DEFAULT_CONFIG,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example skimguard.yaml."""
    if path.exists() and not force:
        fail(f"{path} already exists", "use --force to overwrite it")
    from importlib import resources

    text = resources.files("skimguard").joinpath("example.yaml").read_text("utf-8")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror}")
    out.print(f"wrote {escape(str(path))}: edit the site, its payment hosts and journeys, then run `skimguard scan`")


# ------------------------------------------------------------------------------------------ scan


def progress_display() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no stray lines on a piped stderr (one-line errors, DESIGN §5)
    )


async def scan_sites(
    config: Config, sites: list[Site], store: Store, *, alert: bool, console: Console
) -> list[ScanResult]:
    """Scan ``sites`` one after the other in one browser, with a live progress display."""
    from skimguard.monitor import browser_for, scan_site

    results = []
    with progress_display() as progress:
        tasks: dict[str, Any] = {}

        def on_journey(site: str, journey: str, event: str) -> None:
            key = f"{site}/{journey}"
            if event == "start":
                name = journey.split("@", 1)[0]  # a second pass is labelled journey@identity
                steps = next(len(j.steps) for s in sites if s.name == site for j in s.journeys if j.name == name)
                tasks[key] = progress.add_task(escape(key), total=steps)
            else:
                progress.update(tasks[key], description=f"{escape(key)} {event.split(':', 1)[-1]}")

        def on_step(journey: str, index: int, total: int, what: str) -> None:
            for key, task in tasks.items():
                if key.endswith("/" + journey):
                    progress.update(task, completed=index, description=f"{escape(key)}: {escape(what[:50])}")

        async with browser_for(sites) as browser:
            for site in sites:
                outcome = await scan_site(
                    config,
                    site,
                    store,
                    browser,
                    alert=alert,
                    console=console,
                    on_step=on_step,
                    on_journey=on_journey,
                )
                results.append(outcome.result)
    return results


@app.command()
def scan(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: Annotated[list[str] | None, typer.Option("--site", "-s", help="Scan only this site (repeatable).")] = None,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    fail_on: FailOnOpt = "high",
    alerts: Annotated[bool, typer.Option("--alerts/--no-alerts", help="Send alerts to the configured sinks.")] = True,
) -> None:
    """Run every journey of the site(s) in Chromium, compare with the baseline, store, alert."""
    import asyncio

    from skimguard.output import render_scan, scans_to_json

    threshold = parse_severity(fail_on)
    with errors():
        config = load_config(config_path)
        sites = [config.site(n) for n in site] if site else list(config.sites)
        with opened(config) as store:
            results = asyncio.run(scan_sites(config, sites, store, alert=alerts, console=err))
    if format is Format.json:
        emit(dumps(scans_to_json(results)), output)
    else:
        console = out if output is None else Console(file=io.StringIO(), width=140, highlight=False)
        for result in results:
            render_scan(console, result)
        if output is not None:
            emit(console.file.getvalue(), output)  # type: ignore[attr-defined]
    failed = [r.site for r in results if r.status is ScanStatus.FAILED]
    if failed:
        fail(f"scan failed for {', '.join(failed)}: no page could be loaded", "see the health findings (SG0xx)")
    worst = max((f.severity for r in results for f in r.findings), default=None)
    raise typer.Exit(1 if worst is not None and worst >= threshold else 0)


# ------------------------------------------------------------------------------------------ watch


@app.command()
def watch(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    once: Annotated[bool, typer.Option("--once", help="Scan every site once, then exit.")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=16, help="Sites scanned at once.")] = 2,
    rounds: Annotated[int | None, typer.Option("--rounds", hidden=True)] = None,
) -> None:
    """Scan each site on its schedule (`schedule: every:`); a failing site does not stop the others."""
    import asyncio

    from skimguard.watch import Watcher

    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            watcher = Watcher(config, store, console=err, concurrency=concurrency)
            asyncio.run(watcher.run(rounds=1 if once else rounds))


# ------------------------------------------------------------------------------------------ scans, rules


@app.command()
def scans(
    config_path: ConfigOpt = DEFAULT_CONFIG,
    site: Annotated[str | None, typer.Option("--site", "-s")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    format: FormatOpt = Format.table,
) -> None:
    """Recent scans of every site (or one); telemetry checks show as kind `telemetry`."""
    from skimguard.telemetry import scan_kind

    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            rows = store.scans(site, limit=limit)
    if format is Format.json:
        listed = [
            {"scan_id": r.id, "kind": scan_kind(r.id), "site": r.site, "started_at": r.started_at.isoformat(),
             "finished_at": r.finished_at.isoformat() if r.finished_at else None, "status": r.status}
            for r in rows
        ]  # fmt: skip
        emit(dumps({"schema": "skimguard.scans/1", "scans": listed}), None)
        return
    table = Table("scan", "kind", "site", "started (UTC)", "status")
    for r in rows:
        kind = scan_kind(r.id)  # a telemetry check's "failed" only keeps it out of the scan logic
        status = r.status if kind == "scan" else "-"
        table.add_row(r.id, kind, escape(r.site), f"{r.started_at:%Y-%m-%d %H:%M:%S}", status)
    out.print(table)


@app.command()
def rules(format: FormatOpt = Format.table) -> None:
    """Every rule: ID, category, default severity and title (`--format json` adds the documentation)."""
    from skimguard.detect.registry import ALL_RULES

    if format is Format.json:
        emit(
            dumps(
                [
                    {
                        "id": r.id,
                        "title": r.title,
                        "category": r.category.value,
                        "severity": r.severity.label,
                        "confidence": r.confidence.label,
                        "doc": r.doc,
                    }
                    for r in ALL_RULES
                ]
            ),
            None,
        )
        return
    table = Table("rule", "category", "severity", "title")
    for r in ALL_RULES:
        table.add_row(r.id, r.category.value, r.severity.label, escape(r.title))
    out.print(table)


# ------------------------------------------------------------------------------------------ demo


@app.command()
def demo(
    scenario: Annotated[list[str] | None, typer.Option("--scenario", help="Attack(s) to show (default: all).")] = None,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Keep the demo's config and database here.")] = None,
) -> None:
    """The whole story on the bundled shop: scan it clean, accept the baseline, attack it, catch it."""
    from skimguard.demo.story import ATTACKS, run_demo

    chosen = scenario or list(ATTACKS)
    unknown = [s for s in chosen if s not in ATTACKS]
    if unknown:
        fail(f"unknown scenario {unknown[0]!r}", f"choose from {', '.join(ATTACKS)}")
    with errors():
        caught = run_demo(chosen, workdir=workdir, console=out)
    raise typer.Exit(0 if caught else 1)


# The other commands live in modules of their own; importing one registers its commands on
# `app`. A command line needs only the module of its command: `main` imports just that one, since
# every command pays at start-up for what it imports (a re-scan of an unchanged web root is mostly
# start-up). Anything else (`--help`, a mistyped command) loads them all, as `load_commands()` does
# for library users such as the tests. tests/test_cli_config.py checks this map against what each
# module registers.
COMMAND_MODULES: dict[str, str] = {
    "analyze": "cli_analyze",
    "intel": "cli_analyze",
    "db": "cli_db",
    "baseline": "cli_groups",
    "findings": "cli_groups",
    "inventory": "cli_groups",
    "incident": "cli_incident",
    "knowngood": "cli_knowngood",
    "csp": "cli_policy",
    "serve": "cli_serve",
    "telemetry": "cli_telemetry",
    "webroot": "cli_webroot",
}


def load_commands(argv: Sequence[str] | None = None) -> None:
    """Register the commands of the command line ``argv`` (without the program name) on
    :data:`app`: when its first word is a command of :data:`COMMAND_MODULES`, only that module's;
    otherwise (None, an option first, a command of this module, an unknown word) all of them."""
    first = argv[0] if argv else None
    if first is not None and first in COMMAND_MODULES:
        modules = [COMMAND_MODULES[first]]
    elif first is not None and first in _own_commands():
        modules = []
    else:
        modules = sorted(set(COMMAND_MODULES.values()))
    for module in modules:
        importlib.import_module(f"skimguard.{module}")


def _own_commands() -> set[str]:
    """The names of the commands this module registers (typer names them after the function)."""
    return {
        c.name or (c.callback.__name__.replace("_", "-") if c.callback else "") for c in app.registered_commands
    }


# Commands that run in a process of their own, once, and build objects that live until it ends
# (a web root's stat cache: a million strings and integers in tuples) but no garbage cycles to
# speak of: their process runs without the cyclic collector, which would otherwise walk those
# objects again and again while they are built (~0.1 s of a 100,000-file re-scan). Not for the
# commands that run for long (watch, serve) or drive a browser.
UNCOLLECTED_COMMANDS: frozenset[str] = frozenset({"webroot"})


def main() -> None:
    if sys.argv[1:2] and sys.argv[1] in UNCOLLECTED_COMMANDS:
        gc.disable()
    load_commands(sys.argv[1:])
    try:
        app()
    finally:
        # What the command built (a web root's stat cache: a million objects) is freed at exit
        # anyway; frozen, it is left out of the interpreter's last collection, which would
        # otherwise walk all of it once more (~0.1 s on a 100,000-file re-scan).
        gc.freeze()
