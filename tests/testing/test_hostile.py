"""The hostile-page server: each endpoint misbehaves as promised and stop() stays fast."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from skimguard.testing.hostile import HUGE_TAIL, NEVER_ENDS_HEAD, HostileServer, huge_length


@pytest.fixture()
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def get(server: HostileServer, path: str, host: str = "hostile.test",
        timeout: float = 5) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request("GET", path, headers={"Host": f"{host}:{server.port}"})
    return conn.getresponse()


def test_ok_page_and_script(hostile: HostileServer) -> None:
    page = get(hostile, "/ok")
    body = page.read().decode()
    assert page.status == 200 and "<script>" in body and '<script src="/ok.js">' in body
    script = get(hostile, "/ok.js", host="127.0.0.1")
    assert script.status == 200 and script.headers["Content-Type"] == "application/javascript"
    assert get(hostile, "/ok", host="elsewhere.test").status == 404
    assert get(hostile, "/nope").status == 404
    assert hostile.url("/ok") == f"http://hostile.test:{hostile.port}/ok"
    assert hostile.hosts == {"hostile.test": "127.0.0.1"}


@pytest.mark.parametrize("path,needle", [
    ("/alert-loop", "while (true) { i++; alert("),
    ("/self-close", "window.close()"),
    ("/popups", "window.open("),
    ("/busy-loop", "for (;;) {}"),
    ("/huge-script", '<script src="/huge.js">'),
])
def test_hostile_pages(hostile: HostileServer, path: str, needle: str) -> None:
    reply = get(hostile, path)
    assert reply.status == 200 and needle in reply.read().decode()


def test_self_close_writes_garbage(hostile: HostileServer) -> None:
    assert get(hostile, "/self-close").read().decode().count("document.write(") == 2


def test_redirect_loop(hostile: HostileServer) -> None:
    path = "/redirect-loop"
    for n in range(1, 5):
        reply = get(hostile, path)
        reply.read()
        assert reply.status == 302
        path = reply.headers["Location"]
        assert path == f"/redirect-loop?n={n}"


def test_huge_script_is_50_mb_of_valid_js(hostile: HostileServer) -> None:
    reply = get(hostile, "/huge.js", timeout=30)
    assert int(reply.headers["Content-Length"]) == huge_length() >= 50 * 1024 * 1024
    body = reply.read()
    assert len(body) == huge_length()
    assert body.endswith(HUGE_TAIL) and body.startswith(b"/*")


def test_never_ends_trickles_while_server_stays_responsive(hostile: HostileServer) -> None:
    hanging = get(hostile, "/never-ends", timeout=3)
    assert hanging.status == 200
    assert hanging.read(len(NEVER_ENDS_HEAD)) == NEVER_ENDS_HEAD
    started = time.monotonic()
    assert hanging.read(1) == b"."  # one byte about a second later
    assert 0.3 < time.monotonic() - started < 3
    assert get(hostile, "/ok").status == 200
    while time.monotonic() - started < 3:  # keeps trickling, never finishes
        assert hanging.read(1) == b"."
    assert not hanging.isclosed()
    hanging.close()


def test_slow_headers_hang_without_blocking_others(hostile: HostileServer) -> None:
    with pytest.raises(TimeoutError):
        get(hostile, "/slow-headers", timeout=1)
    assert get(hostile, "/ok").status == 200


def _hang(server: HostileServer, path: str, started: threading.Event) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: hostile.test\r\n\r\n".encode())
        started.set()
        while sock.recv(4096):
            pass
    except OSError:
        pass
    finally:
        sock.close()


def test_stop_is_fast_with_hanging_handlers() -> None:
    server = HostileServer().start()
    threads = []
    for path in ("/never-ends", "/slow-headers", "/never-ends", "/huge.js"):
        started = threading.Event()
        t = threading.Thread(target=_hang, args=(server, path, started), daemon=True)
        t.start()
        threads.append(t)
        assert started.wait(2)
    time.sleep(0.5)
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 2
    server.stop()  # idempotent
    for t in threads:  # the hanging responses end soon after stop
        t.join(timeout=3)
        assert not t.is_alive()
