"""``skimguard watch``: scan every site on its own schedule, for ever.

Never two scans of one site at once; a site that fails (unreachable, browser crash, bug) is logged
and scanned again at its next turn, and the other sites go on. One Chromium serves every scan; it is
started again if it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from playwright.async_api import Browser, Playwright, async_playwright
from rich.console import Console
from rich.markup import escape

from skimguard.capture.browser import launch_browser
from skimguard.config import Config, Site
from skimguard.monitor import scan_site
from skimguard.store import Store


class Watcher:
    def __init__(self, config: Config, store: Store, *, console: Console, concurrency: int = 2) -> None:
        self.config = config
        self.store = store
        self.console = console
        self.limit = asyncio.Semaphore(concurrency)
        self.running: set[str] = set()
        self.done: dict[str, int] = {s.name: 0 for s in config.sites}
        self.failures: dict[str, int] = {s.name: 0 for s in config.sites}
        self._browser: Browser | None = None
        self._playwright: Playwright | None = None
        self._browser_lock = asyncio.Lock()

    async def browser(self) -> Browser:
        async with self._browser_lock:
            if self._browser is None or not self._browser.is_connected():
                assert self._playwright is not None
                hosts: dict[str, str] = {}
                for site in self.config.sites:
                    hosts.update(site.hosts)
                block = any(s.block_unmapped_hosts for s in self.config.sites)
                self._browser = await launch_browser(self._playwright, hosts, block_unmapped=block)
            return self._browser

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        async with async_playwright() as playwright:
            self._playwright = playwright
            try:
                yield
            finally:
                if self._browser is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self._browser.close(), 20)

    async def scan_one(self, site: Site) -> None:
        async with self.limit:
            started = time.monotonic()
            try:
                browser = await self.browser()
                outcome = await scan_site(self.config, site, self.store, browser, console=self.console)
                result = outcome.result
                worst = result.worst()
                self.console.print(
                    f"{time.strftime('%H:%M:%S')} {escape(site.name)}: {result.status.value}, "
                    f"{len(result.findings)} finding(s)"
                    + (f", worst {worst.label}" if worst is not None else "")
                    + f" ({time.monotonic() - started:.1f}s)"
                )
            except Exception as e:  # a failing site must not stop the watch
                self.failures[site.name] += 1
                self.console.print(
                    f"{time.strftime('%H:%M:%S')} {escape(site.name)}: scan failed: "
                    f"{escape(type(e).__name__)}: {escape(str(e)[:300])}"
                )
            finally:
                self.done[site.name] += 1
                self.running.discard(site.name)

    async def run(self, rounds: int | None = None) -> None:
        """Scan until stopped (or until every site was scanned ``rounds`` times)."""
        next_due = {s.name: 0.0 for s in self.config.sites}
        tasks: set[asyncio.Task[None]] = set()
        async with self._session():
            while True:
                now = time.monotonic()
                for site in self.config.sites:
                    finished = rounds is not None and self.done[site.name] + (site.name in self.running) >= rounds
                    if site.name in self.running or finished or next_due[site.name] > now:
                        continue
                    self.running.add(site.name)
                    next_due[site.name] = now + site.schedule.every
                    task = asyncio.create_task(self.scan_one(site))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if rounds is not None and all(n >= rounds for n in self.done.values()):
                    return
                wake = min(min(next_due.values()) - time.monotonic(), 5.0)
                if tasks:  # wake when a scan ends, or when the next one is due
                    await asyncio.wait(set(tasks), timeout=max(wake, 0.05), return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(max(wake, 0.2))
