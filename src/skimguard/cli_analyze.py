"""Commands of ``skimguard`` around code: ``analyze`` and the ``intel`` group.

``analyze`` of a directory uses every core (:class:`AnalysisPool`): the engine is CPU-bound Python
plus yara-x and tree-sitter, so one process per core, each initialised once (rules compiled,
options received), working through batches of files; verdicts come back in the order the files
were listed, so the output is the same as with ``--jobs 1``.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from skimguard.analyze.engine import Options
    from skimguard.analyze.files import Unreadable
    from skimguard.analyze.model import FileVerdict

BATCH_FILES = 32  # files per task sent to a worker: fewer round trips for small files...
BATCH_BYTES = 1024 * 1024  # ...while a batch of large files stays small enough to balance the load
AUTO_POOL_BYTES = 8 * 1024 * 1024  # --jobs not given: below this much data, starting workers costs more than it saves

OnBatch = Callable[[Sequence[str], float], None]  # paths done (last is the latest), CPU seconds spent on them


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_worker_options: Options | None = None


def _init_worker(options: Options) -> None:
    """Once per worker process: keep the options and build everything the engine builds on first
    use (rule sets, prefilters, parsers: :func:`.engine.warm_up`) before the first file."""
    global _worker_options
    from skimguard.analyze import engine
    from skimguard.gcpause import settle_after_warm_up

    _worker_options = options
    engine.warm_up(options)
    settle_after_warm_up()


def _analyze_file(path: Path, options: Options) -> FileVerdict | Unreadable:
    from skimguard.analyze.engine import analyze_bytes
    from skimguard.analyze.files import FileData, read

    data = read(path)
    if isinstance(data, FileData):
        return analyze_bytes(data.head, data.path, options, sha256=data.sha256, size=data.size)
    return data


def _analyze_batch(paths: list[str]) -> tuple[list[FileVerdict | Unreadable], float]:
    """In a worker: the outcomes of ``paths`` and the CPU seconds they took."""
    assert _worker_options is not None, "worker not initialised"
    started = time.process_time()
    outcomes = [_analyze_file(Path(path), _worker_options) for path in paths]
    return outcomes, time.process_time() - started


def _batches(paths: Sequence[tuple[int, Path]]) -> Iterator[list[tuple[int, Path]]]:
    """Consecutive files grouped by :data:`BATCH_FILES` and :data:`BATCH_BYTES` (by their size now)."""
    batch: list[tuple[int, Path]] = []
    size = 0
    for index, path in paths:
        size += _size(path)
        batch.append((index, path))
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class AnalysisPool:
    """Analyse many files with ``jobs`` processes (``1``: in this process, no pool).

    The workers start with the pool and are initialised once (:func:`_init_worker`), so a pool can
    run several lists of files (the benchmark times repeated runs). Use it as a context manager.
    """

    def __init__(self, options: Options, jobs: int) -> None:
        self.options = options
        self.jobs = max(1, jobs)
        self._executor: ProcessPoolExecutor | None = None
        if self.jobs > 1:
            # spawn: a fresh interpreter per worker, not a fork of a process that runs a progress thread
            self._executor = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(options,),
            )

    def __enter__(self) -> AnalysisPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def warm_up(self) -> None:
        """Start every worker and wait until each is initialised (for timing runs)."""
        if self._executor is not None:
            futures = [self._executor.submit(_analyze_batch, []) for _ in range(self.jobs)]
            for future in futures:
                future.result()

    def run(
        self, targets: Sequence[Path | Unreadable], on_batch: OnBatch | None = None
    ) -> list[FileVerdict | Unreadable]:
        """The outcome of each target, in the order of ``targets``. Stdin (``-``) and targets
        already unreadable are handled here; with one job, or one file, everything is."""
        from skimguard.analyze.files import Unreadable

        outcomes: list[FileVerdict | Unreadable | None] = [None] * len(targets)
        files: list[tuple[int, Path]] = []
        for index, target in enumerate(targets):
            if isinstance(target, Unreadable):
                outcomes[index] = target
            elif self._executor is None or str(target) == "-" or len(targets) == 1:
                started = time.process_time()
                outcomes[index] = _analyze_file(target, self.options)
                if on_batch is not None:
                    on_batch([str(target)], time.process_time() - started)
            else:
                files.append((index, target))
        if files and self._executor is not None:
            pending: dict[Future[tuple[list[FileVerdict | Unreadable], float]], list[tuple[int, Path]]] = {}
            for batch in _batches(files):
                pending[self._executor.submit(_analyze_batch, [str(path) for _, path in batch])] = batch
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = pending.pop(future)
                    results, cpu = future.result()
                    for (index, _), outcome in zip(batch, results, strict=True):
                        outcomes[index] = outcome
                    if on_batch is not None:
                        on_batch([str(path) for _, path in batch], cpu)
        return [outcome for outcome in outcomes if outcome is not None]


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
        typer.Option("--config", "-c", help="Use the threat intel and known-good hashes of this config's database."),
    ] = None,
    show_clean: Annotated[bool, typer.Option("--show-clean", help="List clean files too (table).")] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes to use (default: one per core when there are more than a few MiB to read).",
        ),
    ] = None,
) -> None:
    """Static analysis of JavaScript, HTML, PHP and templates: rules, structure, light deobfuscation.

    Exit 1 when a finding is at or above --fail-on (default high), 2 on an error."""
    from skimguard.analyze.engine import Options
    from skimguard.analyze.files import Unreadable, iter_paths
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
    workers = jobs if jobs is not None else (default_jobs() if _total_size(targets) >= AUTO_POOL_BYTES else 1)
    verdicts = []
    unreadable: list[tuple[str, str]] = []
    with progress_display() as progress, AnalysisPool(options, workers) as pool:
        task = progress.add_task("analysing", total=len(targets))

        def on_batch(done: Sequence[str], cpu: float) -> None:
            progress.update(task, description=escape(done[-1][-50:]), advance=len(done))

        for outcome in pool.run(targets, on_batch):
            if isinstance(outcome, Unreadable):
                unreadable.append((outcome.path, outcome.reason))
            else:
                verdicts.append(outcome)
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


def _size(path: Path) -> int:
    """The size of a file now; 0 when it cannot be read (reading it will say why)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _total_size(targets: Sequence[Path | Unreadable]) -> int:
    total = 0
    for target in targets:
        if isinstance(target, Path) and str(target) != "-":
            total += _size(target)
        if total >= AUTO_POOL_BYTES:
            break
    return total


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
