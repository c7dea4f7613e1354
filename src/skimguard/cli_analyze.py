"""Commands of ``skimguard`` around code: ``analyze`` and the ``intel`` group."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skimguard.cli import (
    DEFAULT_CONFIG,
    ByOpt,
    ConfigOpt,
    FailOnOpt,
    Format,
    FormatOpt,
    OutputOpt,
    actor,
    app,
    dumps,
    emit,
    err,
    errors,
    fail,
    opened,
    out,
    parse_severity,
    progress_display,
)
from skimguard.config import load_config
from skimguard.errors import ConfigError

intel_app = typer.Typer(help="Threat-intelligence feeds (skimmer domains, URLs, paths, hashes).", no_args_is_help=True)
app.add_typer(intel_app, name="intel")


@app.command()
def analyze(
    paths: Annotated[list[str], typer.Argument(help="Files or directories (recursively); - reads stdin.")],
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    fail_on: FailOnOpt = "high",
    intel: Annotated[
        list[Path] | None, typer.Option("--intel", help="Also match this indicator feed (repeatable).")
    ] = None,
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Use the threat intel and known-good hashes of this config's database."
        ),
    ] = None,
    show_clean: Annotated[bool, typer.Option("--show-clean", help="List clean files too (table).")] = False,
) -> None:
    """Static analysis of JavaScript, HTML, PHP and templates: rules, structure, light deobfuscation.

    Exit 1 when a finding is at or above --fail-on (default high), 2 on an error."""
    from skimguard.analyze.engine import Options, analyze_bytes
    from skimguard.analyze.files import FileData, Unreadable, iter_paths, read
    from skimguard.analyze.known_good import known_good_set
    from skimguard.analyze.report import render, to_json
    from skimguard.intel import Indicator, IntelIndex, parse_feed

    threshold = parse_severity(fail_on)
    indicators: list[Indicator] = []
    vouched: dict[str, tuple[str, str]] = {}  # known-good hashes of the database
    with errors():
        for feed in intel or ():
            indicators.extend(parse_feed(_read_feed(feed), feed.name).indicators)
        if config_path is not None:
            with opened(load_config(config_path)) as store:
                indicators.extend(store.indicators())
                vouched = store.known_good()
    options = Options(intel=IntelIndex.build(indicators) if indicators else None, known_good=known_good_set(vouched))
    if paths.count("-") > 1:
        fail("stdin (-) can be given once")
    targets = list(iter_paths(paths))
    verdicts = []
    unreadable: list[tuple[str, str]] = []
    with progress_display() as progress:
        task = progress.add_task("analysing", total=len(targets))
        for target in targets:
            data = target if isinstance(target, Unreadable) else read(target)
            if isinstance(data, FileData):
                progress.update(task, description=escape(data.path[-50:]))
                verdicts.append(analyze_bytes(data.head, data.path, options, sha256=data.sha256, size=data.size))
            else:
                unreadable.append((data.path, data.reason))
            progress.advance(task)
    if not verdicts and unreadable:
        fail(f"nothing to analyse: {unreadable[0][0]}: {unreadable[0][1]}")
    if format is Format.json:
        emit(dumps(to_json(verdicts, unreadable)), output)
    else:
        console = out if output is None else Console(file=io.StringIO(), width=160, highlight=False)
        render(console, verdicts, unreadable, show_clean=show_clean)
        if output is not None:
            emit(console.file.getvalue(), output)  # type: ignore[attr-defined]
    worst = max((h.severity for v in verdicts for h in v.hits), default=None)
    raise typer.Exit(1 if worst is not None and worst >= threshold else 0)


def _read_feed(path: Path) -> str:
    from skimguard.intel import MAX_FEED_BYTES

    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FEED_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_FEED_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB")
    return raw.decode("utf-8", errors="replace")


@intel_app.command("import")
def intel_import(
    file: Annotated[Path, typer.Argument(help="Indicator list: one domain, URL, path or hash a line, # comments.")],
    source: Annotated[str | None, typer.Option("--source", help="Name of the feed (default: the file name).")] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Load a feed; importing the same source again replaces its indicators (a refresh)."""
    from skimguard.intel import parse_feed

    name = source or file.stem
    with errors():
        feed = parse_feed(_read_feed(file), name)
        if not feed.indicators:
            raise ConfigError(f"{file}: no indicators found ({feed.skipped} line(s) skipped)")
        with opened(load_config(config_path)) as store:
            result = store.replace_indicators(name, feed.indicators, actor(by))
    out.print(
        f"intel {escape(name)}: {result.total} indicator(s), {result.added} added, {result.removed} removed"
        + (f"; {feed.skipped} line(s) skipped" if feed.skipped else "")
    )
    if feed.skipped_examples:
        err.print(f"skipped, e.g.: {escape(', '.join(feed.skipped_examples[:3]))}")


@intel_app.command("list")
def intel_list(config_path: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Imported feeds: source, indicators, last import."""
    with errors(), opened(load_config(config_path)) as store:
        rows = store.intel_sources()
    table = Table("source", "indicators", "imported (UTC)")
    for src, count, at in rows:
        table.add_row(escape(src), str(count), f"{at:%Y-%m-%d %H:%M:%S}")
    out.print(table)
