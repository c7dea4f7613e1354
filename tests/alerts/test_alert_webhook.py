"""The webhook sink against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from alerts_helpers import make_finding

from skimguard.alerts import WEBHOOK_SCHEMA, AlertBatch, WebhookError, WebhookSink, finding_to_dict
from skimguard.errors import AlertError
from skimguard.models import Severity


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Hook:
    """A scripted HTTP server: answers with ``statuses`` in turn (then 200), records requests."""

    server: ThreadingHTTPServer
    statuses: list[int] = field(default_factory=list)
    location: str = ""
    requests: list[Recorded] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"


@pytest.fixture
def hook() -> Iterator[Hook]:
    state: Hook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(
                Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Hook(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _batch() -> AlertBatch:
    return AlertBatch(
        site="demo-shop",
        scan_id="scan-7",
        findings=(
            make_finding(severity=Severity.HIGH, title="second"),
            make_finding(rule_id="SG101", subject="x", title="<script>alert(1)</script>"),
        ),
        created_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        dashboard_hint="skimguard dashboard",
    )


def test_posts_json_with_schema_fields_and_headers(hook: Hook) -> None:
    sink = WebhookSink(
        hook.url("/hook?token=s3cret"), headers={"X-Skimguard-Token": "abc"}, timeout=5, retry_delay=0
    )
    assert sink.name == f"webhook:{hook.url('/hook')}"
    batch = _batch()
    sink.send(batch)

    (req,) = hook.requests
    assert req.method == "POST"
    assert req.path == "/hook?token=s3cret"
    assert req.headers["x-skimguard-token"] == "abc"
    assert req.headers["content-type"].startswith("application/json")
    assert req.headers["user-agent"].startswith("skimguard/")
    doc = json.loads(req.body)
    assert doc["schema"] == WEBHOOK_SCHEMA == "skimguard.alert/1"
    assert doc["site"] == "demo-shop"
    assert doc["scan_id"] == "scan-7"
    assert doc["created_at"] == "2024-05-01T09:30:00Z"
    # Worst first; each finding is exactly finding_to_dict.
    assert [f["rule_id"] for f in doc["findings"]] == ["SG101", "SG301"]
    assert doc["findings"][0] == finding_to_dict(batch.findings[1])
    assert doc["findings"][0]["title"] == "<script>alert(1)</script>"
    assert set(doc["findings"][1]) >= {
        "rule_id",
        "category",
        "severity",
        "confidence",
        "title",
        "page",
        "script_url",
        "destination",
        "evidence",
        "first_seen",
        "fingerprint",
        "site",
        "subject",
    }


def test_retries_once_after_500(hook: Hook) -> None:
    hook.statuses = [500, 200]
    WebhookSink(hook.url(), retry_delay=0).send(_batch())
    assert len(hook.requests) == 2
    assert hook.requests[0].body == hook.requests[1].body


def test_two_500s_raise_with_status(hook: Hook) -> None:
    hook.statuses = [500, 503, 200]
    with pytest.raises(WebhookError) as info:
        WebhookSink(hook.url("/hook?token=s3cret"), retry_delay=0).send(_batch())
    assert isinstance(info.value, AlertError)
    assert info.value.status == 503
    assert "503" in str(info.value)
    assert "s3cret" not in str(info.value)
    assert len(hook.requests) == 2


def test_4xx_is_not_retried(hook: Hook) -> None:
    hook.statuses = [401]
    with pytest.raises(WebhookError, match="401") as info:
        WebhookSink(hook.url(), retry_delay=0).send(_batch())
    assert info.value.status == 401
    assert len(hook.requests) == 1


def test_redirect_is_not_followed(hook: Hook) -> None:
    hook.statuses = [302]
    hook.location = hook.url("/elsewhere?k=secret")
    with pytest.raises(WebhookError, match="302") as info:
        WebhookSink(hook.url(), retry_delay=0).send(_batch())
    assert info.value.status == 302
    assert [r.path for r in hook.requests] == ["/hook"]
    assert "/elsewhere" in str(info.value)
    assert "secret" not in str(info.value)


def test_connection_dropped_then_ok_retries_once() -> None:
    """First connection is closed without an answer, the second gets a 200."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    seen: list[bytes] = []

    def serve() -> None:
        for i in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                seen.append(data)
                if i == 1:
                    conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        WebhookSink(f"http://127.0.0.1:{port}/hook", timeout=5, retry_delay=0).send(_batch())
    finally:
        thread.join(5)
        listener.close()
    assert len(seen) == 2


def test_connection_refused_raises_alert_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(WebhookError, match="2 attempts") as info:
        WebhookSink(f"http://127.0.0.1:{port}/hook", timeout=2, retry_delay=0).send(_batch())
    assert info.value.status is None


def test_name_strips_credentials_query_and_fragment() -> None:
    sink = WebhookSink("https://user:pw@Hooks.Example.test:8443/a/b?x=1#frag")
    assert sink.name == "webhook:https://hooks.example.test:8443/a/b"
