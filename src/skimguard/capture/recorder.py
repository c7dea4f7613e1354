"""Record what a page does through the Chrome DevTools Protocol.

One :class:`Recorder` watches one Playwright page through a CDP session (site isolation is off,
see ``browser.py``, so the session sees every frame). It splits what it sees into *documents*:
each document the main frame shows becomes one :class:`~skimguard.models.PageCapture`, with the
scripts that ran in it or its frames (bodies fetched with ``Debugger.getScriptSource`` while the
document is alive), every request, the response headers, and DOM snapshots of forms, fields and
frames taken in an isolated world that page scripts cannot tamper with.

Everything here is bounded: counts, string lengths, body sizes and the time of every CDP call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urldefrag, urlsplit

from playwright.async_api import CDPSession
from playwright.async_api import Error as PlaywrightError

from skimguard.capture.fields import card_role
from skimguard.models import (
    Channel,
    FieldRecord,
    FormRecord,
    FrameRecord,
    HookEvent,
    Outbound,
    Overlay,
    PageCapture,
    Problem,
    RequestRecord,
    ScriptKind,
    ScriptRecord,
    host_of,
    origin_of,
)

DOM_JS = resources.files("skimguard.capture").joinpath("dom.js").read_text("utf-8")
HOOKS_JS = resources.files("skimguard.capture").joinpath("hooks.js").read_text("utf-8")
HOOK_URL_PREFIX = "skimguard:"  # our own init scripts carry //# sourceURL=skimguard:...
BINDING_PLACEHOLDER = "__SKIMGUARD_BINDING__"

MAX_URL = 4096
MAX_REQUESTS_PER_PAGE = 3000
MAX_SCRIPTS_PER_PAGE = 1500
MAX_CHAIN = 30
MAX_TOTAL_BODY_BYTES = 64 * 1024 * 1024
MAX_OUTBOUND_ITEM = 1024 * 1024  # bytes of one request body / frame / storage value kept for the search
MAX_OUTBOUND_BYTES = 32 * 1024 * 1024  # all of them in one journey
MAX_POST_DATA_INLINE = 65536  # CDP sends bodies up to this size with the request event
CDP_CALL_TIMEOUT = 5.0
MAX_HOOK_PAYLOAD = 80 * 1024  # one binding call (a postMessage payload is cut to 64 KiB in the page)
MAX_HOOK_EVENTS = 20000  # per journey (the page side stops at 2,000 per document)
MAX_HOOK_DETAIL = 300
HOOK_KINDS = frozenset({"field-read", "listener", "sink", "probe"})

SECURITY_RELEVANT_SCHEMES = ("http", "https", "ws", "wss")


def _cut(value: object, limit: int = MAX_URL) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit]


def _strip_fragment(url: str) -> str:
    return urldefrag(url)[0] if url else url


def _stack_url(stack: dict[str, Any] | None) -> str | None:
    """URL of the innermost script on a CDP stack trace (following async parents)."""
    depth = 0
    while stack and depth < 8:
        for frame in stack.get("callFrames") or ():
            url = frame.get("url")
            if url and not url.startswith(HOOK_URL_PREFIX):
                return _cut(url)
        stack = stack.get("parent")
        depth += 1
    return None


def _initiator(initiator: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if not initiator:
        return None, None
    kind = initiator.get("type")
    url = _stack_url(initiator.get("stack")) or (_cut(initiator["url"]) if initiator.get("url") else None)
    return url, kind


def _post_body(request: dict[str, Any]) -> bytes:
    """The request body CDP sent with the request event (bounded), or b"" when it did not."""
    if request.get("postData") is not None:
        return str(request["postData"]).encode("utf-8", "surrogatepass")[:MAX_OUTBOUND_ITEM]
    parts = []
    for entry in (request.get("postDataEntries") or [])[:64]:
        with contextlib.suppress(ValueError, binascii.Error):
            parts.append(base64.b64decode(entry.get("bytes") or "", validate=False))
    return b"".join(parts)[:MAX_OUTBOUND_ITEM]


def _post_size(request: dict[str, Any]) -> int:
    if request.get("postData") is not None:
        return len(str(request["postData"]).encode("utf-8", "surrogatepass"))
    total = 0
    for entry in request.get("postDataEntries") or ():
        b64 = entry.get("bytes") or ""
        total += len(b64) * 3 // 4
    return total


@dataclass
class _Script:
    kind: ScriptKind
    url: str | None
    frame_id: str
    frame_url: str
    length: int
    initiator: str | None
    initiator_type: str | None
    main_frame: bool
    sha256: str | None = None
    size: int = 0


@dataclass
class _Request:
    url: str
    method: str
    resource_type: str
    initiator: str | None
    initiator_type: str | None
    post_data_size: int
    frame_url: str | None
    status: int | None = None
    failed: str | None = None


@dataclass
class _Doc:
    """Accumulates one main-frame document."""

    loader_id: str
    url: str
    name: str
    chain: list[str] = field(default_factory=list)
    final_url: str = ""
    committed: bool = False
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    scripts: list[_Script] = field(default_factory=list)
    requests: dict[str, _Request] = field(default_factory=dict)
    forms: dict[tuple[str, str], FormRecord] = field(default_factory=dict)
    frames: dict[str, FrameRecord] = field(default_factory=dict)
    overlays: dict[tuple[str, str, str], Overlay] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    dropped_requests: int = 0


class Recorder:
    """Collects documents, scripts and requests of one page. Create, ``await start()``, drive the
    page, call :meth:`snapshot_dom` after each step, then :meth:`finish`.
    """

    def __init__(self, cdp: CDPSession, *, max_script_bytes: int) -> None:
        self._cdp = cdp
        self._max_script_bytes = max_script_bytes
        self._main_frame_id = ""
        self._contexts: dict[int, tuple[str, bool]] = {}  # context id -> (frame id, is default world)
        self._frame_urls: dict[str, str] = {}
        self._frame_parents: dict[str, str | None] = {}
        self._frame_names: dict[str, str] = {}
        self._docs: dict[str, _Doc] = {}
        self._order: list[_Doc] = []
        self._current: _Doc | None = None
        self._script_initiators: dict[str, tuple[str | None, str | None]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._label: str | None = None
        self._label_used = False
        self.navigation_started = asyncio.Event()
        self.bodies: dict[str, bytes] = {}
        self._body_bytes = 0
        self.outbound: list[Outbound] = []
        self.events: list[HookEvent] = []
        self._binding = f"sg{secrets.token_hex(8)}"  # random per scan: pages cannot guess it
        self._outbound_bytes = 0
        self._step: int | None = None
        self._websockets: dict[str, tuple[str, str | None]] = {}  # request id -> (url, initiator)
        self._early_cookies: dict[str, str] = {}  # Cookie headers that came before their request
        self.problems: list[Problem] = []

    # ---------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        cdp = self._cdp
        cdp.on("Page.frameNavigated", self._on_frame_navigated)
        cdp.on("Page.frameAttached", self._on_frame_attached)
        cdp.on("Runtime.executionContextCreated", self._on_context)
        cdp.on("Network.requestWillBeSent", self._on_request)
        cdp.on("Network.responseReceived", self._on_response)
        cdp.on("Network.loadingFailed", self._on_failed)
        cdp.on("Debugger.scriptParsed", self._on_script)
        cdp.on("Network.requestWillBeSentExtraInfo", self._on_request_extra)
        cdp.on("Network.webSocketCreated", self._on_websocket)
        cdp.on("Network.webSocketFrameSent", self._on_websocket_frame)
        cdp.on("DOMStorage.domStorageItemAdded", self._on_storage)
        cdp.on("DOMStorage.domStorageItemUpdated", self._on_storage)
        cdp.on("Runtime.bindingCalled", self._on_binding)
        await cdp.send("Page.enable")
        tree = await cdp.send("Page.getFrameTree")
        self._main_frame_id = tree["frameTree"]["frame"]["id"]
        await cdp.send("Runtime.enable")
        # Runtime attribution: hooks.js in every frame's main world before any page script,
        # reporting through a binding it takes from window and deletes at once.
        await cdp.send("Runtime.addBinding", {"name": self._binding})
        await cdp.send(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": HOOKS_JS.replace(BINDING_PLACEHOLDER, self._binding)},
        )
        await cdp.send("Network.enable", {"maxPostDataSize": MAX_POST_DATA_INLINE})
        await cdp.send("DOMStorage.enable")
        # Requests must reach the network (and our recorder), not a service worker's cache.
        await cdp.send("Network.setBypassServiceWorker", {"bypass": True})
        await cdp.send("Debugger.enable")
        # A page's `debugger;` statements (an anti-analysis trick) must not pause our scan.
        await cdp.send("Debugger.setSkipAllPauses", {"skip": True})
        # Async stacks let CDP name the script behind deferred loads (an image beacon's src).
        await cdp.send("Debugger.setAsyncCallStackDepth", {"maxDepth": 4})

    def begin_step(self, label: str | None, index: int | None = None) -> None:
        """Pages that start loading from now on were led to by a step with this ``page`` label."""
        self._step = index
        self._label = label
        self._label_used = False
        self.navigation_started = asyncio.Event()

    def label_current(self, label: str) -> None:
        """A labelled step that did not navigate names the document it acted on (SPA checkouts)."""
        if self._current is not None and not self._label_used:
            self._current.name = label

    @property
    def current_name(self) -> str | None:
        return self._current.name if self._current else None

    @property
    def current_step(self) -> int | None:
        return self._step

    @property
    def navigated_in_step(self) -> bool:
        return self._label_used

    # ---------------------------------------------------------------------------- CDP events

    def _new_doc(self, loader_id: str, url: str) -> _Doc:
        if self._label and not self._label_used:
            name = self._label
        else:
            name = urlsplit(url).path or "/" if url.startswith(("http:", "https:")) else url[:80]
        self._label_used = True
        self.navigation_started.set()
        doc = _Doc(loader_id=loader_id, url=url, name=name, chain=[url])
        self._docs[loader_id] = doc
        self._order.append(doc)
        return doc

    def _on_request(self, ev: dict[str, Any]) -> None:
        try:
            request = ev["request"]
            url = _cut(request.get("url"))
            rtype = str(ev.get("type") or "Other")
            frame_id = ev.get("frameId")
            if rtype == "Document" and frame_id == self._main_frame_id:
                loader = ev.get("loaderId") or ev["requestId"]
                doc = self._docs.get(loader)
                if doc is None:
                    doc = self._new_doc(loader, url)
                elif ev.get("redirectResponse") and len(doc.chain) < MAX_CHAIN:
                    doc.chain.append(url)
            else:
                doc = self._docs.get(ev.get("loaderId") or "") if frame_id == self._main_frame_id else None
                doc = doc or self._current
            if doc is None:
                return
            initiator, itype = _initiator(ev.get("initiator"))
            if rtype == "Script":  # the latest request for a script URL is the one about to run
                self._script_initiators[_strip_fragment(url)] = (initiator, itype)
            rid = ev["requestId"]
            if ev.get("redirectResponse") is not None and rid in doc.requests:
                doc.requests[rid].status = int(ev["redirectResponse"].get("status") or 0) or None
                rid = f"{rid}#{len(doc.requests)}"
            if len(doc.requests) >= MAX_REQUESTS_PER_PAGE:
                doc.dropped_requests += 1
                return
            self._record_request(ev, doc, url, rtype, initiator)
            if rtype == "Document" and itype == "script" and initiator:
                # location.href/assign/replace cannot be hooked in the page: CDP names the script.
                sender = self._current if frame_id == self._main_frame_id else doc
                self._add_event("sink", initiator, {"kind": "navigation", "url": url}, (sender or doc).name)
            doc.requests[rid] = _Request(
                url=url,
                method=_cut(request.get("method") or "GET", 16),
                resource_type=rtype.lower(),
                initiator=initiator,
                initiator_type=itype,
                post_data_size=_post_size(request),
                # A document request loads into its frame: the frame's URL becomes the request's.
                frame_url=_strip_fragment(url if rtype == "Document" else self._frame_urls.get(frame_id or "", ""))
                or None,
            )
        except (KeyError, TypeError, ValueError):
            return  # a malformed event must not stop recording

    # ---------------------------------------------------------------------------- what leaves

    def _emit(
        self,
        channel: Channel,
        destination: str,
        data: bytes,
        *,
        page: str | None = None,
        resource_type: str = "",
        method: str = "",
        initiator: str | None = None,
    ) -> None:
        if not data or self._outbound_bytes >= MAX_OUTBOUND_BYTES:
            return
        data = data[:MAX_OUTBOUND_ITEM]
        self._outbound_bytes += len(data)
        self.outbound.append(
            Outbound(
                channel=channel,
                destination=_cut(destination),
                data=data,
                page=page if page is not None else (self._current.name if self._current else ""),
                step=self._step,
                resource_type=resource_type,
                method=method,
                initiator=initiator,
            )
        )

    def _record_request(self, ev: dict[str, Any], doc: _Doc, url: str, rtype: str, initiator: str | None) -> None:
        """The URL, headers and body of a request, as data that left the page."""
        request = ev["request"]
        kind, method = rtype.lower(), str(request.get("method") or "GET")[:16]
        # A navigation or form post is sent by the page showing, not by the one it loads.
        sender = self._current if kind == "document" and ev.get("frameId") == self._main_frame_id else doc
        page = (sender or doc).name
        common: dict[str, Any] = {"page": page, "resource_type": kind, "method": method, "initiator": initiator}
        if not url.startswith("data:"):
            self._emit(Channel.URL, url, url.encode("utf-8", "surrogatepass"), **common)
        headers = dict(request.get("headers") or {})
        early = self._early_cookies.pop(ev.get("requestId", ""), None)
        if early:
            headers["cookie"] = early
        if headers:
            text = "\n".join(f"{k}: {v}" for k, v in list(headers.items())[:100])
            self._emit(Channel.HEADER, url, text.encode("utf-8", "surrogatepass"), **common)
        body = _post_body(request)
        if body:
            self._emit(Channel.BODY, url, body, **common)
        elif request.get("hasPostData"):
            task = asyncio.get_running_loop().create_task(self._fetch_post_data(ev["requestId"], url, common))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _fetch_post_data(self, request_id: str, url: str, common: dict[str, Any]) -> None:
        try:
            reply = await asyncio.wait_for(
                self._cdp.send("Network.getRequestPostData", {"requestId": request_id}), CDP_CALL_TIMEOUT
            )
        except (PlaywrightError, TimeoutError):
            return
        data = reply.get("postData")
        if isinstance(data, str):
            self._emit(Channel.BODY, url, data.encode("utf-8", "surrogatepass"), **common)

    # ---------------------------------------------------------------------------- runtime hooks

    def _on_binding(self, ev: dict[str, Any]) -> None:
        """One report of hooks.js: a HookEvent, or a postMessage payload that becomes Outbound."""
        if ev.get("name") != self._binding:
            return
        _, is_default = self._contexts.get(int(ev.get("executionContextId", -1)), ("", False))
        payload = ev.get("payload")
        if not is_default or not isinstance(payload, str) or len(payload) > MAX_HOOK_PAYLOAD:
            return
        try:
            msg = json.loads(payload)
        except ValueError:
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("d"), dict):
            return
        kind, script = str(msg.get("k") or ""), _cut(msg.get("s") or "")
        detail = {
            _cut(k, 40): _cut(v, MAX_URL if k == "url" else MAX_HOOK_DETAIL)
            for k, v in list(msg["d"].items())[:12]
            if isinstance(v, str | int | float | bool)
        }
        if kind == "message":  # data posted into this frame by another window
            data = msg.get("data")
            if isinstance(data, str):
                target = origin_of(detail.get("url")) or detail.get("url", "")
                self._emit(Channel.POSTMESSAGE, target, data.encode("utf-8", "surrogatepass"),
                           resource_type="postmessage")
        elif kind in HOOK_KINDS:
            self._add_event(kind, script, detail)

    def _add_event(self, kind: str, script: str, detail: dict[str, str], page: str | None = None) -> None:
        if len(self.events) >= MAX_HOOK_EVENTS:
            return
        if page is None:
            page = self._current.name if self._current else ""
        self.events.append(
            HookEvent(
                kind=kind,
                script_url=_strip_fragment(script),
                page=page,
                step=self._step,
                detail=detail,
                target_host=host_of(detail.get("url")) if kind == "sink" else "",
            )
        )

    def _on_request_extra(self, ev: dict[str, Any]) -> None:
        """Headers the network stack added, the Cookie header among them."""
        headers = {str(k).lower(): v for k, v in (ev.get("headers") or {}).items()}
        cookie = headers.get("cookie")
        if not cookie:
            return
        found = self._find_request(ev.get("requestId", ""))
        if found is None:
            if len(self._early_cookies) < 1000:
                self._early_cookies[ev.get("requestId", "")] = str(cookie)
            return
        doc, req = found
        self._emit(Channel.HEADER, req.url, f"cookie: {cookie}".encode("utf-8", "surrogatepass"),
                   page=doc.name, resource_type=req.resource_type, method=req.method, initiator=req.initiator)

    def _on_websocket(self, ev: dict[str, Any]) -> None:
        initiator, _ = _initiator(ev.get("initiator"))
        if len(self._websockets) < 200:
            self._websockets[ev.get("requestId", "")] = (_cut(ev.get("url", "")), initiator)

    def _on_websocket_frame(self, ev: dict[str, Any]) -> None:
        url, initiator = self._websockets.get(ev.get("requestId", ""), ("", None))
        response = ev.get("response") or {}
        payload = str(response.get("payloadData") or "")
        data = base64.b64decode(payload, validate=False) if response.get("opcode") == 2 else payload.encode(
            "utf-8", "surrogatepass"
        )
        self._emit(Channel.WEBSOCKET, url, data, resource_type="websocket", initiator=initiator)

    def _on_storage(self, ev: dict[str, Any]) -> None:
        storage = ev.get("storageId") or {}
        channel = Channel.LOCAL_STORAGE if storage.get("isLocalStorage") else Channel.SESSION_STORAGE
        origin = str(storage.get("securityOrigin") or storage.get("storageKey") or "")
        data = f"{ev.get('key', '')}={ev.get('newValue', '')}"
        self._emit(channel, origin, data.encode("utf-8", "surrogatepass"))

    async def record_cookies(self, timeout: float) -> None:
        """Cookies the journey left in the browser (a skimmer's staging area), at its end."""
        try:
            reply = await asyncio.wait_for(self._cdp.send("Network.getCookies"), timeout)
        except (PlaywrightError, TimeoutError):
            return
        for cookie in (reply.get("cookies") or [])[:500]:
            data = f"{cookie.get('name', '')}={cookie.get('value', '')}"
            self._emit(Channel.COOKIE, str(cookie.get("domain", "")), data.encode("utf-8", "surrogatepass"))

    def _find_request(self, request_id: str) -> tuple[_Doc, _Request] | None:
        for doc in reversed(self._order):
            req = doc.requests.get(request_id)
            if req is not None:
                return doc, req
        return None

    def _on_response(self, ev: dict[str, Any]) -> None:
        response = ev.get("response") or {}
        found = self._find_request(ev.get("requestId", ""))
        if found is None:
            return
        doc, req = found
        req.status = int(response.get("status") or 0) or None
        if ev.get("type") == "Document" and ev.get("frameId") == self._main_frame_id:
            doc.status = req.status
            headers = response.get("headers") or {}
            doc.headers = {_cut(k, 200).lower(): _cut(v, 16384) for k, v in list(headers.items())[:200]}

    def _on_failed(self, ev: dict[str, Any]) -> None:
        found = self._find_request(ev.get("requestId", ""))
        if found is None:
            return
        doc, req = found
        req.failed = _cut(ev.get("errorText") or "failed", 200)
        if ev.get("type") == "Document" and req.url in doc.chain and not ev.get("canceled"):
            doc.problems.append(f"navigation failed: {req.failed}")

    def _on_frame_attached(self, ev: dict[str, Any]) -> None:
        self._frame_parents[ev.get("frameId", "")] = ev.get("parentFrameId")

    def _on_frame_navigated(self, ev: dict[str, Any]) -> None:
        frame = ev.get("frame") or {}
        fid = frame.get("id", "")
        url = _cut(frame.get("url", ""))
        self._frame_urls[fid] = url
        self._frame_parents.setdefault(fid, frame.get("parentId"))
        if frame.get("name"):
            self._frame_names[fid] = _cut(frame["name"], 200)
        if frame.get("parentId") or fid != self._main_frame_id:
            return
        loader = frame.get("loaderId", "")
        doc = self._docs.get(loader) or self._new_doc(loader, url)
        doc.final_url = url
        doc.committed = not url.startswith("chrome-error:")
        self._current = doc

    def _on_context(self, ev: dict[str, Any]) -> None:
        ctx = ev.get("context") or {}
        aux = ctx.get("auxData") or {}
        self._contexts[int(ctx.get("id", -1))] = (str(aux.get("frameId", "")), bool(aux.get("isDefault")))

    def _on_script(self, ev: dict[str, Any]) -> None:
        frame_id, is_default = self._contexts.get(int(ev.get("executionContextId", -1)), ("", False))
        url = str(ev.get("url") or "")
        if not is_default or url.startswith(("__playwright", HOOK_URL_PREFIX, "pptr:")):
            return
        doc = self._current
        if doc is None or len(doc.scripts) >= MAX_SCRIPTS_PER_PAGE:
            return
        frame_url = self._frame_urls.get(frame_id, "")
        main = frame_id == self._main_frame_id
        initiator: str | None
        itype: str | None
        if not url or ev.get("hasSourceURL"):
            kind = ScriptKind.DYNAMIC
            initiator, itype = _stack_url(ev.get("stackTrace")) or _strip_fragment(frame_url), "script"
            url_out: str | None = None
        elif _strip_fragment(url) == _strip_fragment(frame_url):
            kind, url_out = ScriptKind.INLINE, None
            initiator, itype = _strip_fragment(frame_url), "parser"
        else:
            kind, url_out = ScriptKind.EXTERNAL, _cut(url)
            initiator, itype = self._script_initiators.get(_strip_fragment(url), (None, None))
        length = int(ev.get("length") or 0)
        script = _Script(kind, url_out, frame_id, frame_url, length, initiator, itype, main, size=length)
        doc.scripts.append(script)
        if length > self._max_script_bytes:
            self.problems.append(
                Problem(
                    "script-too-large",
                    f"script of {length} bytes not read: {url or 'inline'}"[:400],
                    page=doc.name,
                )
            )
            return
        task = asyncio.get_running_loop().create_task(self._fetch_body(ev["scriptId"], script))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _fetch_body(self, script_id: str, script: _Script) -> None:
        try:
            reply = await asyncio.wait_for(
                self._cdp.send("Debugger.getScriptSource", {"scriptId": script_id}), CDP_CALL_TIMEOUT * 4
            )
        except (PlaywrightError, TimeoutError):
            return
        source = reply.get("scriptSource")
        if source is None:
            return
        body = source.encode("utf-8", "surrogatepass")
        script.size = len(body)
        script.sha256 = hashlib.sha256(body).hexdigest()
        if script.sha256 not in self.bodies and self._body_bytes + len(body) <= MAX_TOTAL_BODY_BYTES:
            self.bodies[script.sha256] = body
            self._body_bytes += len(body)

    # ---------------------------------------------------------------------------- DOM snapshots

    async def snapshot_dom(self, timeout: float) -> None:
        """Forms, fields and iframes of every frame, read in an isolated world."""
        doc = self._current
        if doc is None or not doc.committed:
            return
        try:
            tree = await asyncio.wait_for(self._cdp.send("Page.getFrameTree"), timeout)
        except (PlaywrightError, TimeoutError):
            doc.problems.append("frame tree not readable")
            return
        frames: list[tuple[dict[str, Any], str | None]] = []
        stack: list[tuple[dict[str, Any], str | None]] = [(tree["frameTree"], None)]
        while stack and len(frames) < 100:
            node, parent_url = stack.pop()
            frames.append((node["frame"], parent_url))
            stack.extend((child, node["frame"].get("url")) for child in node.get("childFrames") or ())
        forms: list[FormRecord] = []
        overlays: list[Overlay] = []
        frame_records: dict[str, FrameRecord] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for frame, parent_url in frames:
            frame_url = _cut(frame.get("url", ""))
            if parent_url is not None:
                frame_records[frame_url] = FrameRecord(
                    url=frame_url, name=_cut(frame.get("name", ""), 200), parent_url=_cut(parent_url)
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                doc.problems.append("DOM snapshot ran out of time")
                break
            data = await self._evaluate_in_frame(frame["id"], remaining)
            if data is None:
                continue
            if parent_url is None and _strip_fragment(str(data.get("url", ""))) != _strip_fragment(doc.final_url):
                return  # the page navigated while we looked: this DOM is not the document's
            forms.extend(_forms_from_dom(data, frame_url))
            overlays.extend(_overlays_from_dom(data, _strip_fragment(frame_url)))
        if self._current is not doc:
            return
        for overlay in overlays:
            key = (overlay.frame_url, overlay.field.ident if overlay.field else overlay.frame, overlay.cover)
            if key in doc.overlays or len(doc.overlays) < 20:
                doc.overlays[key] = overlay
        # Every form the document showed during its life, the latest version of each.
        for form in forms:
            doc.forms[(form.frame_url, form.ident)] = form
        doc.frames.update(frame_records)

    async def _evaluate_in_frame(self, frame_id: str, timeout: float) -> dict[str, Any] | None:
        try:
            world = await asyncio.wait_for(
                self._cdp.send(
                    "Page.createIsolatedWorld",
                    {"frameId": frame_id, "worldName": "skimguard-dom", "grantUniveralAccess": False},
                ),
                timeout,
            )
            reply = await asyncio.wait_for(
                self._cdp.send(
                    "Runtime.evaluate",
                    {
                        "expression": DOM_JS,
                        "contextId": world["executionContextId"],
                        "returnByValue": True,
                        "timeout": int(timeout * 1000),
                    },
                ),
                timeout,
            )
        except (PlaywrightError, TimeoutError, KeyError):
            return None
        result = reply.get("result", {}).get("value")
        return result if isinstance(result, dict) else None

    # ---------------------------------------------------------------------------- results

    async def settle(self, timeout: float) -> None:
        """Wait (bounded) for script bodies still being fetched."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)

    def pages(self) -> list[PageCapture]:
        return [self._page(doc) for doc in self._order]

    def _page(self, doc: _Doc) -> PageCapture:
        seen: set[tuple[object, ...]] = set()
        scripts: list[ScriptRecord] = []
        for s in doc.scripts:
            record = ScriptRecord(
                kind=s.kind,
                url=s.url,
                sha256=s.sha256,
                size=s.size,
                frame_url=_strip_fragment(s.frame_url),
                initiator=s.initiator,
                initiator_type=s.initiator_type,
                main_frame=s.main_frame,
            )
            ident = (record.kind, record.url, record.sha256, record.frame_url)
            if ident not in seen:
                seen.add(ident)
                scripts.append(record)
        requests = tuple(
            RequestRecord(
                url=r.url,
                method=r.method,
                resource_type=r.resource_type,
                initiator=r.initiator,
                post_data_size=r.post_data_size,
                status=r.status,
                frame_url=r.frame_url,
                failed=r.failed,
            )
            for r in doc.requests.values()
        )
        problems = list(doc.problems)
        if doc.dropped_requests:
            problems.append(f"{doc.dropped_requests} requests over the limit not recorded")
        if not doc.committed:
            problems.append("the page never loaded")
        return PageCapture(
            name=doc.name,
            url=doc.url,
            final_url=doc.final_url or (doc.chain[-1] if doc.chain else doc.url),
            redirect_chain=tuple(doc.chain),
            status=doc.status,
            headers=dict(doc.headers),
            scripts=tuple(scripts),
            requests=requests,
            forms=tuple(doc.forms.values()),
            frames=tuple(doc.frames.values()),
            problems=tuple(problems),
            overlays=tuple(doc.overlays.values()),
        )

    @property
    def committed_pages(self) -> int:
        return sum(1 for d in self._order if d.committed)


def _field(raw: dict[str, Any]) -> FieldRecord:
    attrs = {k: _cut(raw.get(k, ""), 300) for k in ("type", "name", "id", "autocomplete", "label", "placeholder")}
    return FieldRecord(
        tag=_cut(raw.get("tag", "input"), 20),
        type=attrs["type"],
        name=attrs["name"],
        id=attrs["id"],
        autocomplete=attrs["autocomplete"],
        label=attrs["label"] or attrs["placeholder"],
        card_role=card_role(**attrs),
        visible=bool(raw.get("visible", True)),
    )


def _overlays_from_dom(data: dict[str, Any], frame_url: str) -> list[Overlay]:
    out = []
    for raw in (data.get("overlays") or [])[:20]:
        if not isinstance(raw, dict) or not raw.get("cover"):
            continue
        covered_field = raw.get("field")
        out.append(
            Overlay(
                frame_url=frame_url,
                cover=_cut(raw.get("cover"), 600),
                field=_field(covered_field) if isinstance(covered_field, dict) else None,
                frame=_cut(raw.get("frame", "")),
            )
        )
    return out


def _forms_from_dom(data: dict[str, Any], frame_url: str) -> list[FormRecord]:
    forms = []
    for raw in (data.get("forms") or [])[:200]:
        if not isinstance(raw, dict):
            continue
        forms.append(
            FormRecord(
                action=_cut(raw.get("action", "")),
                method=_cut(raw.get("method", "GET"), 16).upper(),
                frame_url=_strip_fragment(frame_url),
                id=_cut(raw.get("id", ""), 200),
                name=_cut(raw.get("name", ""), 200),
                fields=tuple(_field(f) for f in (raw.get("fields") or [])[:400] if isinstance(f, dict)),
                visible=bool(raw.get("visible", True)),
            )
        )
    loose = [f for f in (data.get("loose") or [])[:400] if isinstance(f, dict)]
    if loose:
        forms.append(
            FormRecord(
                action="",
                method="",
                frame_url=_strip_fragment(frame_url),
                id="(fields outside forms)",
                fields=tuple(_field(f) for f in loose),
            )
        )
    return forms
