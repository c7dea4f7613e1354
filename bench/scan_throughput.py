"""Journeys per minute against the demo shop: skimguard's capture vs. bare Playwright.

Runs the demo checkout journey with 1, 2 and 4 concurrent browser contexts, once through
skimguard's full capture (CDP recorder, script bodies, DOM snapshots) and once as the same steps in
bare Playwright without any capture, side by side in one process and one Chromium. Reports journeys
per minute, the capture/bare time ratio, and the peak memory (this process plus every Chromium
process, proportional set size so shared pages count once) at each concurrency.

Targets on a 2-core machine: >= 30 demo journeys/min, capture overhead <= 1.3x, peak < 1 GiB at 4.

    .venv/bin/python bench/scan_throughput.py [--journeys-per-worker N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from playwright.async_api import Browser, async_playwright

from skimguard.canary import fill_placeholders, new_canary
from skimguard.capture.browser import launch_browser, new_scan_context
from skimguard.capture.journey import SETTLE_AFTER, run_journey
from skimguard.config import Journey, Site, config_from_dict
from skimguard.demo import DemoShop
from skimguard.demo.journeys import demo_site_config
from skimguard.models import ScanStatus


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages split between the processes that share them."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_memory_bytes(root: int) -> int:
    """Memory (PSS) of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            rss[int(entry)] = pss_bytes(int(entry))
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


class PeakMemory:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_memory_bytes(os.getpid()))
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def bare_journey(browser: Browser, site: Site, journey: Journey) -> bool:
    """The same steps with bare Playwright: no recorder, no CDP, no DOM snapshots."""
    context, _ = await new_scan_context(browser, site.identity)
    card = new_canary(datetime.now(UTC))
    try:
        page = await context.new_page()
        for step in journey.steps:
            ms = (step.timeout or site.step_timeout) * 1000
            try:
                if step.goto is not None:
                    await page.goto(site.absolute(step.goto), wait_until="load", timeout=ms)
                elif step.click is not None:
                    await page.click(step.click, timeout=ms)
                elif step.fill is not None:
                    for sel, value in step.fill.items():
                        await page.fill(sel, fill_placeholders(value, card), timeout=ms)
                elif step.select is not None:
                    for sel, value in step.select.items():
                        await page.select_option(sel, label=value, timeout=ms)
                elif step.fill_card is not None:
                    card_fields = step.fill_card
                    assert isinstance(card_fields.number, str)
                    for selector, value in (
                        (card_fields.number, card.card_number),
                        (card_fields.expiry, card.expiry),
                        (card_fields.cvc, card.cvc),
                        (card_fields.name, card.holder),
                    ):
                        if selector:
                            field = page.locator(selector).first
                            await field.click(timeout=ms)
                            await field.press_sequentially(value, delay=15, timeout=ms)
                            await field.blur(timeout=ms)
                elif step.wait_for is not None:
                    await page.locator(step.wait_for).first.wait_for(state="attached", timeout=ms)
                if step.action in SETTLE_AFTER:
                    await page.wait_for_load_state("load", timeout=ms)
                    with contextlib.suppress(Exception):
                        await page.wait_for_load_state("networkidle", timeout=site.dwell * 1000)
            except Exception:
                if step.wait_for is None:
                    raise
        return True
    finally:
        await context.close()


async def captured_journey(browser: Browser, site: Site, journey: Journey) -> bool:
    capture = await run_journey(browser, site, journey, new_canary(datetime.now(UTC)))
    return capture.status is ScanStatus.OK


async def measure(
    browser: Browser,
    site: Site,
    journey: Journey,
    workers: int,
    per_worker: int,
    runner: Callable[[Browser, Site, Journey], Awaitable[bool]],
) -> tuple[float, int, int]:
    ok = 0

    async def worker() -> None:
        nonlocal ok
        for _ in range(per_worker):
            succeeded = await runner(browser, site, journey)
            ok += succeeded

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.monotonic() - started, ok, workers * per_worker


async def main(per_worker: int) -> None:
    with DemoShop() as shop:
        data = demo_site_config(shop)
        site = config_from_dict({"sites": [data]}).sites[0]
        journey = site.journeys[0]  # checkout: product -> cart -> address -> payment -> thanks
        async with async_playwright() as pw:
            browser = await launch_browser(pw, site.hosts, block_unmapped=True)
            await captured_journey(browser, site, journey)  # warm up the browser and the shop
            await bare_journey(browser, site, journey)
            print(
                f"demo checkout journey ({len(journey.steps)} steps, 5 pages), {per_worker} journeys per "
                f"context, {os.cpu_count()} cores"
            )
            print(
                f"{'contexts':>8} {'bare j/min':>11} {'capture j/min':>14} {'overhead':>9} "
                f"{'capture ok':>11} {'peak MiB':>9}"
            )
            for workers in (1, 2, 4):
                bare_s, _, n = await measure(browser, site, journey, workers, per_worker, bare_journey)
                with PeakMemory() as mem:
                    cap_s, ok, _ = await measure(browser, site, journey, workers, per_worker, captured_journey)
                print(
                    f"{workers:>8} {n / bare_s * 60:>11.1f} {n / cap_s * 60:>14.1f} {cap_s / bare_s:>8.2f}x "
                    f"{ok:>5}/{n:<5} {mem.peak / 2**20:>9.0f}"
                )
            await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys-per-worker", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.journeys_per_worker))
