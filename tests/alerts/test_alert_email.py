"""The e-mail sink against a real (minimal) SMTP server on 127.0.0.1.

``smtpd`` is gone since Python 3.12 and ``aiosmtpd`` is not a dependency, so the server is a small
thread + socket responder: EHLO/HELO, AUTH PLAIN, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT.
"""

from __future__ import annotations

import base64
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from alerts_helpers import make_finding

from skimguard.alerts import AlertBatch, EmailSink
from skimguard.errors import AlertError
from skimguard.models import Severity


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpServer:
    port: int
    mails: list[Mail] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    reject_rcpt: bool = False


def _serve_one(conn: socket.socket, state: SmtpServer) -> None:
    f = conn.makefile("rb")

    def reply(line: str) -> None:
        conn.sendall(line.encode("ascii") + b"\r\n")

    reply("220 127.0.0.1 test ESMTP")
    sender, recipients = "", list[str]()
    while True:
        raw = f.readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        verb = line.split(" ", 1)[0].upper()
        state.commands.append(verb)
        if verb == "EHLO":
            reply("250-127.0.0.1")
            reply("250-8BITMIME")
            reply("250 AUTH PLAIN")
        elif verb == "HELO":
            reply("250 127.0.0.1")
        elif verb == "AUTH":
            state.auth.append(base64.b64decode(line.split()[2]).decode("utf-8"))
            reply("235 2.7.0 Authentication successful")
        elif verb == "MAIL":
            sender, recipients = line.split(":", 1)[1].strip().split()[0].strip("<>"), []
            reply("250 OK")
        elif verb == "RCPT":
            if state.reject_rcpt:
                reply("550 5.1.1 No such user")
                continue
            recipients.append(line.split(":", 1)[1].strip().strip("<>"))
            reply("250 OK")
        elif verb == "DATA":
            reply("354 End data with <CR><LF>.<CR><LF>")
            chunks = []
            while True:
                chunk = f.readline()
                if chunk in (b".\r\n", b""):
                    break
                chunks.append(chunk[1:] if chunk.startswith(b"..") else chunk)
            state.mails.append(Mail(sender, recipients, b"".join(chunks)))
            reply("250 OK queued")
        elif verb in ("RSET", "NOOP"):
            reply("250 OK")
        elif verb == "QUIT":
            reply("221 Bye")
            return
        else:
            reply("502 Command not implemented")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.05)
    state = SmtpServer(port=listener.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                _serve_one(conn, state)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _batch() -> AlertBatch:
    return AlertBatch(
        site="demo-shop",
        scan_id="scan-9",
        findings=(
            make_finding(title="Card sent to <script>alert(1)</script> & co"),
            make_finding(rule_id="SG402", subject="y", severity=Severity.HIGH, title="カード番号の送信"),
        ),
        created_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        dashboard_hint="skimguard dashboard",
    )


def _sink(port: int, **kw: object) -> EmailSink:
    args: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "sender": "skimguard@shop.test",
        "to": ["sec@shop.test", "ops@shop.test"],
        "starttls": False,
        "timeout": 5.0,
    }
    args.update(kw)
    return EmailSink(**args)  # type: ignore[arg-type]


def test_sends_text_and_escaped_html(smtp_server: SmtpServer) -> None:
    sink = _sink(smtp_server.port)
    assert sink.name == "email:sec@shop.test,ops@shop.test"
    sink.send(_batch())

    (mail,) = smtp_server.mails
    assert mail.sender == "skimguard@shop.test"
    assert mail.recipients == ["sec@shop.test", "ops@shop.test"]
    assert "STARTTLS" not in smtp_server.commands
    assert smtp_server.auth == []
    msg = mail.message()
    assert msg["Subject"] == "[skimguard] CRITICAL: 2 findings on demo-shop"
    assert msg["From"] == "skimguard@shop.test"
    assert msg["To"] == "sec@shop.test, ops@shop.test"
    assert msg["Date"].datetime == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert msg["Message-ID"].endswith("@shop.test>")

    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    text = text_part.get_content()
    html = html_part.get_content()
    assert "[CRITICAL] SG301  Card sent to <script>alert(1)</script> & co" in text
    assert "カード番号の送信" in text
    assert "page: payment" in text
    assert "skimguard dashboard" in text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "カード番号の送信" in html
    assert "SG402" in html


def test_login_reads_password_from_env(smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIMGUARD_TEST_SMTP_PW", "hunter2")
    _sink(smtp_server.port, username="alerts", password_env="SKIMGUARD_TEST_SMTP_PW").send(_batch())
    assert smtp_server.auth == ["\0alerts\0hunter2"]
    assert len(smtp_server.mails) == 1


def test_missing_password_env_is_alert_error(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKIMGUARD_TEST_SMTP_PW", raising=False)
    sink = _sink(smtp_server.port, username="alerts", password_env="SKIMGUARD_TEST_SMTP_PW")
    with pytest.raises(AlertError, match="SKIMGUARD_TEST_SMTP_PW is not set"):
        sink.send(_batch())
    assert smtp_server.commands == []  # never connected
    with pytest.raises(AlertError, match="password_env"):
        _sink(smtp_server.port, username="alerts").send(_batch())


def test_starttls_not_offered_is_alert_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(AlertError, match="STARTTLS"):
        _sink(smtp_server.port, starttls=True).send(_batch())
    assert smtp_server.mails == []


def test_refused_recipients_is_alert_error(smtp_server: SmtpServer) -> None:
    smtp_server.reject_rcpt = True
    with pytest.raises(AlertError, match="recipients refused"):
        _sink(smtp_server.port).send(_batch())


def test_connection_refused_is_alert_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(AlertError, match=f"127.0.0.1:{port}"):
        _sink(port).send(_batch())


def test_one_finding_subject_is_singular() -> None:
    batch = AlertBatch("demo-shop", None, (make_finding(severity=Severity.HIGH),), datetime.now(UTC))
    assert _sink(25).subject(batch) == "[skimguard] HIGH: 1 finding on demo-shop"
