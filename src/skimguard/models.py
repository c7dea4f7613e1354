"""Plain data shared by every subsystem.

Everything here is a frozen dataclass or an enum: no I/O, no behaviour beyond small derived
properties. A :class:`Capture` is what the browser saw; detectors turn captures (and the approved
baseline) into :class:`Finding` objects; the store persists both.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit


class Severity(enum.IntEnum):
    """How bad a finding is. Ordered, so ``Severity.HIGH >= Severity.MEDIUM``."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = "|".join(s.label for s in cls)
            raise ValueError(f"unknown severity {value!r} (expected {names})") from None


class Confidence(enum.IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Category(enum.StrEnum):
    INVENTORY = "inventory"
    HEADER = "header"
    FLOW = "flow"
    EXFIL = "exfil"
    CODE = "code"
    TELEMETRY = "telemetry"
    SERVER = "server"
    HEALTH = "health"


class ScriptKind(enum.StrEnum):
    """How a script came to run."""

    EXTERNAL = "external"  # <script src> in the HTML, or a src script inserted later
    INLINE = "inline"  # <script> text in the HTML as served
    DYNAMIC = "dynamic"  # code without a URL created at run time (inserted text, eval, Function)


class ScanStatus(enum.StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def host_of(url: str | None) -> str:
    """Lower-case host name of a URL, '' when there is none (data:, about:blank, inline)."""
    if not url:
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def origin_of(url: str | None) -> str:
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


# --------------------------------------------------------------------------------------------
# What the browser saw
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptRecord:
    """One script that ran in a page or one of its frames.

    ``url`` is the script's own URL for external scripts and ``None`` for inline and dynamic code.
    ``sha256`` identifies the bytes (``None`` only when the source could not be read at all).
    ``initiator`` is the URL of the script or document that brought it in (CDP initiator or stack).
    """

    kind: ScriptKind
    url: str | None
    sha256: str | None
    size: int
    frame_url: str
    initiator: str | None = None
    initiator_type: str | None = None  # parser | script | other
    main_frame: bool = True

    @property
    def key(self) -> str:
        """Inventory identity: URL (query string dropped) for external scripts, hash otherwise."""
        if self.kind is ScriptKind.EXTERNAL and self.url:
            return script_url_key(self.url)
        return f"{self.kind.value}:{self.sha256}"

    @property
    def origin(self) -> str:
        return origin_of(self.url) if self.url else origin_of(self.frame_url)


def script_url_key(url: str) -> str:
    """Identity of an external script: scheme, host, port and path; the query is a cache-buster."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"


@dataclass(frozen=True)
class RequestRecord:
    url: str
    method: str
    resource_type: str
    initiator: str | None = None  # URL of the script (top stack frame) or document
    post_data_size: int = 0
    status: int | None = None
    frame_url: str | None = None
    failed: str | None = None  # error text when the request failed

    @property
    def host(self) -> str:
        return host_of(self.url)


@dataclass(frozen=True)
class FieldRecord:
    tag: str  # input | select | textarea
    type: str
    name: str = ""
    id: str = ""
    autocomplete: str = ""
    label: str = ""
    card_role: str | None = None  # number | expiry | expiry_month | expiry_year | cvc | holder
    visible: bool = True

    @property
    def ident(self) -> str:
        return self.name or self.id or f"{self.tag}[{self.type}]"


@dataclass(frozen=True)
class FormRecord:
    action: str  # absolute URL the form submits to
    method: str
    frame_url: str
    id: str = ""
    name: str = ""
    fields: tuple[FieldRecord, ...] = ()
    visible: bool = True

    @property
    def has_card_fields(self) -> bool:
        return any(f.card_role for f in self.fields)

    @property
    def ident(self) -> str:
        """Stable-ish identity of a form on a page: its id/name, else the field names."""
        if self.id or self.name:
            return f"form#{self.id or self.name}"
        return "form(" + ",".join(sorted(f.ident for f in self.fields)) + ")"


@dataclass(frozen=True)
class FrameRecord:
    url: str
    name: str = ""
    parent_url: str | None = None

    @property
    def origin(self) -> str:
        return origin_of(self.url)


@dataclass(frozen=True)
class Overlay:
    """A field or frame that another frame or form covers: a click at its centre lands on ``cover``
    (``iframe http://x/f.html`` or ``input#n in form http://x/pay``), not on it."""

    frame_url: str  # the frame whose document holds the covered element
    cover: str
    field: FieldRecord | None = None  # the covered field, or
    frame: str = ""  # the covered iframe's URL


@dataclass(frozen=True)
class PageCapture:
    """One document that the main frame showed during a journey."""

    name: str
    url: str  # the URL requested (first of the redirect chain)
    final_url: str
    redirect_chain: tuple[str, ...] = ()
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    scripts: tuple[ScriptRecord, ...] = ()
    requests: tuple[RequestRecord, ...] = ()
    forms: tuple[FormRecord, ...] = ()
    frames: tuple[FrameRecord, ...] = ()
    problems: tuple[str, ...] = ()
    overlays: tuple[Overlay, ...] = ()  # read with the forms; not stored

    @property
    def has_card_fields(self) -> bool:
        return any(f.has_card_fields for f in self.forms)


@dataclass(frozen=True)
class Problem:
    """Something that went wrong while capturing: becomes a ``health`` finding."""

    code: str  # step-timeout | navigation-error | script-too-large | dialog | popup | ...
    message: str
    page: str | None = None
    step: int | None = None


class Channel(enum.StrEnum):
    """Where data left the page (or was staged to leave later)."""

    URL = "url"  # a request URL: query string, path (image beacons, navigations)
    HEADER = "header"  # request headers, the Cookie header included
    BODY = "body"  # a request body: form post, fetch/XHR, sendBeacon
    WEBSOCKET = "websocket"  # a WebSocket frame sent
    COOKIE = "cookie"  # a cookie stored in the browser
    LOCAL_STORAGE = "localStorage"
    SESSION_STORAGE = "sessionStorage"
    POSTMESSAGE = "postMessage"  # a message posted to another window or frame


STAGING_CHANNELS = frozenset({Channel.COOKIE, Channel.LOCAL_STORAGE, Channel.SESSION_STORAGE})


@dataclass(frozen=True)
class Outbound:
    """One piece of data that left the page, or was written where it can leave later.

    ``data`` is bounded and never leaves the process: it exists to be searched for canary values.
    """

    channel: Channel
    destination: str  # URL for network channels, origin for storage, cookie domain or target origin
    data: bytes = field(repr=False)
    page: str = ""  # name of the page showing when it happened
    step: int | None = None  # journey step (0-based) running when it happened
    resource_type: str = ""  # document, fetch, xhr, image, ping, script, websocket ...
    method: str = ""
    initiator: str | None = None  # script URL (stack / CDP initiator) when known

    @property
    def host(self) -> str:
        if "://" not in self.destination:  # a cookie domain such as ".shop.test"
            return self.destination.strip().lstrip(".").lower()
        return host_of(self.destination)


@dataclass(frozen=True)
class HookEvent:
    """One thing a page script did, reported by the runtime-attribution hooks (``hooks.js``).

    ``kind`` is ``field-read`` (a card field's value read), ``listener`` (a key/input/change/blur
    listener added to a card field), ``sink`` (data about to leave: ``detail["kind"]`` says how,
    ``detail["url"]`` where), ``probe`` (a devtools or automation check: ``detail["what"]`` is
    ``navigator.webdriver``, ``window-size`` or ``native-check``) or ``intercepted`` (a request
    skimguard answered itself, see ``Site.intercept``). ``script_url`` is the script on the stack
    that did it ('' unknown).
    """

    kind: str
    script_url: str
    page: str = ""  # name of the page showing when it happened
    step: int | None = None  # journey step (0-based) running when it happened
    detail: Mapping[str, str] = field(default_factory=dict)
    target_host: str = ""  # host of detail["url"] for sinks


@dataclass(frozen=True)
class Capture:
    """Everything one journey run saw. Plain data: detectors and tests need no browser."""

    site: str
    journey: str
    started_at: datetime
    finished_at: datetime
    status: ScanStatus
    pages: tuple[PageCapture, ...] = ()
    problems: tuple[Problem, ...] = ()
    # Script bodies by sha256 (bounded in size by the capture); not part of the JSON output.
    bodies: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    user_agent: str = ""
    identity: str = ""  # the identity label (``desktop-ja-JP``) the journey ran as
    # What left the page, searched for the canary; not stored, not in the JSON output.
    outbound: tuple[Outbound, ...] = field(default=(), repr=False, compare=False)
    canary: CanaryIdentity | None = None
    # What page scripts did, from the runtime-attribution hooks, in order; not stored either.
    events: tuple[HookEvent, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class CanaryIdentity:
    """The unique test values typed during one journey run (ours, never a real person's)."""

    tag: str  # short random tag, also inside e-mail, password and name: traces a hit to its run
    card_number: str
    exp_month: int
    exp_year: int  # four digits
    cvc: str
    holder: str
    email: str
    phone: str
    postal_code: str
    address: str
    password: str
    name: str
    brand: str = "visa"

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year % 100:02d}"

    def values(self) -> dict[str, str]:
        """Every value by name, as typed (what a skimmer can read from the fields)."""
        return {
            "card_number": self.card_number,
            "expiry": self.expiry,
            "cvc": self.cvc,
            "holder": self.holder,
            "email": self.email,
            "phone": self.phone,
            "postal_code": self.postal_code,
            "address": self.address,
            "password": self.password,
            "name": self.name,
        }


CARD_VALUES = frozenset({"card_number", "expiry", "cvc", "holder"})


# --------------------------------------------------------------------------------------------
# What detectors say
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing a detector found. Identity for deduplication: rule + site + page + subject."""

    rule_id: str
    category: Category
    severity: Severity
    confidence: Confidence
    title: str
    site: str
    page: str | None = None
    script_url: str | None = None
    destination: str | None = None
    subject: str = ""  # what the finding is about (script key, header name, host, ...)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    first_seen: datetime | None = None

    @property
    def fingerprint(self) -> str:
        raw = "\x1f".join((self.rule_id, self.site, self.page or "", self.subject))
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    @property
    def content_hash(self) -> str:
        """Changes when the finding's substance changes (used to re-alert on a changed finding).

        Evidence keys that start with ``_`` are details of one sighting (the scan's canary tag, a
        request count) and do not count as a change."""
        substance = {k: v for k, v in self.evidence.items() if not k.startswith("_")}
        raw = json.dumps(
            [self.severity.label, self.title, self.destination, self.script_url, substance],
            sort_keys=True,
            default=str,
            ensure_ascii=False,
        )
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class ScanResult:
    """One scan of one site: all its journeys' captures and the findings they raised."""

    site: str
    scan_id: str
    started_at: datetime
    finished_at: datetime
    status: ScanStatus
    captures: tuple[Capture, ...]
    findings: tuple[Finding, ...]

    @property
    def pages(self) -> tuple[PageCapture, ...]:
        return tuple(p for c in self.captures for p in c.pages)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


# --------------------------------------------------------------------------------------------
# Inventory (PCI DSS 6.4.3) and baseline (11.6.1)
# --------------------------------------------------------------------------------------------


class MatchType(enum.StrEnum):
    HASH = "hash"  # exactly these bytes (sha256), wherever they are served from
    URL = "url"  # this script URL key (scheme://host/path)
    PATTERN = "pattern"  # an fnmatch pattern over the URL key, e.g. https://cdn.vendor.test/v2/*


class ChangeRule(enum.StrEnum):
    """What a URL/pattern approval says about new bytes at an approved URL."""

    PIN = "pin"  # only the hash seen when approving; new bytes are unauthorized
    REVIEW = "review"  # new bytes stay authorized but raise a finding for review
    ALLOW = "allow"  # versioned vendor code that may change freely (still analysed)


@dataclass(frozen=True)
class Decision:
    """An authorization (or its revocation) with its written justification."""

    id: int
    site: str
    match: MatchType
    value: str
    justification: str
    owner: str
    actor: str
    at: datetime
    change_rule: ChangeRule = ChangeRule.PIN
    pinned_sha256: str | None = None  # for URL/pattern + PIN: the bytes approved
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class InventoryItem:
    """One script ever seen on a monitored page of a site."""

    site: str
    key: str  # ScriptRecord.key
    kind: ScriptKind
    url: str | None
    origin: str
    sha256: str | None  # latest bytes seen
    size: int
    first_seen: datetime
    last_seen: datetime
    pages: tuple[str, ...] = ()
    hashes_seen: int = 1
