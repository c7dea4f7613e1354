"""The alert sinks: console (Rich), webhook (HTTP POST of JSON) and e-mail (SMTP).

Finding text comes from hostile pages: every sink cleans it (:func:`one_line`) and escapes it for
its own format (Rich ``Text`` objects, never markup; ``html.escape`` in mail). URLs are shown as
text, never turned into links.
"""

from __future__ import annotations

import html
import json
import os
import smtplib
import ssl
import time
from collections.abc import Mapping, Sequence
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from skimguard import __version__
from skimguard.alerts.format import finding_to_dict, iso_utc, one_line
from skimguard.alerts.interface import AlertBatch
from skimguard.errors import AlertError
from skimguard.models import Finding, Severity

WEBHOOK_SCHEMA = "skimguard.alert/1"

#: At most this many findings are listed in one console table or mail (the rest are counted).
MAX_LISTED = 200

SEVERITY_STYLE: Mapping[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


class WebhookError(AlertError):
    """A webhook delivery failed; ``status`` is the last HTTP status (``None``: no response)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, hint="check the webhook URL and that its service is up")
        self.status = status


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _where(f: Finding) -> str:
    """Destination and/or script of a finding, for one table cell or line."""
    parts = [p for p in (f.destination, f.script_url) if p]
    return " ← ".join(one_line(p, 120) for p in parts)


def _headline(batch: AlertBatch) -> str:
    worst = batch.worst
    label = worst.label.upper() if worst is not None else "INFO"
    return f"{label}: {_plural(len(batch.findings), 'finding')} on {one_line(batch.site, 80)}"


def strip_url_secrets(url: str) -> str:
    """``scheme://host[:port]/path`` of a URL: credentials, query and fragment removed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --------------------------------------------------------------------------------------------
# Console
# --------------------------------------------------------------------------------------------


class ConsoleSink:
    """A compact Rich table on the given console (use ``Console(stderr=True)`` next to JSON)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.name = "console"

    def render(self, batch: AlertBatch) -> Table:
        scan = f" (scan {one_line(batch.scan_id, 40)})" if batch.scan_id else ""
        table = Table(
            title=Text(f"skimguard {_headline(batch)}{scan}", style="bold"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            expand=False,
        )
        table.add_column("Severity", no_wrap=True)
        table.add_column("Rule", no_wrap=True)
        table.add_column("Title", overflow="fold")
        table.add_column("Page", overflow="fold")
        table.add_column("Destination / script", overflow="fold")
        findings = batch.sorted_findings()
        for f in findings[:MAX_LISTED]:
            table.add_row(
                Text(f.severity.label.upper(), style=SEVERITY_STYLE[f.severity]),
                Text(one_line(f.rule_id, 20)),
                Text(one_line(f.title)),
                Text(one_line(f.page, 80)),
                Text(_where(f)),
            )
        if len(findings) > MAX_LISTED:
            table.caption = Text(f"… and {len(findings) - MAX_LISTED} more")
        return table

    def send(self, batch: AlertBatch) -> None:
        if not batch.findings:
            return
        try:
            self.console.print(self.render(batch))
            if batch.dashboard_hint:
                self.console.print(Text.assemble("details: ", (one_line(batch.dashboard_hint), "bold")))
        except OSError as err:
            raise AlertError(f"console: cannot write alerts: {err.strerror or err}") from None


# --------------------------------------------------------------------------------------------
# Webhook
# --------------------------------------------------------------------------------------------


class WebhookSink:
    """POSTs ``{"schema": "skimguard.alert/1", ...}`` as JSON.

    One retry (after ``retry_delay`` seconds) on a connection error, a timeout or a 5xx answer.
    Redirects are never followed (a 3xx is a failure). Any 2xx is success.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        retry_delay: float = 0.5,
        trust_env: bool = True,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.trust_env = trust_env
        self.name = f"webhook:{strip_url_secrets(url)}"

    @staticmethod
    def payload(batch: AlertBatch) -> dict[str, Any]:
        return {
            "schema": WEBHOOK_SCHEMA,
            "site": batch.site,
            "scan_id": batch.scan_id,
            "created_at": iso_utc(batch.created_at),
            "dashboard_hint": batch.dashboard_hint,
            "findings": [finding_to_dict(f) for f in batch.sorted_findings()],
        }

    def send(self, batch: AlertBatch) -> None:
        if not batch.findings:
            return
        body = json.dumps(self.payload(batch), ensure_ascii=False, allow_nan=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"skimguard/{__version__}",
            **self.headers,
        }
        attempts = 2
        with httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=self.trust_env) as client:
            for attempt in range(1, attempts + 1):
                last = attempt == attempts
                try:
                    # Streamed so that the answer's body is never read: we only need the status.
                    with client.stream("POST", self.url, content=body, headers=headers) as response:
                        status = response.status_code
                        location = response.headers.get("location", "")
                except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as err:
                    if not last:
                        time.sleep(self.retry_delay)
                        continue
                    reason = one_line(str(err), 160) or type(err).__name__
                    raise WebhookError(
                        f"{self.name}: no answer after {attempts} attempts ({reason})"
                    ) from None
                except (httpx.HTTPError, httpx.InvalidURL) as err:
                    reason = one_line(str(err), 160) or type(err).__name__
                    raise WebhookError(f"{self.name}: {reason}") from None
                if 200 <= status < 300:
                    return
                if status >= 500 and not last:
                    time.sleep(self.retry_delay)
                    continue
                if 300 <= status < 400:
                    target = strip_url_secrets(location) if location else "(no Location)"
                    raise WebhookError(
                        f"{self.name}: HTTP {status} redirect to {one_line(target, 160)} not followed",
                        status,
                    )
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise WebhookError(f"{self.name}: HTTP {status}{tries}", status)
        raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------------------------

_HTML_TABLE = '<table border="1" cellpadding="6" cellspacing="0" style="border-collapse:collapse">'


class EmailSink:
    """Sends one mail per batch: plain text plus an HTML alternative, both escaped.

    STARTTLS (verified against the system CA store) unless ``starttls`` is false; implicit TLS
    when the port is 465. Logs in when ``username`` is set, with the password read from the
    environment variable named by ``password_env`` at send time.
    """

    def __init__(
        self,
        *,
        smtp_host: str,
        sender: str,
        to: Sequence[str],
        smtp_port: int = 587,
        username: str | None = None,
        password_env: str | None = None,
        starttls: bool = True,
        timeout: float = 15.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not to:
            raise ValueError("an e-mail sink needs at least one recipient")
        self.smtp_host = smtp_host
        self.smtp_port = smtp_port
        self.sender = sender
        self.to = tuple(to)
        self.username = username
        self.password_env = password_env
        self.starttls = starttls
        self.timeout = timeout
        self._environ = environ
        self.name = "email:" + ",".join(self.to)

    # -- message -------------------------------------------------------------------------------

    def subject(self, batch: AlertBatch) -> str:
        return f"[skimguard] {_headline(batch)}"

    def text_body(self, batch: AlertBatch) -> str:
        scan = f" (scan {one_line(batch.scan_id, 40)})" if batch.scan_id else ""
        lines = [f"skimguard: {_headline(batch)}{scan}", ""]
        findings = batch.sorted_findings()
        for f in findings[:MAX_LISTED]:
            lines.append(f"[{f.severity.label.upper()}] {one_line(f.rule_id, 20)}  {one_line(f.title)}")
            for label, value in (
                ("page", f.page),
                ("script", f.script_url),
                ("destination", f.destination),
                ("first seen", iso_utc(f.first_seen) if f.first_seen else None),
            ):
                if value:
                    lines.append(f"    {label}: {one_line(value, 300)}")
            lines.append(f"    fingerprint: {f.fingerprint}")
            lines.append("")
        if len(findings) > MAX_LISTED:
            lines += [f"… and {len(findings) - MAX_LISTED} more", ""]
        if batch.dashboard_hint:
            lines += [f"Details: {one_line(batch.dashboard_hint)}", ""]
        lines += ["-- ", f"skimguard {__version__}"]
        return "\n".join(lines) + "\n"

    def html_body(self, batch: AlertBatch) -> str:
        def e(value: object, limit: int = 200) -> str:
            return html.escape(one_line(value, limit), quote=True)

        scan = f" (scan {e(batch.scan_id, 40)})" if batch.scan_id else ""
        rows = []
        findings = batch.sorted_findings()
        for f in findings[:MAX_LISTED]:
            colour = {Severity.CRITICAL: "#b00020", Severity.HIGH: "#d32f2f"}.get(f.severity, "#555")
            rows.append(
                "<tr>"
                f'<td><strong style="color:{colour}">{e(f.severity.label.upper())}</strong></td>'
                f"<td><code>{e(f.rule_id, 20)}</code></td>"
                f"<td>{e(f.title)}</td>"
                f"<td>{e(f.page, 80)}</td>"
                f"<td>{html.escape(_where(f), quote=True)}</td>"
                "</tr>"
            )
        more = f"<p>… and {len(findings) - MAX_LISTED} more</p>" if len(findings) > MAX_LISTED else ""
        details = ""
        if batch.dashboard_hint:
            details = f"<p>Details: <strong>{e(batch.dashboard_hint)}</strong></p>"
        head = "".join(f"<th>{h}</th>" for h in ("Severity", "Rule", "Title", "Page", "Destination / script"))
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
            f"<h2>skimguard: {e(_headline(batch))}{scan}</h2>\n"
            f"{_HTML_TABLE}\n<tr>{head}</tr>\n"
            + "\n".join(rows)
            + f'\n</table>\n{more}{details}<p style="color:#777">skimguard {e(__version__)}</p>\n'
            "</body></html>\n"
        )

    def build_message(self, batch: AlertBatch) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = self.subject(batch)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        created = batch.created_at if batch.created_at.tzinfo else batch.created_at.replace(tzinfo=UTC)
        msg["Date"] = format_datetime(created.astimezone(UTC), usegmt=True)
        msg["Message-ID"] = make_msgid(idstring="skimguard", domain=self._msgid_domain())
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(self.text_body(batch), subtype="plain", cte="quoted-printable")
        msg.add_alternative(self.html_body(batch), subtype="html", cte="quoted-printable")
        return msg

    def _msgid_domain(self) -> str:
        domain = parseaddr(self.sender)[1].rpartition("@")[2].strip().lower()
        ok = domain and all(c.isalnum() or c in ".-" for c in domain) and domain.isascii()
        return domain if ok else "skimguard.invalid"

    # -- delivery ------------------------------------------------------------------------------

    def _password(self) -> str | None:
        if not self.username:
            return None
        if not self.password_env:
            raise AlertError(
                f"{self.name}: username {self.username!r} is set but password_env is not",
                hint="set alerts.sinks[].password_env to the name of an environment variable",
            )
        env = os.environ if self._environ is None else self._environ
        password = env.get(self.password_env)
        if password is None:
            raise AlertError(
                f"{self.name}: environment variable {self.password_env} is not set",
                hint=f"export {self.password_env}=... before running skimguard",
            )
        return password

    def send(self, batch: AlertBatch) -> None:
        if not batch.findings:
            return
        password = self._password()
        msg = self.build_message(batch)
        where = f"{self.smtp_host}:{self.smtp_port}"
        smtp: smtplib.SMTP | None = None
        try:
            if self.smtp_port == 465:
                ctx = ssl.create_default_context()
                smtp = smtplib.SMTP_SSL(self.smtp_host, self.smtp_port, timeout=self.timeout, context=ctx)
            else:
                smtp = smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout)
            smtp.ehlo()
            if self.starttls and self.smtp_port != 465:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username and password is not None:
                smtp.login(self.username, password)
            smtp.send_message(msg, from_addr=self.sender, to_addrs=list(self.to))
        except smtplib.SMTPNotSupportedError as err:
            raise AlertError(f"{self.name}: {where}: {one_line(err, 160)}") from None
        except smtplib.SMTPResponseException as err:
            text = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else ""
            raise AlertError(f"{self.name}: {where}: SMTP {err.smtp_code} {one_line(text, 160)}") from None
        except smtplib.SMTPRecipientsRefused as err:
            refused = ", ".join(sorted(err.recipients))
            raise AlertError(f"{self.name}: {where}: all recipients refused ({one_line(refused)})") from None
        except (smtplib.SMTPException, OSError) as err:
            reason = one_line(str(err), 160) or type(err).__name__
            raise AlertError(f"{self.name}: {where}: {reason}") from None
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
