"""The collector app on a real uvicorn (a thread, loopback, a free port) driven by httpx and raw
sockets: content types, CORS, every refusal (404/405/408/413/415/400/429/503), junk floods while
valid reports keep being stored, aggregation, health and the counter log line."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from skimguard.collector.app import Limits, RateLimiter, bind, client_key, create_app, report_endpoint, server_config
from skimguard.collector.reports import parse_body
from skimguard.errors import StoreError
from skimguard.policy import PolicyError
from skimguard.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
OPEN = Limits(ip_rate=0, site_rate=0, body_timeout=0.5)  # no rate limits unless a test asks


@dataclass
class Collector:
    url: str  # http://127.0.0.1:PORT
    port: int
    key: str  # site "shop"
    other_key: str  # site "other"
    store: Store
    server: uvicorn.Server

    def post(self, body: bytes, content_type: str = "application/csp-report", **kw: Any) -> httpx.Response:
        headers = {"Content-Type": content_type, "User-Agent": UA, **kw.pop("headers", {})}
        return httpx.post(f"{self.url}/r/{kw.pop('key', self.key)}", content=body, headers=headers, timeout=10, **kw)

    def count(self, blocked: str, site: str = "shop") -> int:
        return sum(r.count for r in self.store.reports(site, limit=10_000) if r.blocked == blocked)


@contextmanager
def collector(tmp_path: Path, limits: Limits = OPEN) -> Iterator[Collector]:
    store = Store.open(f"sqlite:///{tmp_path / 'collector.db'}")
    keys = {store.collector_key("shop"): "shop", store.collector_key("other"): "other"}
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(create_app(store, keys, limits), graceful_timeout=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield Collector(f"http://127.0.0.1:{port}", port, store.collector_key("shop"), store.collector_key("other"),
                        store, server)  # fmt: skip
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        store.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with collector(tmp_path_factory.mktemp("collector")) as running:
        yield running


def legacy(blocked: str, page: str = "https://shop.test/checkout", **extra: Any) -> bytes:
    report = {"document-uri": page, "blocked-uri": blocked, "effective-directive": "script-src-elem", **extra}
    return json.dumps({"csp-report": report}).encode()


def api(blocked: str, n: int = 1) -> bytes:
    report = {
        "type": "csp-violation",
        "age": 3,
        "url": "https://shop.test/checkout",
        "user_agent": UA,
        "body": {
            "documentURL": "https://shop.test/checkout",
            "blockedURL": blocked,
            "effectiveDirective": "script-src",
        },
    }
    return json.dumps([report] * n).encode()


def raw(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send ``data`` on a new connection and read until the server closes or ``wait`` passes."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


# ---- accepted --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["chromium-csp-report-01.json", "chromium-reports-01.json", "chromium-reports-02.json"]
)
def test_recorded_chromium_bodies_are_stored(served: Collector, name: str) -> None:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    body = data["body"].encode()
    expected = parse_body(data["content_type"], body).reports
    assert expected
    before = served.store.report_total("shop")
    response = served.post(body, data["content_type"])
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert served.store.report_total("shop") == before + len(expected)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/csp-report", legacy("https://ct.test/1.js")),
        ("application/csp-report; charset=utf-8", legacy("https://ct.test/1.js")),
        ("application/reports+json", api("https://ct.test/1.js", 3)),
        ("Application/Reports+JSON;charset=UTF-8", api("https://ct.test/1.js", 3)),
        ("application/json", legacy("https://ct.test/1.js")),
        ("application/json; charset=utf-8", api("https://ct.test/1.js", 3)),
    ],
)
def test_every_content_type(served: Collector, content_type: str, body: bytes) -> None:
    before = served.count("https://ct.test/1.js")
    assert served.post(body, content_type).status_code == 204
    expected = 3 if body.startswith(b"[") else 1
    assert served.count("https://ct.test/1.js") == before + expected


def test_noise_and_empty_batches_are_answered_but_not_stored(served: Collector) -> None:
    hours_before = served.store.report_activity("shop")
    noise = legacy("chrome-extension://abcdef/inject.js")
    assert served.post(noise).status_code == 204
    assert served.post(b"[]", "application/reports+json").status_code == 204
    assert served.count("chrome-extension") == 0
    noise_after = sum(h.noise for h in served.store.report_activity("shop"))
    assert noise_after == sum(h.noise for h in hours_before) + 1


def test_cors_preflight(served: Collector) -> None:
    headers = {
        "Origin": "https://shop.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    response = httpx.options(f"{served.url}/r/{served.key}", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "POST"
    assert response.headers["access-control-allow-headers"] == "Content-Type"
    assert response.headers["access-control-max-age"] == "86400"
    assert httpx.options(f"{served.url}/r/unknown-key", headers=headers).status_code == 404


def test_the_site_is_told_by_the_key(served: Collector) -> None:
    assert served.post(legacy("https://sites.test/x.js"), key=served.other_key).status_code == 204
    assert served.count("https://sites.test/x.js", site="other") == 1
    assert served.count("https://sites.test/x.js", site="shop") == 0


def test_aggregation_of_1000_identical_reports(served: Collector) -> None:
    body = legacy("https://agg.test/same.js", "https://shop.test/checkout?order=1")
    statuses: list[int] = []

    def connection() -> None:  # 10 keep-alive connections x 100 requests, at the same time
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        for _ in range(100):
            conn.request("POST", f"/r/{served.key}", body, {"Content-Type": "application/csp-report", "User-Agent": UA})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()

    threads = [threading.Thread(target=connection) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [204] * 1000
    rows = [r for r in served.store.reports("shop", limit=10_000) if r.blocked == "https://agg.test/same.js"]
    assert len(rows) == 1
    assert rows[0].count == 1000
    assert rows[0].pages == ("https://shop.test/checkout?order=1",)
    assert rows[0].user_agents == (UA,)
    assert rows[0].document == "https://shop.test/checkout"


# ---- refused ---------------------------------------------------------------------------------------


def test_unknown_key_wrong_path_and_method(served: Collector) -> None:
    body = legacy("https://refused.test/404.js")
    for key in ("nope", served.key[:-1], served.key + "x", served.key.upper()):
        response = served.post(body, key=key)
        assert response.status_code == 404, key
        assert response.headers["access-control-allow-origin"] == "*"
    assert httpx.post(f"{served.url}/r/", content=body).status_code == 404
    assert httpx.post(f"{served.url}/report", content=body).status_code == 404
    assert httpx.get(f"{served.url}/r/{served.key}").status_code == 405
    assert served.count("https://refused.test/404.js") == 0


@pytest.mark.parametrize("content_type", ["text/plain", "", "multipart/form-data; boundary=x", "application/xml"])
def test_wrong_content_type_is_415(served: Collector, content_type: str) -> None:
    response = served.post(legacy("https://refused.test/415.js"), content_type)
    assert response.status_code == 415
    assert served.count("https://refused.test/415.js") == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "not JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (b"", "empty"),
        (b'{"hello": "world"}', "not a report shape"),
        (b'{"csp-report": 5}', "not an object"),
        (b"null", "not a report shape"),
    ],
)
def test_junk_is_400(served: Collector, body: bytes, reason: str) -> None:
    response = served.post(body, "application/json")
    assert response.status_code == 400
    assert reason in response.text


def test_too_large_is_413(served: Collector) -> None:
    big = legacy("https://refused.test/413.js", **{"script-sample": "x" * 70_000})
    assert served.post(big).status_code == 413
    # Chunked (no Content-Length): refused while streaming.
    chunks = [big[i : i + 8192] for i in range(0, len(big), 8192)]
    response = httpx.post(
        f"{served.url}/r/{served.key}", content=iter(chunks), headers={"Content-Type": "application/csp-report"}
    )
    assert response.status_code == 413
    assert served.post(api("https://refused.test/413.js", 101), "application/reports+json").status_code == 413
    assert served.count("https://refused.test/413.js") == 0
    assert served.post(api("https://refused.test/413.js", 100), "application/reports+json").status_code == 204
    assert served.count("https://refused.test/413.js") == 100


def test_a_huge_declared_body_is_refused_without_reading_it(served: Collector) -> None:
    head = (
        f"POST /r/{served.key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\n"
        "Content-Length: 1000000000\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = raw(served.port, head + b"{" * 1000, wait=5)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert time.monotonic() - started < 2  # answered at once, not after a gigabyte


def test_a_streamed_body_is_cut_at_64_KiB(served: Collector) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as s:
        s.sendall(
            f"POST /r/{served.key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        sent = 0
        s.settimeout(0.05)
        answer = b""
        while sent < 1024 * 1024 and not answer:
            s.sendall(b"2000\r\n" + b" " * 0x2000 + b"\r\n")
            sent += 0x2000
            try:
                answer = s.recv(4096)
            except TimeoutError:
                continue
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert sent < 256 * 1024  # refused soon after the limit, long before the body would end


def test_slow_body_is_408_and_others_are_served_meanwhile(served: Collector) -> None:
    head = (
        f"POST /r/{served.key} HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\n"
        "Content-Length: 500\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as slow:
        slow.sendall(head + b'{"csp-report": {')
        started = time.monotonic()
        assert served.post(legacy("https://slow.test/ok.js")).status_code == 204  # not blocked by the slow one
        answer = slow.recv(4096)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 0.3 < waited < 3
    assert served.count("https://slow.test/ok.js") == 1


def test_junk_flood_never_5xx_and_valid_reports_in_between_are_all_stored(served: Collector) -> None:
    junk: list[tuple[str, bytes, int]] = [  # content type, body, expected answer
        ("application/json", b"{" * 3000, 400),  # nested too deep
        ("application/json", b"\x80\x81\x82", 400),  # not UTF-8
        ("application/json", b"[" * 100_000, 413),
        ("application/json", b'{"a": ' + b"[" * 25 + b"1" + b"]" * 25 + b"}", 400),
        ("text/html", b"<script>alert(1)</script>", 415),
        ("application/json", b"x" * 200_000, 413),
        ("application/csp-report", b"{'csp-report': }", 400),
        # Well-formed but nothing to keep: answered, counted as noise, not stored.
        ("application/reports+json", b'[{"type": 5, "body": []}]', 204),
        ("application/csp-report", b'{"csp-report": {"document-uri": "about:blank"}}', 204),
        ("application/csp-report", b'{"csp-report": {"document-uri": "' + b"\\ud800" * 5000 + b'"}}', 204),
    ]
    valid = legacy("https://flood.test/valid.js")

    async def flood() -> tuple[list[int], list[int]]:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:

            async def send(content_type: str, body: bytes) -> int:
                response = await client.post(f"/r/{served.key}", content=body, headers={"Content-Type": content_type})
                return response.status_code

            junk_tasks = [send(*junk[i % len(junk)][:2]) for i in range(120)]
            valid_tasks = [send("application/csp-report", valid) for _ in range(40)]
            results = await asyncio.gather(*junk_tasks, *valid_tasks)
            return list(results[: len(junk_tasks)]), list(results[len(junk_tasks) :])

    junk_statuses, valid_statuses = asyncio.run(flood())
    assert junk_statuses == [junk[i % len(junk)][2] for i in range(120)]
    assert valid_statuses == [204] * 40
    assert served.count("https://flood.test/valid.js") == 40
    assert httpx.get(f"{served.url}/healthz").json()["status"] == "ok"


# ---- limits ----------------------------------------------------------------------------------------


def test_rate_limit_per_client_and_per_site(tmp_path: Path) -> None:
    limits = Limits(ip_rate=0.001, ip_burst=3, site_rate=0.001, site_burst=12, max_reports=10)
    with collector(tmp_path, limits) as c:
        body = legacy("https://rate.test/a.js")
        first = [c.post(body, headers={"X-Forwarded-For": "198.51.100.7"}).status_code for _ in range(4)]
        assert first == [204, 204, 204, 429]
        refused = c.post(body, headers={"X-Forwarded-For": "198.51.100.7"})
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["access-control-allow-origin"] == "*"
        assert c.post(body, headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 204  # another client
        # IPv6 clients are one client per /64.
        v6 = [c.post(body, headers={"X-Forwarded-For": f"2001:db8:0:1::{i}"}).status_code for i in range(1, 5)]
        assert v6 == [204, 204, 204, 429]
        assert c.post(body, headers={"X-Forwarded-For": "2001:db8:0:2::1"}).status_code == 204
        # The site's bucket (12 reports) holds 3+1+3+1 = 8 so far: a batch of 5 is too many, 4 fit.
        batch = api("https://rate.test/a.js", 5)
        assert c.post(batch, "application/reports+json", headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 429
        four = api("https://rate.test/a.js", 4)
        assert c.post(four, "application/reports+json", headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 204
        assert c.post(body, key=c.other_key, headers={"X-Forwarded-For": "192.0.2.3"}).status_code == 204
        assert c.count("https://rate.test/a.js") == 12


def test_rate_limiter_buckets_refill_and_stay_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=4, max_keys=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(5)] == [True, True, True, True, False]
    now[0] = 1.0  # two tokens back
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b", cost=4) and not limiter.allow("b")
    for name in ("c", "d", "e"):
        limiter.allow(name)
    assert len(limiter) == 3  # "a" and "b", the least recently used, were forgotten
    assert limiter.allow("b", cost=4)  # a forgotten client starts with a full bucket
    assert RateLimiter(rate=0, burst=1, max_keys=1).allow("x", cost=1e9)  # rate 0: off


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, "unknown"),
        ("not-an-address" * 10, ("not-an-address" * 10)[:64]),
    ],
)
def test_client_key(host: str | None, key: str) -> None:
    assert client_key(host) == key


# ---- health, failures, log -------------------------------------------------------------------------


def test_a_failing_database_is_503_and_recovers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with collector(tmp_path) as c:
        health = httpx.get(f"{c.url}/healthz")
        assert health.status_code == 200
        assert health.json() == {
            "status": "ok", "sites": 2, "stored_reports": 0, "pending_reports": 0, "failed_batches": 0,
        }  # fmt: skip

        def broken(*args: Any, **kwargs: Any) -> None:
            raise StoreError("database error: disk I/O error")

        monkeypatch.setattr(c.store, "record_reports", broken)
        response = c.post(legacy("https://broken.test/a.js"))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert httpx.get(f"{c.url}/healthz").status_code == 503
        monkeypatch.undo()
        assert c.post(legacy("https://broken.test/a.js")).status_code == 204
        assert httpx.get(f"{c.url}/healthz").json()["status"] == "ok"
        assert c.count("https://broken.test/a.js") == 1


def test_counter_line_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skimguard.collector")
    with collector(tmp_path, Limits(ip_rate=0, site_rate=0, log_every=0.2)) as c:
        assert c.post(legacy("https://log.test/a.js")).status_code == 204
        assert c.post(b"{", "application/json").status_code == 400
        assert c.post(b"{}", "text/plain").status_code == 415
        deadline = time.monotonic() + 5
        while not any("1 reports kept" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "skimguard.collector"]
    assert any(
        "1 reports kept, 0 noise, 1 requests answered 204; refused: 400=1, 415=1; total stored 1" in line
        for line in lines
    ), lines
    assert lines[-1].startswith("collector stopped:")


def test_report_endpoint(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'e.db'}") as store:
        key = store.collector_key("shop")
        assert report_endpoint(store, "shop") == f"http://127.0.0.1:8787/r/{key}"
        assert (
            report_endpoint(store, "shop", "https://csp.shop.example/r/{site}") == f"https://csp.shop.example/r/{key}"
        )
        assert report_endpoint(store, "new").startswith("http://127.0.0.1:8787/r/")
        with pytest.raises(PolicyError, match="placeholder"):
            report_endpoint(store, "shop", "https://csp.shop.example/r/")
