"""The report collector's web app (Starlette, served by uvicorn): ``skimguard serve``.

Shoppers' browsers POST CSP and Reporting API reports to ``/r/{key}``, where ``key`` is the
site's collector key (:meth:`skimguard.store.Store.collector_key`, 32 random characters): it keeps
internet noise out and tells sites apart. It is NOT a secret from an attacker: every shopper's
browser sees it in the CSP header. So everything is treated as hostile and bounded:

==========================================  ===============================================
request                                     answer
==========================================  ===============================================
unknown key (or any other path)             404
more than ``ip_rate`` requests/s from one   429 (token bucket per client IP, IPv6 per /64;
client (after a burst of ``ip_burst``)      at most ``max_clients`` buckets, least recently
                                            used forgotten first)
not ``application/csp-report``,             415
``application/reports+json`` or
``application/json``
``Content-Length`` or the streamed body     413, the body is never read past the limit
above 64 KiB
the body does not arrive within             408
``body_timeout`` seconds (slow clients)
not UTF-8, not JSON, nested too deep, not   400 (:func:`skimguard.collector.reports.parse_body`)
a report shape
more than ``max_reports`` reports           413
more than ``site_rate`` reports/s for one   429
site (after a burst of ``site_burst``)
the writer has too much pending             429
the database fails                          503 (the one 5xx: nothing was stored, retry)
accepted (stored, committed)                204
==========================================  ===============================================

A report is answered 204 only once its transaction is committed (:mod:`.writer`: one thread
commits the reports of all requests together, group commit), so an acknowledged report survives
``kill -9``. Reports that the parser calls noise (extensions, ``about:``) are not stored; they
are counted in the hourly activity, which tells that browsers still send reports at all.

CORS: browsers send ``application/reports+json`` and ``application/csp-report`` bodies
cross-origin, so ``OPTIONS /r/{key}`` answers the preflight (any origin, ``POST``,
``Content-Type``, cached a day) and every answer under ``/r/`` carries
``Access-Control-Allow-Origin: *``. ``GET /healthz`` answers 200 while the writer runs and its
last transaction succeeded, 503 otherwise.

Not defended here (put a reverse proxy such as nginx or Caddy in front, as https needs anyway):
connections that never finish sending their headers (uvicorn has no header timeout), and
connection floods. The client IP is the peer's address, or the ``X-Forwarded-For`` of a proxy on
127.0.0.1 (uvicorn's ``forwarded_allow_ips``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive

from skimguard.collector.periodic import PeriodicJob
from skimguard.collector.reports import CONTENT_TYPES, MAX_BODY, parse_body
from skimguard.collector.writer import ReportWriter, WriterBusy, WriterClosed, WriterError
from skimguard.policy import DEFAULT_ENDPOINT, PolicyError, endpoint_for
from skimguard.store import Store

__all__ = ["Limits", "RateLimiter", "bind", "client_key", "create_app", "report_endpoint", "run_server"]

log = logging.getLogger("skimguard.collector")

CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
MAX_LOGGED_ERRORS = 5  # unexpected errors logged with a traceback per log interval


@dataclass(frozen=True)
class Limits:
    """What one client, one site and one request may do. A rate of 0 turns its limit off."""

    max_body: int = MAX_BODY  # bytes
    max_reports: int = 100  # reports per request
    body_timeout: float = 10.0  # seconds for the whole body to arrive
    ip_rate: float = 20.0  # requests per second per client IP (IPv6: per /64)
    ip_burst: float = 200.0
    site_rate: float = 1000.0  # reports per second per site
    site_burst: float = 10_000.0
    max_clients: int = 100_000  # client buckets kept (least recently used forgotten first)
    log_every: float = 60.0  # seconds between two counter lines in the log


class RateLimiter:
    """Token buckets by key: ``rate`` tokens per second, at most ``burst``. At most ``max_keys``
    buckets are kept, so memory stays bounded: the least recently used is forgotten first, and a
    forgotten key starts again with a full bucket."""

    def __init__(self, rate: float, burst: float, max_keys: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.max_keys = max(1, max_keys)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from the key's bucket; False (nothing taken) when it has fewer."""
        if self.rate <= 0:
            return True
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


def client_key(host: str | None) -> str:
    """The rate-limit identity of a client address: the IPv4 address, the /64 of an IPv6 one."""
    if not host:
        return "unknown"
    if ":" not in host:  # IPv4 (the common case, kept cheap)
        return host[:64]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def report_endpoint(store: Store, site: str, endpoint: str | None = None) -> str:
    """The URL that the site's CSP header names for reports: ``endpoint`` (default
    :data:`skimguard.policy.DEFAULT_ENDPOINT`) with the site's collector key in place of
    ``{site}``. The key is created on first use."""
    template = endpoint or DEFAULT_ENDPOINT
    if "{site}" not in template:
        raise PolicyError(
            f"the collector endpoint {template[:120]!r} has no {{site}} placeholder",
            hint="write it as https://collector.example/r/{site}: {site} becomes the site's collector key",
        )
    return endpoint_for(store.collector_key(site), template)


class _Refused(Exception):
    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class _Collector:
    """The state behind the routes: site keys, limiters, the writer and the log counters."""

    def __init__(self, keys: Mapping[str, str], writer: ReportWriter, limits: Limits) -> None:
        self.keys = dict(keys)  # key -> site
        self.writer = writer
        self.limits = limits
        self.clients = RateLimiter(limits.ip_rate, limits.ip_burst, limits.max_clients)
        # A burst below one full request would refuse every request of that size.
        site_burst = max(limits.site_burst, limits.max_reports)
        self.sites = RateLimiter(limits.site_rate, site_burst, max(1, len(self.keys)))
        self.statuses: Counter[int] = Counter()
        self.kept = 0
        self.noise = 0
        self.errors = 0

    # ---- routes ------------------------------------------------------------------------------

    async def collect(self, request: Request) -> Response:
        try:
            kept, noise = await self._collect(request)
        except _Refused as refused:
            return self._reply(refused.status, refused.reason, refused.retry_after)
        except Exception:  # a bug must not become a 500 that browsers would retry forever
            self.errors += 1
            if self.errors <= MAX_LOGGED_ERRORS:
                log.exception("collector: unexpected error on a report request")
            return self._reply(400, "bad request")
        self.kept += kept
        self.noise += noise
        return self._reply(204)

    async def preflight(self, request: Request) -> Response:
        if request.path_params["key"] not in self.keys:
            return self._reply(404, "unknown collector key")
        return Response(status_code=204, headers=PREFLIGHT)

    async def healthz(self, request: Request) -> Response:
        stats = self.writer.stats()
        healthy = self.writer.healthy
        body = {
            "status": "ok" if healthy else "failing",
            "sites": len(self.keys),
            "stored_reports": stats.reports,
            "pending_reports": stats.pending,
            "failed_batches": stats.failed_batches,
        }
        return JSONResponse(body, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"})

    # ---- one report request ------------------------------------------------------------------

    async def _collect(self, request: Request) -> tuple[int, int]:
        """Check, read, parse and store one request; (kept, noise) or :class:`_Refused`."""
        site = self.keys.get(request.path_params["key"])
        if site is None:
            raise _Refused(404, "unknown collector key")
        if not self.clients.allow(client_key(request.client.host if request.client else None)):
            raise _Refused(429, "too many requests from this client", retry_after=1)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() not in CONTENT_TYPES:
            raise _Refused(415, "send application/reports+json, application/csp-report or application/json")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limits.max_body:
            raise _Refused(413, f"body larger than {self.limits.max_body} bytes")
        # From here the writer counts this request as arriving: a batch about to be committed
        # waits a moment for it (see ReportWriter.arrive), until it is queued or refused.
        self.writer.arrive()
        try:
            future, kept, noise = await self._read_and_queue(request, site, content_type)
        finally:
            self.writer.depart()
        if future is not None:
            try:
                await future
            except WriterError:
                raise _Refused(503, "the reports could not be stored", retry_after=5) from None
        return kept, noise

    async def _read_and_queue(
        self, request: Request, site: str, content_type: str
    ) -> tuple[asyncio.Future[None] | None, int, int]:
        """Read and parse the body and queue its reports: (the commit to await or None, kept, noise)."""
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                body = await _read_body(request.receive, self.limits.max_body)
        except TimeoutError:
            raise _Refused(408, "the body did not arrive in time") from None
        result = parse_body(
            content_type, body, user_agent=request.headers.get("user-agent", ""), max_reports=self.limits.max_reports
        )
        if result.error is not None:
            status = 413 if result.error.startswith(("too many reports", "body too large")) else 400
            raise _Refused(status, result.error)
        kept = len(result.reports)
        if kept == 0 and result.rejected == 0:
            return None, 0, 0
        if kept and not self.sites.allow(site, kept):
            raise _Refused(429, "too many reports for this site", retry_after=1)
        try:
            future = self.writer.submit(site, result.reports, result.rejected)
        except WriterBusy:
            raise _Refused(429, "the collector is busy", retry_after=1) from None
        except WriterClosed:
            raise _Refused(503, "the collector is shutting down", retry_after=5) from None
        return future, kept, result.rejected

    def _reply(self, status: int, reason: str = "", retry_after: int | None = None) -> Response:
        self.statuses[status] += 1
        headers = dict(CORS)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if status in (408, 413):  # the rest of the body is not read: this connection is done
            headers["Connection"] = "close"
        if status == 204:
            return Response(status_code=204, headers=headers)
        return Response(reason + "\n", status_code=status, headers=headers, media_type="text/plain")

    # ---- the counter line --------------------------------------------------------------------

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(self.limits.log_every)
            self.log_counters()

    def log_counters(self, final: bool = False) -> None:
        stats = self.writer.stats()
        refused = ", ".join(f"{code}={n}" for code, n in sorted(self.statuses.items()) if code != 204) or "none"
        what = "stopped" if final else f"last {self.limits.log_every:g}s"
        log.info(
            "collector %s: %d reports kept, %d noise, %d requests answered 204; refused: %s; "
            "total stored %d in %d batches (largest %d), %d failed, %d pending",
            what, self.kept, self.noise, self.statuses[204], refused,
            stats.reports, stats.batches, stats.largest_batch, stats.failed_batches, stats.pending,
        )  # fmt: skip
        self.statuses.clear()
        self.kept = self.noise = self.errors = 0


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes: never read further."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refused(400, "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def create_app(
    store: Store,
    keys: Mapping[str, str],
    limits: Limits | None = None,
    *,
    writer: ReportWriter | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    jobs: Sequence[PeriodicJob] = (),
    drain_timeout: float = 30.0,
) -> Starlette:
    """The collector app for ``keys`` (collector key -> site name). Its lifespan starts the
    writer, the counter log and the periodic ``jobs`` (the telemetry check of ``skimguard serve``,
    on worker threads), and at shutdown stops the jobs (a run in progress may finish, up to
    ``drain_timeout`` seconds) and commits what is pending."""
    collector = _Collector(keys, writer or ReportWriter(store), limits or Limits())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector.writer.start()
        tasks = [asyncio.create_task(collector.tick()), *(asyncio.create_task(job.run()) for job in jobs)]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for job in jobs:
                await job.drain(drain_timeout)
            await asyncio.to_thread(collector.writer.close)
            collector.log_counters(final=True)

    routes: list[BaseRoute] = [
        Route("/r/{key}", collector.collect, methods=["POST"]),
        Route("/r/{key}", collector.preflight, methods=["OPTIONS"]),
        Route("/healthz", collector.healthz, methods=["GET"]),
        *extra_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.collector = collector
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); OSError when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def server_config(app: Starlette, *, graceful_timeout: int = 15, proxy_ips: str = "127.0.0.1") -> uvicorn.Config:
    """How ``skimguard serve`` runs uvicorn: no access log (it would hold shoppers' IPs and be
    the bottleneck), keep-alive, a graceful shutdown that lets pending reports commit."""
    return uvicorn.Config(
        app,
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level="warning",
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=graceful_timeout,
        proxy_headers=True,
        forwarded_allow_ips=proxy_ips,
    )


def run_server(app: Starlette, sock: socket.socket, *, graceful_timeout: int = 15) -> None:
    """Serve ``app`` on the bound socket until SIGINT/SIGTERM (in the main thread), then shut
    down cleanly and return: in-flight requests finish and the writer commits what is pending."""
    server = uvicorn.Server(server_config(app, graceful_timeout=graceful_timeout))
    if threading.current_thread() is not threading.main_thread():
        server.run(sockets=[sock])
        return
    # uvicorn raises the signal again once it has shut down; by then it only means "stop", which
    # is done: a no-op handler lets the caller finish (close the store, exit 0).
    previous = {sig: signal.signal(sig, _ignore_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signal(sig: int, frame: FrameType | None) -> None:
    return None
