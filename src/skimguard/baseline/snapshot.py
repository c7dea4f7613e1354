"""What a site looked like: the comparable state of every monitored page.

A :class:`SiteSnapshot` is built from one scan's captures (:func:`snapshot_from_captures`). The
*approved* snapshot, accepted by a human, is the baseline; detectors compare the current snapshot
with it, page by page, pages matched by **name** (the ``page:`` of a journey step).

Per page it keeps only what change detection needs: the scripts (key -> hashes, kind, URL, size,
frame), the security headers as served, the forms and their fields (keyed by form ident, qualified
by the frame origin for forms in frames of another origin), the frame origins, the hosts requests
went to (with methods, resource types and whether data was sent), whether card fields were present,
and where the page ended up (final URL, redirect chain, status). A page name seen several times (several journeys,
or twice in one journey) is merged: sets are united, and for single values the last one seen wins.

The JSON form (:meth:`SiteSnapshot.to_json`) is plain, stable (sorted keys) and versioned.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from skimguard.capture.fields import is_personal_field
from skimguard.errors import SkimguardError
from skimguard.models import Capture, FormRecord, PageCapture, ScriptKind, origin_of

SNAPSHOT_VERSION = 1

SECURITY_HEADERS: tuple[str, ...] = (
    "content-security-policy",
    "content-security-policy-report-only",
    "strict-transport-security",
    "x-frame-options",
    "referrer-policy",
    "permissions-policy",
)
BEACON_TYPES = frozenset({"image", "ping", "beacon"})
DATA_METHODS = frozenset({"POST", "PUT", "PATCH"})
LONG_QUERY = 24  # a beacon whose query carries this many characters carries data

MAX_SAMPLE_URL = 200
MAX_FRAME_URLS = 20  # per origin
MAX_INITIATORS = 5  # per destination host
MAX_HEADER_VALUE = 16384

__all__ = [
    "SECURITY_HEADERS",
    "SNAPSHOT_VERSION",
    "BaselineError",
    "DestinationEntry",
    "FieldEntry",
    "FormEntry",
    "PageSnapshot",
    "ScriptEntry",
    "SiteSnapshot",
    "form_key",
    "redact_url",
    "snapshot_from_captures",
]


class BaselineError(SkimguardError):
    """A stored snapshot cannot be read (wrong version, damaged JSON)."""

    hint = "accept a new baseline with `skimguard baseline accept`"


def redact_url(url: str, limit: int = MAX_SAMPLE_URL) -> str:
    """``url`` with query values dropped (keys kept) and the fragment removed, cut to ``limit``.

    Query values may carry what a page sent (even shopper data): evidence keeps only their names.
    """
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return url[:limit]
    out = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
    if query:
        out += "?" + "&".join(f"{k[:40]}=" for k, _ in query[:20])
    elif parts.query:
        out += "?…"
    return out if len(out) <= limit else out[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# The snapshot
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptEntry:
    """One script (by inventory key) on a page. ``sha256`` is the latest bytes seen; ``hashes`` every
    sha256 seen for the key on this page (more than one when a page was captured several times)."""

    key: str
    kind: ScriptKind
    sha256: str | None
    url: str | None
    size: int
    frame_url: str
    main_frame: bool
    hashes: tuple[str, ...] = ()
    initiator: str | None = None


@dataclass(frozen=True)
class FieldEntry:
    ident: str
    type: str
    autocomplete: str = ""
    card_role: str | None = None


@dataclass(frozen=True)
class FormEntry:
    ident: str
    action: str
    method: str
    visible: bool
    frame_url: str
    fields: Mapping[str, FieldEntry] = field(default_factory=dict)

    @property
    def has_card_fields(self) -> bool:
        return any(f.card_role for f in self.fields.values())

    @property
    def card_roles(self) -> tuple[str, ...]:
        return tuple(sorted({f.card_role for f in self.fields.values() if f.card_role}))


@dataclass(frozen=True)
class DestinationEntry:
    """Requests from a page to one host."""

    host: str
    methods: tuple[str, ...]
    resource_types: tuple[str, ...]
    sample_url: str  # redacted: query keys only
    initiators: tuple[str, ...] = ()
    sends_data: bool = False  # POST/PUT/PATCH or a request body
    long_query_beacon: bool = False  # an image/ping/beacon request with a query > 64 characters
    requests: int = 0


@dataclass(frozen=True)
class PageSnapshot:
    """What a named page is approved to look like."""

    name: str
    url: str
    final_url: str
    redirect_chain: tuple[str, ...] = ()
    status: int | None = None  # HTTP status of the main document (the last capture's)
    card_page: bool = False
    personal_page: bool = False  # fields for e-mail, password, phone, address (registration, address step)
    headers: Mapping[str, str] = field(default_factory=dict)  # security headers only, lower-case names
    scripts: Mapping[str, ScriptEntry] = field(default_factory=dict)
    forms: Mapping[str, FormEntry] = field(default_factory=dict)
    frames: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # origin -> frame URLs
    destinations: Mapping[str, DestinationEntry] = field(default_factory=dict)

    @property
    def sensitive(self) -> bool:
        """Card or personal data is entered here: what leaves this page matters."""
        return self.card_page or self.personal_page


@dataclass(frozen=True)
class SiteSnapshot:
    site: str
    pages: Mapping[str, PageSnapshot] = field(default_factory=dict)
    journeys: tuple[str, ...] = ()
    captured_at: datetime | None = None  # when the newest capture in it finished

    def page(self, name: str) -> PageSnapshot | None:
        return self.pages.get(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "site": self.site,
            "captured_at": self.captured_at.isoformat() if self.captured_at else None,
            "journeys": list(self.journeys),
            "pages": {name: _page_to_json(self.pages[name]) for name in sorted(self.pages)},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SiteSnapshot:
        try:
            if not isinstance(data, Mapping):
                raise TypeError("a snapshot is a JSON object")
            version = data.get("version")
            if version != SNAPSHOT_VERSION:
                raise BaselineError(f"baseline snapshot version {version!r} is not supported (expected 1)")
            at = data.get("captured_at")
            return cls(
                site=str(data["site"]),
                pages={str(n): _page_from_json(str(n), p) for n, p in dict(data.get("pages") or {}).items()},
                journeys=tuple(str(j) for j in data.get("journeys") or ()),
                captured_at=datetime.fromisoformat(at) if at else None,
            )
        except BaselineError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise BaselineError(f"damaged baseline snapshot: {type(err).__name__}: {err}") from None


# --------------------------------------------------------------------------------------------
# Building a snapshot from captures
# --------------------------------------------------------------------------------------------


class _PageBuilder:
    """Mutable accumulator for one page name; :meth:`freeze` makes the PageSnapshot."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = ""
        self.final_url = ""
        self.redirect_chain: tuple[str, ...] = ()
        self.status: int | None = None
        self.card_page = False
        self.personal_page = False
        self.headers: dict[str, str] = {}
        self.scripts: dict[str, ScriptEntry] = {}
        self.forms: dict[str, FormEntry] = {}
        self.frames: dict[str, list[str]] = {}
        self.dest: dict[str, dict[str, Any]] = {}

    def add(self, page: PageCapture) -> None:
        self.url = page.url
        self.final_url = page.final_url
        self.redirect_chain = tuple(page.redirect_chain)
        self.status = page.status
        self.card_page = self.card_page or page.has_card_fields
        self.personal_page = self.personal_page or any(
            is_personal_field(type=f.type, name=f.name, id=f.id, autocomplete=f.autocomplete, label=f.label)
            for form in page.forms
            for f in form.fields
        )
        for name, value in page.headers.items():
            lname = name.lower()
            if lname in SECURITY_HEADERS:
                self.headers[lname] = value[:MAX_HEADER_VALUE]
        for s in page.scripts:
            old = self.scripts.get(s.key)
            hashes = set(old.hashes) if old else set()
            if s.sha256:
                hashes.add(s.sha256)
            self.scripts[s.key] = ScriptEntry(
                key=s.key,
                kind=s.kind,
                sha256=s.sha256 or (old.sha256 if old else None),
                url=s.url,
                size=s.size,
                frame_url=old.frame_url if old else s.frame_url,
                main_frame=s.main_frame or (old.main_frame if old else False),
                hashes=tuple(sorted(hashes)),
                initiator=s.initiator or (old.initiator if old else None),
            )
        page_origin = origin_of(page.final_url or page.url)
        for form in page.forms:
            key = form_key(form, page_origin)
            self.forms[key] = _merge_form(key, self.forms.get(key), form)
        for frame in page.frames:
            origin = frame.origin
            if not origin:
                continue
            urls = self.frames.setdefault(origin, [])
            if frame.url not in urls and len(urls) < MAX_FRAME_URLS:
                urls.append(frame.url)
        for req in page.requests:
            host = req.host
            if not host:
                continue
            d = self.dest.setdefault(
                host,
                {
                    "methods": set(),
                    "types": set(),
                    "sample": redact_url(req.url),
                    "initiators": [],
                    "sends_data": False,
                    "long_query": False,
                    "requests": 0,
                },
            )
            method = req.method.upper()
            d["methods"].add(method)
            d["types"].add(req.resource_type.lower())
            d["requests"] += 1
            if req.initiator and req.initiator not in d["initiators"] and len(d["initiators"]) < MAX_INITIATORS:
                d["initiators"].append(req.initiator)
            sends = method in DATA_METHODS or req.post_data_size > 0
            long_query = req.resource_type.lower() in BEACON_TYPES and len(_query(req.url)) > LONG_QUERY
            if (sends and not d["sends_data"]) or (long_query and not d["long_query"]):
                d["sample"] = redact_url(req.url)  # the sample shows the request that matters most
            d["sends_data"] = d["sends_data"] or sends
            d["long_query"] = d["long_query"] or long_query

    def freeze(self) -> PageSnapshot:
        return PageSnapshot(
            name=self.name,
            url=self.url,
            final_url=self.final_url,
            redirect_chain=self.redirect_chain,
            status=self.status,
            card_page=self.card_page,
            personal_page=self.personal_page,
            headers=dict(sorted(self.headers.items())),
            scripts=dict(sorted(self.scripts.items())),
            forms=dict(sorted(self.forms.items())),
            frames={o: tuple(sorted(u)) for o, u in sorted(self.frames.items())},
            destinations={
                host: DestinationEntry(
                    host=host,
                    methods=tuple(sorted(d["methods"])),
                    resource_types=tuple(sorted(d["types"])),
                    sample_url=d["sample"],
                    initiators=tuple(d["initiators"]),
                    sends_data=d["sends_data"],
                    long_query_beacon=d["long_query"],
                    requests=d["requests"],
                )
                for host, d in sorted(self.dest.items())
            },
        )


def _query(url: str) -> str:
    try:
        return urlsplit(url).query
    except ValueError:
        return ""


def form_key(form: FormRecord, page_origin: str) -> str:
    """A form's identity on its page: its ident, qualified by the frame origin when the form is in
    a frame of another origin (a PSP's hosted fields are not the shop's own form)."""
    origin = origin_of(form.frame_url)
    return form.ident if not origin or origin == page_origin else f"{form.ident}@{origin}"


def _merge_form(key: str, old: FormEntry | None, form: FormRecord) -> FormEntry:
    fields = dict(old.fields) if old else {}
    for f in form.fields:
        fields[f.ident] = FieldEntry(ident=f.ident, type=f.type, autocomplete=f.autocomplete, card_role=f.card_role)
    return FormEntry(
        ident=key,
        action=form.action,
        method=form.method.upper(),
        visible=form.visible or (old.visible if old else False),
        frame_url=form.frame_url,
        fields=dict(sorted(fields.items())),
    )


def snapshot_from_captures(site_name: str, captures: Sequence[Capture]) -> SiteSnapshot:
    """The comparable state of ``site_name`` as these captures saw it (pages merged by name)."""
    builders: dict[str, _PageBuilder] = {}
    journeys: list[str] = []
    finished: datetime | None = None
    for capture in captures:
        if capture.journey not in journeys:
            journeys.append(capture.journey)
        if finished is None or capture.finished_at > finished:
            finished = capture.finished_at
        for page in capture.pages:
            builder = builders.get(page.name)
            if builder is None:
                builder = builders[page.name] = _PageBuilder(page.name)
            builder.add(page)
    return SiteSnapshot(
        site=site_name,
        pages={name: builders[name].freeze() for name in sorted(builders)},
        journeys=tuple(journeys),
        captured_at=finished,
    )


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def _page_to_json(p: PageSnapshot) -> dict[str, Any]:
    return {
        "url": p.url,
        "final_url": p.final_url,
        "redirect_chain": list(p.redirect_chain),
        "status": p.status,
        "card_page": p.card_page,
        "personal_page": p.personal_page,
        "headers": dict(p.headers),
        "scripts": {
            k: {
                "kind": s.kind.value,
                "sha256": s.sha256,
                "hashes": list(s.hashes),
                "url": s.url,
                "size": s.size,
                "frame_url": s.frame_url,
                "main_frame": s.main_frame,
                "initiator": s.initiator,
            }
            for k, s in p.scripts.items()
        },
        "forms": {
            ident: {
                "action": f.action,
                "method": f.method,
                "visible": f.visible,
                "frame_url": f.frame_url,
                "fields": {
                    fid: {"type": fe.type, "autocomplete": fe.autocomplete, "card_role": fe.card_role}
                    for fid, fe in f.fields.items()
                },
            }
            for ident, f in p.forms.items()
        },
        "frames": {origin: list(urls) for origin, urls in p.frames.items()},
        "destinations": {
            host: {
                "methods": list(d.methods),
                "resource_types": list(d.resource_types),
                "sample_url": d.sample_url,
                "initiators": list(d.initiators),
                "sends_data": d.sends_data,
                "long_query_beacon": d.long_query_beacon,
                "requests": d.requests,
            }
            for host, d in p.destinations.items()
        },
    }


def _strs(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _page_from_json(name: str, raw: Mapping[str, Any]) -> PageSnapshot:
    scripts = {
        str(k): ScriptEntry(
            key=str(k),
            kind=ScriptKind(s["kind"]),
            sha256=_opt(s.get("sha256")),
            url=_opt(s.get("url")),
            size=int(s.get("size") or 0),
            frame_url=str(s.get("frame_url") or ""),
            main_frame=bool(s.get("main_frame", True)),
            hashes=_strs(s.get("hashes")),
            initiator=_opt(s.get("initiator")),
        )
        for k, s in dict(raw.get("scripts") or {}).items()
    }
    forms = {
        str(ident): FormEntry(
            ident=str(ident),
            action=str(f.get("action") or ""),
            method=str(f.get("method") or ""),
            visible=bool(f.get("visible", True)),
            frame_url=str(f.get("frame_url") or ""),
            fields={
                str(fid): FieldEntry(
                    ident=str(fid),
                    type=str(fe.get("type") or ""),
                    autocomplete=str(fe.get("autocomplete") or ""),
                    card_role=_opt(fe.get("card_role")),
                )
                for fid, fe in dict(f.get("fields") or {}).items()
            },
        )
        for ident, f in dict(raw.get("forms") or {}).items()
    }
    destinations = {
        str(host): DestinationEntry(
            host=str(host),
            methods=_strs(d.get("methods")),
            resource_types=_strs(d.get("resource_types")),
            sample_url=str(d.get("sample_url") or ""),
            initiators=_strs(d.get("initiators")),
            sends_data=bool(d.get("sends_data", False)),
            long_query_beacon=bool(d.get("long_query_beacon", False)),
            requests=int(d.get("requests") or 0),
        )
        for host, d in dict(raw.get("destinations") or {}).items()
    }
    return PageSnapshot(
        name=name,
        url=str(raw.get("url") or ""),
        final_url=str(raw.get("final_url") or ""),
        redirect_chain=_strs(raw.get("redirect_chain")),
        status=None if raw.get("status") is None else int(raw["status"]),
        card_page=bool(raw.get("card_page", False)),
        personal_page=bool(raw.get("personal_page", False)),
        headers={str(k).lower(): str(v) for k, v in dict(raw.get("headers") or {}).items()},
        scripts=scripts,
        forms=forms,
        frames={str(o): _strs(u) for o, u in dict(raw.get("frames") or {}).items()},
        destinations=destinations,
    )
