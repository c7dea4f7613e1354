"""Work that ``skimguard serve`` does in the background of the collector (the telemetry check).

A :class:`PeriodicJob` runs its function every ``every`` seconds on a worker thread, never on the
event loop: the function may read and write the database and wait for slow alert sinks (a webhook,
SMTP) while report requests go on being answered. Runs never overlap (the next one starts
``every`` seconds after the previous one ended), a failing run is logged and the next one comes on
time, and at shutdown :meth:`PeriodicJob.drain` waits (bounded) for a run in progress, so that the
store is not closed under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

__all__ = ["PeriodicJob"]

log = logging.getLogger("skimguard.collector")

MAX_LOGGED_FAILURES = 5  # tracebacks logged per job; later failures get one line each


class PeriodicJob:
    """Call ``job`` every ``every`` seconds in a thread; its return value, if any, is logged.

    Use :meth:`run` as a task on the server's event loop, cancel it at shutdown, then await
    :meth:`drain`.
    """

    def __init__(self, name: str, every: float, job: Callable[[], str | None]) -> None:
        if every <= 0:
            raise ValueError("a periodic job needs an interval above 0 seconds")
        self.name = name
        self.every = every
        self._job = job
        self._lock = threading.Lock()
        self._runs = 0
        self._failures = 0
        self._current: asyncio.Future[None] | None = None

    @property
    def runs(self) -> int:
        """Runs that ended without an exception."""
        with self._lock:
            return self._runs

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    async def run(self) -> None:
        """Forever: wait ``every`` seconds, then run the job in a thread and wait for it."""
        while True:
            await asyncio.sleep(self.every)
            self._current = asyncio.ensure_future(asyncio.to_thread(self._run_once))
            # Cancelling this task at shutdown must not abandon the thread's run: drain() waits for it.
            await asyncio.shield(self._current)

    async def drain(self, timeout: float) -> None:
        """Wait at most ``timeout`` seconds for a run in progress to end."""
        current = self._current
        if current is not None and not current.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(current), timeout)

    def _run_once(self) -> None:
        try:
            line = self._job()
        except Exception as exc:  # the server must outlive a failing check
            with self._lock:
                self._failures += 1
                failures = self._failures
            if failures <= MAX_LOGGED_FAILURES:
                log.exception("%s failed", self.name)
            else:
                log.error("%s failed: %s", self.name, str(exc)[:300] or type(exc).__name__)
            return
        with self._lock:
            self._runs += 1
        if line:
            log.info("%s", line)
