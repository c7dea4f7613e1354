"""``skimguard serve --check-every``: the telemetry check runs in the server's background.

A real ``skimguard serve`` subprocess on loopback, a webhook sink on loopback (deliberately slow),
and reports posted the way browsers post them: the finding reaches the webhook within about one
interval, is sent once per content, report requests are answered at once while the check waits for
the slow sink, and SIGTERM still stops the server cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from skimguard.collector.periodic import PeriodicJob
from skimguard.loopback import LoopbackHandler, LoopbackServer
from skimguard.store import Store

EVERY = 0.5  # seconds between two checks
SINK_DELAY = 1.5  # seconds the webhook takes to answer


class Webhook(LoopbackServer):
    """Records the JSON bodies POSTed to it, answering each after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.receiving = threading.Event()
        super().__init__(0, _WebhookHandler)


class _WebhookHandler(LoopbackHandler):
    server: Webhook

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length))
        self.server.receiving.set()
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.bodies.append(body)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    path: str  # /r/{key} of the site "shop"
    database: Path
    banner: list[str] = field(default_factory=list)

    def post(self, body: bytes) -> tuple[int, float]:
        """(status, seconds) of one report POST on a new connection."""
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", self.path, body, {"Content-Type": "application/csp-report"})
            response = conn.getresponse()
            response.read()
            return response.status, time.monotonic() - started
        finally:
            conn.close()


@contextmanager
def serve(tmp_path: Path, webhook_url: str, *args: str) -> Iterator[Served]:
    site = {"name": "shop", "base_url": "https://shop.test/", "journeys": [{"name": "home", "steps": [{"goto": "/"}]}]}
    config = {
        "alerts": {"min_severity": "high", "sinks": [{"type": "webhook", "url": webhook_url, "timeout": "10s"}]},
        "sites": [site],
    }
    (tmp_path / "skimguard.yaml").write_text(json.dumps(config), encoding="utf-8")
    command = [sys.executable, "-c", "from skimguard.cli import main; main()", "serve", "--port", "0", *args]
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline().rstrip("\n") for _ in range(3)]
        assert banner[0].startswith("skimguard serve: listening on http://127.0.0.1:"), banner
        port = int(banner[0].split("127.0.0.1:")[1].split()[0])
        path = urlsplit(banner[1].split(": ", 1)[1]).path
        yield Served(process, port, path, tmp_path / "skimguard.db", banner)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def violation(blocked: str, directive: str = "img-src") -> bytes:
    report = {
        "document-uri": "https://shop.test/checkout/payment?step=2",
        "blocked-uri": blocked,
        "effective-directive": directive,
        "disposition": "report",
    }
    return json.dumps({"csp-report": report}).encode()


def test_serve_checks_telemetry_in_the_background_and_alerts_once(tmp_path: Path) -> None:
    webhook = Webhook(SINK_DELAY)
    webhook.serve_in_background("webhook")
    try:
        url = f"http://127.0.0.1:{webhook.port}/hook"
        with serve(tmp_path, url, "--check-every", str(EVERY), "--ip-rate", "0") as s:
            assert s.banner[2] == f"  telemetry check every {EVERY:g}s"
            assert s.post(violation("https://collect.evil.test/i.gif?d=NDExMQ"))[0] == 204
            sent_at = time.monotonic()
            # The check found it and is now waiting for the slow webhook: requests are still answered at once.
            assert webhook.receiving.wait(EVERY * 2 + 5), "no alert reached the webhook"
            first_alert = time.monotonic() - sent_at
            latencies = [s.post(violation("https://collect.evil.test/i.gif")) for _ in range(10)]
            assert [status for status, _ in latencies] == [204] * 10
            assert max(seconds for _, seconds in latencies) < 0.5  # not held up by the check's 1.5 s webhook
            assert webhook.receiving.is_set() and len(webhook.bodies) == 0  # the webhook had not answered yet
            time.sleep(SINK_DELAY + EVERY * 4)  # several more checks: same content, no second alert
            with webhook.lock:
                bodies = list(webhook.bodies)
            assert len(bodies) == 1
            (alert,) = bodies
            assert (alert["schema"], alert["site"]) == ("skimguard.alert/1", "shop")
            assert alert["scan_id"].startswith("telemetry-")
            assert [(f["rule_id"], f["severity"], f["page"], f["subject"]) for f in alert["findings"]] == [
                ("SG603", "high", "/checkout/payment", "collect.evil.test")
            ]
            # A new destination is a new finding: alerted at the next check.
            webhook.delay = 0
            assert s.post(violation("https://exfil.evil.test/c", "connect-src"))[0] == 204
            deadline = time.monotonic() + EVERY * 2 + 5
            while time.monotonic() < deadline and len(webhook.bodies) < 2:
                time.sleep(0.05)
            with webhook.lock:
                bodies = list(webhook.bodies)
            assert len(bodies) == 2
            # only what is new or changed is sent again
            assert [(f["rule_id"], f["severity"], f["subject"]) for f in bodies[1]["findings"]] == [
                ("SG603", "high", "exfil.evil.test")
            ]
            s.process.send_signal(signal.SIGTERM)
            out, err = s.process.communicate(timeout=30)
            assert s.process.returncode == 0, err
        assert out.strip().endswith("skimguard serve: stopped")
        assert first_alert < EVERY + 3
        assert "telemetry check: shop: 1 finding(s), stored as scan telemetry-" in err
        assert "1 alert(s) sent" in err
        assert "check of shop failed" not in err and "telemetry check failed" not in err and "alert failed" not in err
        with Store.open(f"sqlite:///{s.database}") as store:
            scans = [r for r in store.scans("shop") if r.id.startswith("telemetry-")]
            assert len(scans) == 2  # stored only when something new came: 2 of many checks
            assert {f.finding.rule_id for f in store.findings("shop")} == {"SG603"}
            assert store.report_total("shop") == 12
    finally:
        webhook.stop()


def test_check_every_zero_turns_it_off(tmp_path: Path) -> None:
    webhook = Webhook(0)
    webhook.serve_in_background("webhook")
    try:
        with serve(tmp_path, f"http://127.0.0.1:{webhook.port}/hook", "--check-every", "0") as s:
            assert s.banner[2] == "  telemetry check: off (--check-every 0)"
            assert s.post(violation("https://collect.evil.test/i.gif"))[0] == 204
            time.sleep(1.0)
            s.process.send_signal(signal.SIGTERM)
            _, err = s.process.communicate(timeout=30)
            assert s.process.returncode == 0, err
        assert webhook.bodies == [] and "telemetry check" not in err
        with Store.open(f"sqlite:///{s.database}") as store:
            assert store.report_total("shop") == 1 and store.findings("shop") == []
    finally:
        webhook.stop()


def test_periodic_job_survives_failures_never_overlaps_and_drains(caplog: pytest.LogCaptureFixture) -> None:
    running = threading.Event()
    calls: list[float] = []
    overlaps = []
    lock = threading.Lock()

    def job() -> str | None:
        if not lock.acquire(blocking=False):
            overlaps.append(1)
            return None
        try:
            calls.append(time.monotonic())
            running.set()
            if len(calls) == 2:
                raise RuntimeError("the database is locked")
            time.sleep(0.15)  # longer than the interval: the next run must wait for this one
            return f"run {len(calls)}"
        finally:
            lock.release()

    periodic = PeriodicJob("test job", 0.05, job)

    async def scenario() -> None:
        task = asyncio.create_task(periodic.run())
        await asyncio.sleep(0.9)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await periodic.drain(5)

    with caplog.at_level(logging.INFO, logger="skimguard.collector"):
        asyncio.run(scenario())
    assert overlaps == []
    assert 3 <= len(calls) <= 6
    assert all(b - a >= 0.05 for a, b in itertools.pairwise(calls))
    assert periodic.failures == 1 and periodic.runs == len(calls) - 1
    messages = [r.getMessage() for r in caplog.records]
    assert "run 1" in messages and "test job failed" in messages
    with pytest.raises(ValueError):
        PeriodicJob("never", 0, job)
