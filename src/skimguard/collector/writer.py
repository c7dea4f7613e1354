"""The collector's durable writer: one thread commits the reports of every request in batches.

A report is acknowledged (HTTP 204) only once it is committed, so that an acknowledged report
survives a crash (``kill -9``) of the collector. Committing every request on its own would cost
one transaction per request; instead the requests hand their parsed reports to
:class:`ReportWriter` and wait, and its one thread takes everything that arrived while the
previous transaction was committing and commits it in ONE transaction (group commit). When idle,
a request is committed alone at once (no waiting for a batch to fill). Under load the writer
waits a moment for the requests that are already being read and parsed (the collector tells it:
:meth:`ReportWriter.arrive` / :meth:`ReportWriter.depart`), at most :data:`LINGER`: a transaction
costs a fixed few hundred microseconds plus some tens per distinct report, all of it under the
interpreter lock the requests need too: with 16 busy clients, batches of 7 requests cost the
writer about 120 microseconds per request, batches of 14 about 60 (``bench/collector_load.py``).
It never waits for requests that have not arrived, so an idle collector answers at once.

While it writes, the batch is aggregated (:func:`group_batch`, pure): identical reports
(:func:`skimguard.collector.reports.aggregate_key`) become one :class:`ReportGroup` with a count
and a few bounded samples, and :meth:`skimguard.store.Store.record_reports` adds them to the
``reports`` table with upserts, so a million identical reports are one row with a count.

Memory is bounded: :meth:`ReportWriter.submit` refuses work (:class:`WriterBusy`, HTTP 429)
while more than ``max_pending`` reports wait. A failing transaction fails the requests of its
batch (their futures get :class:`WriterFailed`, HTTP 503; nothing is retried: the browsers
retry, and nothing was acknowledged) and the writer goes on with the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from skimguard.collector.reports import AggregateKey, Report, aggregate_key
from skimguard.errors import SkimguardError
from skimguard.store import Store
from skimguard.store.store import MAX_REPORT_SAMPLES, ReportGroup

__all__ = ["ReportWriter", "WriterBusy", "WriterClosed", "WriterFailed", "WriterStats", "group_batch"]

log = logging.getLogger("skimguard.collector")

MAX_BATCH_REPORTS = 5_000  # reports in one transaction
MAX_PENDING_REPORTS = 50_000  # reports waiting for the writer before submit() refuses more
ACTIVITY_KEPT = timedelta(days=35)  # hourly activity rows older than this are pruned
PRUNE_EVERY = 3600.0  # seconds
LINGER = 0.005  # seconds a batch may wait at most for requests that are still arriving


class WriterError(SkimguardError):
    """The writer cannot take or store a batch (the collector answers 429 or 503)."""


class WriterBusy(WriterError):
    """Too many reports wait to be written: try again soon (HTTP 429)."""


class WriterClosed(WriterError):
    """The writer is shutting down (HTTP 503)."""


class WriterFailed(WriterError):
    """The transaction holding this request's reports failed (HTTP 503)."""


@dataclass(frozen=True)
class WriterStats:
    """Totals since the writer started."""

    batches: int = 0
    requests: int = 0
    reports: int = 0
    noise: int = 0
    failed_batches: int = 0
    pending: int = 0
    largest_batch: int = 0
    last_error: str | None = None


@dataclass
class _Item:
    site: str
    reports: Sequence[Report]
    noise: int
    future: asyncio.Future[None]


@dataclass
class _Totals:
    batches: int = 0
    requests: int = 0
    reports: int = 0
    noise: int = 0
    failed_batches: int = 0
    largest_batch: int = 0
    last_error: str | None = None
    pending: list[_Item] = field(default_factory=list)
    pending_reports: int = 0


def group_batch(
    items: Iterable[tuple[str, Sequence[Report], int]],
) -> tuple[list[ReportGroup], dict[str, tuple[int, int]]]:
    """Aggregate ``(site, reports, noise)`` items: the report groups and, per site, (kept, noise).

    Each group keeps at most :data:`MAX_REPORT_SAMPLES` distinct pages (document URLs with their
    query), user agents, script samples and ``source-file:line:column`` positions. This runs on the
    writer thread for every report under the interpreter lock the requests need too, so it is kept
    to dict lookups and short list checks.
    """
    limit = MAX_REPORT_SAMPLES
    # (site, key) -> [count, pages, user agents, samples, sources]
    entries: dict[tuple[str, AggregateKey], list[Any]] = {}
    activity: dict[str, tuple[int, int]] = {}
    for site, reports, noise in items:
        kept, dropped = activity.get(site, (0, 0))
        activity[site] = (kept + len(reports), dropped + noise)
        for report in reports:
            ident = (site, aggregate_key(report))
            entry = entries.get(ident)
            if entry is None:
                entry = entries[ident] = [0, [], [], [], []]
            entry[0] += 1
            value = report.document_url
            values = entry[1]
            if value and len(values) < limit and value not in values:
                values.append(value)
            value = report.user_agent
            values = entry[2]
            if value and len(values) < limit and value not in values:
                values.append(value)
            value = report.sample
            values = entry[3]
            if value and len(values) < limit and value not in values:
                values.append(value)
            if report.source_file:
                values = entry[4]
                if len(values) < limit:
                    value = f"{report.source_file}:{report.line}:{report.column}"
                    if value not in values:
                        values.append(value)
    groups = [
        ReportGroup(
            site=site,
            key=key,
            count=count,
            pages=tuple(pages),
            user_agents=tuple(agents),
            samples=tuple(samples),
            sources=tuple(sources),
        )
        for (site, key), (count, pages, agents, samples, sources) in entries.items()
    ]
    return groups, activity


class ReportWriter:
    """Commit accepted reports in batches on one thread; each request awaits its batch.

    Use :meth:`start`, then :meth:`submit` from the event loop and await what it returns; call
    :meth:`close` to write what is pending and stop.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = MAX_BATCH_REPORTS,
        max_pending: int = MAX_PENDING_REPORTS,
        linger: float = LINGER,
    ) -> None:
        self._store = store
        self._max_batch = max(1, max_batch)
        self._max_pending = max(1, max_pending)
        self._linger = max(0.0, linger)
        self._arriving = 0  # requests being read and parsed, that will submit or depart (under _cond)
        self._lingering = False  # the thread waits for them (under _cond)
        self._cond = threading.Condition()
        self._totals = _Totals()
        self._closing = False
        self._idle = False  # the thread waits for work (guarded by _cond)
        self._thread = threading.Thread(target=self._run, name="skimguard-report-writer", daemon=True)
        self._last_prune = 0.0

    # ---- API ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def arrive(self) -> None:
        """A request is being read: a batch about to be committed may wait for it (until
        :meth:`depart`, at most ``linger`` seconds). Call :meth:`depart` once it is queued or refused."""
        with self._cond:
            self._arriving += 1

    def depart(self) -> None:
        """The request announced by :meth:`arrive` is queued (:meth:`submit`) or refused."""
        with self._cond:
            self._arriving = max(0, self._arriving - 1)
            if self._arriving == 0 and self._lingering:
                self._cond.notify()

    def submit(self, site: str, reports: Sequence[Report], noise: int = 0) -> asyncio.Future[None]:
        """Queue one request's reports; the future is done when they are committed.

        Must be called from a running event loop. Raises :class:`WriterBusy` when too much is
        pending, :class:`WriterClosed` after :meth:`close`; the future fails with
        :class:`WriterFailed` when the transaction fails.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._cond:
            if self._closing or not self._thread.is_alive():
                raise WriterClosed("the report writer is stopped")
            if self._totals.pending_reports + len(reports) > self._max_pending:
                raise WriterBusy(f"more than {self._max_pending} reports wait to be written")
            self._totals.pending.append(_Item(site, reports, noise, future))
            self._totals.pending_reports += len(reports)
            if self._idle:
                self._cond.notify()
        return future

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop taking reports, commit everything pending, stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closing

    @property
    def healthy(self) -> bool:
        """Running, and the last transaction (if any) succeeded."""
        with self._cond:
            return self.alive and self._totals.last_error is None

    def stats(self) -> WriterStats:
        with self._cond:
            s = self._totals
            return WriterStats(
                batches=s.batches,
                requests=s.requests,
                reports=s.reports,
                noise=s.noise,
                failed_batches=s.failed_batches,
                pending=s.pending_reports,
                largest_batch=s.largest_batch,
                last_error=s.last_error,
            )

    # ---- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._totals.pending and not self._closing:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                if not self._totals.pending:
                    return  # closing, and everything is written
                if self._arriving and self._linger:
                    self._wait_for_arrivals()
                batch = self._take()
            self._write(batch)
            self._maybe_prune()

    def _wait_for_arrivals(self) -> None:
        """Let the requests still being read join this batch: wait until none is arriving, the
        batch is full, the writer closes, or ``linger`` seconds passed. Lock held (``wait``
        releases it, so the requests can queue)."""
        deadline = time.monotonic() + self._linger
        self._lingering = True
        try:
            while self._arriving and self._totals.pending_reports < self._max_batch and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)
        finally:
            self._lingering = False

    def _take(self) -> list[_Item]:
        """Everything pending, up to max_batch reports (at least one request). Lock held."""
        pending = self._totals.pending
        taken, size = 0, 0
        while taken < len(pending) and (taken == 0 or size + len(pending[taken].reports) <= self._max_batch):
            size += len(pending[taken].reports)
            taken += 1
        batch, self._totals.pending = pending[:taken], pending[taken:]
        self._totals.pending_reports -= size
        return batch

    def _write(self, batch: list[_Item]) -> None:
        error: BaseException | None = None
        try:
            groups, activity = group_batch((item.site, item.reports, item.noise) for item in batch)
            self._store.record_reports(groups, activity, at=datetime.now(UTC))
        except Exception as exc:  # a broken database must not kill the writer
            error = exc
            log.error("collector: writing %d request(s) failed: %s", len(batch), exc)
        with self._cond:
            s = self._totals
            s.batches += 1
            if error is None:
                size = sum(len(item.reports) for item in batch)
                s.requests += len(batch)
                s.reports += size
                s.noise += sum(item.noise for item in batch)
                s.largest_batch = max(s.largest_batch, size)
                s.last_error = None
            else:
                s.failed_batches += 1
                s.last_error = str(error)[:300] or type(error).__name__
        _settle(batch, None if error is None else WriterFailed(f"the reports could not be stored: {error}"))

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = now
        try:
            self._store.prune_report_activity(datetime.now(UTC) - ACTIVITY_KEPT)
        except Exception as exc:
            log.warning("collector: pruning old report activity failed: %s", exc)


def _settle(batch: Sequence[_Item], error: WriterError | None) -> None:
    """Resolve the batch's futures on their event loops (one wake-up per loop)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = defaultdict(list)
    for item in batch:
        by_loop[item.future.get_loop()].append(item.future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, futures, error)


def _resolve(futures: Sequence[asyncio.Future[None]], error: WriterError | None) -> None:
    for future in futures:
        if future.done():  # cancelled: the client went away
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
