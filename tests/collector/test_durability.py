"""Acknowledged means stored: ``skimguard serve`` in a subprocess killed with SIGKILL keeps every
report it answered 204; SIGTERM shuts it down cleanly; the writer's batching and refusals."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from skimguard.collector.reports import Report, parse_body
from skimguard.collector.writer import ReportWriter, WriterBusy, WriterClosed, group_batch
from skimguard.store import Store

CONFIG = """\
sites:
  - name: shop
    base_url: https://shop.test/
    journeys: [{name: home, steps: [{goto: /}]}]
  - name: other
    base_url: https://other.test/
    journeys: [{name: home, steps: [{goto: /}]}]
"""


def legacy(blocked: str, page: str = "https://shop.test/checkout") -> bytes:
    report = {"document-uri": page, "blocked-uri": blocked, "effective-directive": "script-src"}
    return json.dumps({"csp-report": report}).encode()


def batch(blocked: str, n: int) -> bytes:
    item = {"type": "csp-violation", "url": "https://shop.test/pay", "body": {"blockedURL": blocked}}
    return json.dumps([item] * n).encode()


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    paths: dict[str, str]  # site -> /r/{key}
    database: Path


@contextmanager
def serve(tmp_path: Path, *args: str) -> Iterator[Served]:
    (tmp_path / "skimguard.yaml").write_text(CONFIG, encoding="utf-8")
    command = [sys.executable, "-c", "from skimguard.cli import main; main()", "serve", "--port", "0", *args]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("skimguard serve: listening on http://127.0.0.1:"), first
        paths = {}
        for _ in range(2):
            site, url = process.stdout.readline().strip().split(": ", 1)
            paths[site] = urlsplit(url).path
        port = int(first.split("127.0.0.1:")[1].split()[0])
        yield Served(process, port, paths, tmp_path / "skimguard.db")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def post(conn: http.client.HTTPConnection, path: str, body: bytes, content_type: str) -> int:
    conn.request("POST", path, body, {"Content-Type": content_type})
    response = conn.getresponse()
    response.read()
    return response.status


def stored(database: Path, site: str = "shop") -> int:
    with Store.open(f"sqlite:///{database}") as store:
        return store.report_total(site)


def test_sigkill_right_after_acknowledging_loses_nothing(tmp_path: Path) -> None:
    with serve(tmp_path, "--ip-rate", "0") as s:
        acked = [0, 0, 0, 0]
        statuses: list[int] = []

        def client(n: int) -> None:  # 4 connections at once: singles and batches of 10, 4 blocked URLs
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            for i in range(60):
                blocked = f"https://k.test/{i % 4}.js"
                if i % 3 == 0:
                    statuses.append(post(conn, s.paths["shop"], batch(blocked, 10), "application/reports+json"))
                    acked[n] += 10 if statuses[-1] == 204 else 0
                else:
                    statuses.append(post(conn, s.paths["shop"], legacy(blocked), "application/csp-report"))
                    acked[n] += 1 if statuses[-1] == 204 else 0
            conn.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        s.process.send_signal(signal.SIGKILL)
        assert s.process.wait(10) == -signal.SIGKILL
    assert statuses == [204] * 240
    assert sum(acked) == 4 * (20 * 10 + 40)
    assert stored(s.database) == sum(acked)
    with Store.open(f"sqlite:///{s.database}") as store:
        assert len(store.reports("shop")) == 8  # 4 blocked URLs x (legacy, Reporting API) shapes
        assert sum(h.reports for h in store.report_activity("shop")) == sum(acked)


def test_sigkill_during_load_keeps_every_acknowledged_report(tmp_path: Path) -> None:
    with serve(tmp_path, "--ip-rate", "0") as s:
        sent, acked = [0] * 6, [0] * 6
        stop = threading.Event()

        def client(n: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
            try:
                while not stop.is_set():
                    sent[n] += 1
                    if (
                        post(conn, s.paths["shop"], legacy(f"https://load.test/{n}.js"), "application/csp-report")
                        == 204
                    ):
                        acked[n] += 1
            except (OSError, http.client.HTTPException):
                pass  # the server is gone

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while sum(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        s.process.send_signal(signal.SIGKILL)
        s.process.wait(10)
        stop.set()
        for thread in threads:
            thread.join(10)
    assert sum(acked) >= 300
    assert sum(acked) <= stored(s.database) <= sum(sent)


def test_sigterm_finishes_cleanly(tmp_path: Path) -> None:
    with serve(tmp_path, "--log-every", "0.2") as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        for i in range(20):
            assert post(conn, s.paths["other"], legacy(f"https://term.test/{i % 2}.js"), "application/json") == 204
        conn.close()
        time.sleep(0.3)
        s.process.send_signal(signal.SIGTERM)
        out, err = s.process.communicate(timeout=20)
        assert s.process.returncode == 0
    assert out.strip().endswith("skimguard serve: stopped")
    assert "collector last 0.2s: 20 reports kept" in err
    assert "collector stopped:" in err and "total stored 20 in" in err
    assert stored(s.database, "other") == 20


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "skimguard.yaml").write_text(CONFIG, encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        command = [sys.executable, "-c", "from skimguard.cli import main; main()", "serve", "--port", str(port)]
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"skimguard: error: cannot listen on 127.0.0.1:{port}" in result.stderr


# ---- the writer ------------------------------------------------------------------------------------


def reports(blocked: str, n: int, ua: str = "UA") -> tuple[Report, ...]:
    body = batch(blocked, n)
    return parse_body("application/reports+json", body, user_agent=ua).reports


def test_group_batch() -> None:
    a, b = reports("https://g.test/a.js", 3, "UA-1"), reports("https://g.test/b.js", 2, "UA-2")
    groups, activity = group_batch([("shop", a, 1), ("shop", b, 0), ("other", a[:1], 4), ("shop", a[:2], 0)])
    assert activity == {"shop": (7, 1), "other": (1, 4)}
    assert [(g.site, g.key[3], g.count, g.pages, g.user_agents) for g in groups] == [
        ("shop", "https://g.test/a.js", 5, ("https://shop.test/pay",), ("UA-1",)),
        ("shop", "https://g.test/b.js", 2, ("https://shop.test/pay",), ("UA-2",)),
        ("other", "https://g.test/a.js", 1, ("https://shop.test/pay",), ("UA-1",)),
    ]


def test_writer_batches_flushes_on_close_and_refuses_when_full(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'w.db'}")
    writer = ReportWriter(store, max_batch=25, max_pending=100)
    writer.start()

    async def scenario() -> None:
        futures = [writer.submit("shop", reports("https://w.test/a.js", 10)) for _ in range(10)]
        with pytest.raises(WriterBusy):  # 100 wait (or are being written) at most
            for _ in range(20):
                futures.append(writer.submit("shop", reports("https://w.test/a.js", 10)))
        await asyncio.gather(*futures)
        # Close while requests are pending: they are committed, not dropped.
        pending = [writer.submit("shop", reports("https://w.test/b.js", 5), noise=1) for _ in range(8)]
        await asyncio.to_thread(writer.close)
        await asyncio.gather(*pending)
        with pytest.raises(WriterClosed):
            writer.submit("shop", reports("https://w.test/c.js", 1))
        return None

    asyncio.run(scenario())
    stats = writer.stats()
    assert stats.reports == store.report_total("shop")
    assert stats.largest_batch <= 25
    assert stats.requests * 10 >= stats.reports - 40
    assert sum(r.count for r in store.reports("shop") if r.blocked == "https://w.test/b.js") == 40
    assert sum(h.noise for h in store.report_activity("shop")) == 8
    assert stats.pending == 0 and stats.failed_batches == 0
    store.close()


def test_a_batch_waits_for_requests_still_arriving_and_no_longer(tmp_path: Path) -> None:
    """Group commit under load: the writer lets a request that is being read join the batch, but
    never waits past ``linger``, and an idle writer commits at once."""
    store = Store.open(f"sqlite:///{tmp_path / 'l.db'}")

    async def scenario(writer: ReportWriter) -> tuple[bool, float]:
        writer.arrive()
        writer.arrive()  # two requests are being read
        first = writer.submit("shop", reports("https://l.test/a.js", 2))
        writer.depart()
        await asyncio.sleep(0.3)
        waited = not first.done()  # the writer waits for the second one
        second = writer.submit("shop", reports("https://l.test/b.js", 3))
        started = time.monotonic()
        writer.depart()  # the last arrival is in: commit now
        await asyncio.gather(first, second)
        return waited, time.monotonic() - started

    writer = ReportWriter(store, linger=30.0)
    writer.start()
    waited, took = asyncio.run(scenario(writer))
    writer.close()
    assert waited and took < 5.0
    stats = writer.stats()
    assert (stats.batches, stats.requests, stats.reports) == (1, 2, 5)

    async def late(writer: ReportWriter) -> tuple[float, float]:
        writer.arrive()  # a request that never finishes arriving (a slow body)
        started = time.monotonic()
        await writer.submit("shop", reports("https://l.test/c.js", 1))
        took = time.monotonic() - started
        writer.depart()
        started = time.monotonic()
        await writer.submit("shop", reports("https://l.test/d.js", 1))  # nobody arriving: at once
        return took, time.monotonic() - started

    writer = ReportWriter(store, linger=0.2)
    writer.start()
    waited_for_slow, idle = asyncio.run(late(writer))
    writer.close()
    assert 0.2 <= waited_for_slow < 5.0  # waited for the slow one, but only `linger`
    assert idle < 0.15
    assert (writer.stats().batches, writer.stats().requests) == (2, 2)
    store.close()
