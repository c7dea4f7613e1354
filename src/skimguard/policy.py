"""Content-Security-Policy and Subresource Integrity built from the approved inventory.

The inventory says which scripts are authorized (PCI DSS 6.4.3); the accepted baseline says where
the site's pages send requests. :func:`build_policy` turns both into the headers a shop deploys so
that the *browser* of every shopper enforces (or reports on) the same decisions:

- ``script-src``: the URL of every approved external script (``scheme://host[:port]/path``, exact
  path, so an approved host does not approve its other files), a ``'sha256-…'`` hash of every
  approved inline script, ``'report-sample'`` (the first 40 characters of a blocked inline script
  come with the report) and ``'report-sha256'`` (supporting browsers report the hash of each
  script);
- ``connect-src``, ``img-src``, ``frame-src``, ``form-action``: ``'self'`` and the hosts the
  baseline's pages reached with requests of that kind (fetch/XHR/beacon/WebSocket, images,
  iframes, form actions), plus the configured payment hosts for connections, frames and forms.
  A card form posting to any other foreign host is left out (card data goes only to the payment
  hosts);
- ``object-src 'none'``, ``base-uri 'self'``, ``report-uri`` and, when the browser can use it,
  ``report-to`` with a ``Reporting-Endpoints`` header (see "Which reports arrive" below);
- ``Integrity-Policy`` (``blocked-destinations=(script)``): scripts without ``integrity`` metadata
  are reported (report-only) or blocked (enforce), and the ``integrity="sha384-…"
  crossorigin="anonymous"`` attributes of every approved external script whose bytes the store
  holds (:class:`SriEntry`; Integrity-Policy also blocks scripts not fetched in CORS mode, so the
  ``crossorigin`` attribute is needed even on the site's own scripts).

:func:`discovery_policy` is the other tool: a report-only policy that allows nothing, served to a
sample of page views, so that every script and destination that real shoppers' browsers load is
reported to the collector.

What CSP cannot express is said, never papered over: each such case becomes a note in
:attr:`Policy.notes` (a script approved by URL pattern, an approved script whose bytes are unknown,
approved ``eval``-style code, which would need ``'unsafe-eval'``, a header above 8 KiB, ...).

Which reports arrive (measured with Chromium 156): a browser that knows ``report-to`` ignores
``report-uri``, and Chromium uses the Reporting API only for an **https** page and an **https**
endpoint (``http://127.0.0.1`` does not count, nor an http page treated as secure). A policy that
names ``report-to`` on an http page, or with an http endpoint, makes Chromium send *nothing at
all*, not even to ``report-uri``. So ``report-to``, ``Reporting-Endpoints`` and the
``Integrity-Policy`` endpoint are emitted only when both the site and the endpoint are https
(:func:`reporting_api_usable`); otherwise the policy reports through ``report-uri`` alone
(``application/csp-report``, sent at once, one violation each) and a note says what is lost: the
``'report-sha256'`` hash reports and the Integrity-Policy reports, which only the Reporting API
carries.

An inline script's CSP hash is the sha256 of its exact text in UTF-8, which is exactly the
``sha256`` the capture stores for it (the recorder hashes the source the browser ran), so it needs
no body; the SRI hash of an external script is the sha384 of its bytes, read through ``bodies``.

Everything here is pure (no I/O, no clock) and deterministic: the same inputs give the same
headers, byte for byte. Every URL and host comes from captured pages, which are hostile: each one
is rebuilt from its parsed parts (scheme from a fixed list, host checked against the CSP grammar,
path percent-encoded) before it goes into a header, so no page can inject a directive.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from skimguard.baseline.snapshot import PageSnapshot, SiteSnapshot
from skimguard.config import Site
from skimguard.errors import SkimguardError
from skimguard.inventory.authorize import AuthStatus, authorize
from skimguard.models import ChangeRule, Decision, InventoryItem, MatchType, ScriptKind, host_of, sha256_hex

__all__ = [
    "DEFAULT_ENDPOINT",
    "MAX_HEADER_BYTES",
    "REPORT_GROUP",
    "SCHEMA",
    "Policy",
    "PolicyError",
    "PolicyMode",
    "SriEntry",
    "build_policy",
    "discovery_policy",
    "endpoint_for",
    "hash_source",
    "host_source",
    "reporting_api_usable",
    "sri_integrity",
    "url_source",
]

SCHEMA = "skimguard.csp/1"
REPORT_GROUP = "skimguard"  # the report-to group, named in Reporting-Endpoints
DEFAULT_ENDPOINT = "http://127.0.0.1:8787/r/{site}"  # served by `skimguard serve`
MAX_HEADER_BYTES = 8 * 1024  # many servers and proxies refuse a header line above 8 KiB
MAX_NOTES = 60
MAX_NOTE_URL = 160

SOURCE_SCHEMES = {"http": 80, "https": 443, "ws": 80, "wss": 443}
CONNECT_TYPES = frozenset({"xhr", "fetch", "eventsource", "websocket", "ping", "beacon"})
IMAGE_TYPES = frozenset({"image"})

_HOST = re.compile(r"^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PATH_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+=:@/")
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_ENDPOINT_UNSAFE = re.compile(r"[\s;,\"'\\<>`{}|^]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

SCRIPT_KEYWORDS = ("'report-sample'", "'report-sha256'")


class PolicyError(SkimguardError):
    """A policy cannot be built as asked (e.g. an endpoint URL that cannot go into a header)."""

    hint = "give --endpoint an http(s) URL without spaces, quotes, commas or semicolons"


class PolicyMode(enum.StrEnum):
    REPORT_ONLY = "report-only"  # report what the policy would block; block nothing
    ENFORCE = "enforce"  # block what the policy does not allow, and report it
    DISCOVERY = "discovery"  # report-only, allows nothing: every script and destination is reported


@dataclass(frozen=True)
class SriEntry:
    """The ``integrity`` of one approved external script (sha384 of its approved bytes).

    The tag always carries ``crossorigin="anonymous"``: a browser checks integrity only for a
    script fetched in CORS mode, and Integrity-Policy blocks every script that is not (a script
    of the site's own origin included). ``cross_origin``: the script comes from another origin, so
    its server must also answer with ``Access-Control-Allow-Origin`` (else the browser refuses it).
    """

    url: str
    integrity: str
    cross_origin: bool

    @property
    def attributes(self) -> str:
        return f'integrity="{self.integrity}" crossorigin="anonymous"'

    @property
    def tag(self) -> str:
        """The ``<script>`` tag to put in the page (the URL HTML-escaped)."""
        url = html.escape(_CONTROL.sub("", self.url), quote=True)
        return f'<script src="{url}" {self.attributes}></script>'


@dataclass(frozen=True)
class Policy:
    """The headers to deploy for one site, with what the policy could not express (``notes``)."""

    site: str
    mode: PolicyMode
    endpoint: str
    directives: tuple[tuple[str, tuple[str, ...]], ...]
    headers: tuple[tuple[str, str], ...]  # (name, value), in the order to send them
    sri: tuple[SriEntry, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def csp(self) -> str:
        """The Content-Security-Policy value (``directive source source; directive …``)."""
        return "; ".join(" ".join((name, *sources)) for name, sources in self.directives)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((value for n, value in self.headers if n.lower() == lname), None)

    def sources(self, directive: str) -> tuple[str, ...]:
        return next((s for n, s in self.directives if n == directive), ())

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "site": self.site,
            "mode": self.mode.value,
            "endpoint": self.endpoint,
            "headers": dict(self.headers),
            "directives": {name: list(sources) for name, sources in self.directives},
            "sri": [{"url": e.url, "integrity": e.integrity, "cross_origin": e.cross_origin} for e in self.sri],
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """Header lines to paste into a server config, then the SRI tags and the notes as comments."""
        lines = [
            f"# skimguard csp: site {self.site}, mode {self.mode.value}"
            if self.site
            else f"# skimguard csp: mode {self.mode.value}"
        ]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.sri:
            lines += ["", "# Subresource Integrity: give each approved external script these attributes"]
            lines += [
                f"# {e.tag}" + ("  (needs Access-Control-Allow-Origin)" if e.cross_origin else "") for e in self.sri
            ]
        if self.notes:
            lines += ["", "# Notes"]
            lines += [f"# - {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Source expressions
# --------------------------------------------------------------------------------------------


def _parts(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port or None for the default, path) of a URL a CSP source can name."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if scheme not in SOURCE_SCHEMES or not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower().rstrip(".")
    if not _HOST.match(host) or host.startswith("*."):
        return None
    if port == SOURCE_SCHEMES[scheme]:
        port = None
    return scheme, host, port, parts.path


def host_source(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` as a CSP host source (default ports dropped); None when
    the URL cannot be one (another scheme, an IPv6 literal, a host outside the CSP grammar)."""
    parts = _parts(url)
    if parts is None:
        return None
    scheme, host, port, _ = parts
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _csp_path(path: str) -> str:
    """``path`` with everything but plain path characters percent-encoded (no ``;``, ``,``, quotes
    or spaces can reach the header). Browsers percent-decode both sides before comparing."""
    out: list[str] = []
    i = 0
    while i < len(path):
        c = path[i]
        if c == "%" and i + 2 < len(path) and path[i + 1] in _HEXDIGITS and path[i + 2] in _HEXDIGITS:
            out.append(path[i : i + 3].upper())
            i += 3
            continue
        if c in _PATH_SAFE:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def url_source(url: str) -> str | None:
    """``scheme://host[:port]/path`` of a script URL as a CSP source: that path exactly (query and
    fragment dropped; CSP ignores the query). A path ending in ``/`` matches everything under it."""
    parts = _parts(url)
    if parts is None:
        return None
    scheme, host, port, path = parts
    base = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    return base + _csp_path(path or "/")


def hash_source(sha256: str) -> str:
    """``'sha256-<base64>'`` from a hex sha256 (of the exact script text, UTF-8)."""
    value = sha256.strip().lower()
    if not _HEX64.match(value):
        raise PolicyError(f"not a sha256: {value[:80]!r}")
    return "'sha256-" + base64.b64encode(bytes.fromhex(value)).decode("ascii") + "'"


def sri_integrity(body: bytes) -> str:
    """``sha384-<base64>``: the ``integrity`` attribute value of these bytes."""
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode("ascii")


def _show(text: str | None) -> str:
    """A hostile URL or key made safe to print in a note: no control characters, bounded."""
    text = _CONTROL.sub("?", text or "")
    return text if len(text) <= MAX_NOTE_URL else text[: MAX_NOTE_URL - 1] + "…"


def endpoint_for(site: str, endpoint: str | None = None) -> str:
    """The report endpoint URL: ``endpoint`` (default :data:`DEFAULT_ENDPOINT`) with ``{site}``
    replaced by the site name, checked so that it can go into a header as it is."""
    url = (endpoint or DEFAULT_ENDPOINT).replace("{site}", site).strip()
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        _ = parts.port
    except ValueError:
        raise PolicyError(f"report endpoint {_show(url)!r} is not a URL") from None
    if scheme not in ("http", "https") or not host:
        raise PolicyError(f"report endpoint {_show(url)!r} must be an http(s) URL with a host")
    if not url.isascii() or _ENDPOINT_UNSAFE.search(url) or _CONTROL.search(url) or len(url) > 2000:
        raise PolicyError(f"report endpoint {_show(url)!r} cannot go into a header")
    return url


def reporting_api_usable(endpoint: str, base_url: str | None = None) -> bool:
    """Whether browsers will deliver Reporting API reports (``report-to``) for this policy: the
    endpoint is https and so is the site (``base_url``; None: unknown, taken as https).

    When they will not, naming ``report-to`` is worse than useless: Chromium then ignores
    ``report-uri`` too and sends nothing at all (see the module docstring)."""
    if urlsplit(endpoint).scheme.lower() != "https":
        return False
    return base_url is None or urlsplit(base_url.strip()).scheme.lower() == "https"


def _endpoint_notes(endpoint: str, base_url: str | None) -> list[str]:
    if reporting_api_usable(endpoint, base_url):
        return []
    if urlsplit(endpoint).scheme.lower() != "https":
        why = f"the report endpoint {_show(endpoint)} is not https"
        fix = "serve the collector and the site over https"
    else:
        why = f"the site {_show(base_url)} is not https"
        fix = "serve the site over https"
    return [
        f"{why}: no report-to, since a browser that knows report-to ignores report-uri and Chromium delivers "
        "report-to only from https pages to https endpoints (else it sends nothing at all); reports go through "
        f"report-uri alone, without 'report-sha256' hash reports and Integrity-Policy reports ({fix} to get them)"
    ]


def _reporting(endpoint: str) -> tuple[str, str]:
    return ("Reporting-Endpoints", f'{REPORT_GROUP}="{endpoint}"')


def _integrity_value(report_to: bool = True) -> str:
    return (
        f"blocked-destinations=(script), endpoints=({REPORT_GROUP})" if report_to else "blocked-destinations=(script)"
    )


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


def discovery_policy(endpoint_url: str, *, site: str = "", base_url: str | None = None) -> Policy:
    """A report-only policy that allows nothing: every script (inline ones with a sample and, where
    supported, a hash), connection, image, frame and form submission is reported to the endpoint.

    Serve it to a sample of page views (1-5 %): it blocks nothing, but every load is a report.
    ``base_url`` is the site's (its scheme decides whether ``report-to`` can be used)."""
    endpoint = endpoint_for(site, endpoint_url)
    report_to = reporting_api_usable(endpoint, base_url)
    directives: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("default-src", ("'none'",)),
        ("script-src", ("'none'", *SCRIPT_KEYWORDS)),
        ("connect-src", ("'none'",)),
        ("img-src", ("'none'",)),
        ("frame-src", ("'none'",)),
        ("form-action", ("'none'",)),
        ("report-uri", (endpoint,)),
    )
    if report_to:
        directives += (("report-to", (REPORT_GROUP,)),)
    csp = "; ".join(" ".join((n, *s)) for n, s in directives)
    notes = [
        "discovery policy: report-only, blocks nothing; serve it to a sample of page views only, every "
        "script, request, frame and form submission of those views is reported",
        *_endpoint_notes(endpoint, base_url),
    ]
    csp_header = ("Content-Security-Policy-Report-Only", csp)
    return Policy(
        site=site,
        mode=PolicyMode.DISCOVERY,
        endpoint=endpoint,
        directives=directives,
        headers=(_reporting(endpoint), csp_header) if report_to else (csp_header,),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# The policy of the approved state
# --------------------------------------------------------------------------------------------


class _Builder:
    """Collects sources and notes; :func:`build_policy` drives it."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.own = host_source(site.base_url) or ""
        self.script_urls: set[str] = set()
        self.script_hashes: set[str] = set()
        self.connect: set[str] = set()
        self.img: set[str] = set()
        self.frame: set[str] = set()
        self.form: set[str] = set()
        self.sri: dict[str, SriEntry] = {}
        self.notes: list[str] = []
        self.dynamic = 0

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def source(self, url: str) -> str | None:
        """The host source of ``url``, ``'self'`` for the site's own origin."""
        src = host_source(url)
        if src is None:
            return None
        return "'self'" if src == self.own else src

    def payment_sources(self) -> list[str]:
        scheme = urlsplit(self.site.base_url).scheme.lower()
        return [f"{scheme}://{h}" for h in self.site.payment_hosts if _HOST.match(h)]


def _foreign_only(builder: _Builder, snapshot: SiteSnapshot | None) -> set[str]:
    """Keys of scripts the baseline saw only in documents of other hosts (a payment provider's
    iframe or hosted page): their own CSP governs them, not ours."""
    own: set[str] = set()
    foreign: set[str] = set()
    for page in snapshot.pages.values() if snapshot else ():
        for entry in page.scripts.values():
            if builder.site.is_own_host(host_of(entry.frame_url)):
                own.add(entry.key)
            else:
                foreign.add(entry.key)
    return foreign - own


def _add_scripts(
    b: _Builder,
    snapshot: SiteSnapshot | None,
    inventory: Sequence[InventoryItem],
    decisions: Sequence[Decision],
    bodies: Callable[[str], bytes | None],
) -> None:
    foreign = _foreign_only(b, snapshot)
    unapproved: list[str] = []
    skipped_foreign = 0
    by_pattern: dict[str, list[str]] = {}
    for item in sorted(inventory, key=lambda i: i.key):
        if item.site != b.site.name:
            continue
        auth = authorize(item.key, item.url, item.sha256, decisions, site=b.site.name)
        if not auth.authorized:
            unapproved.append(item.key)
            continue
        in_foreign_doc = item.key in foreign or (
            item.kind is not ScriptKind.EXTERNAL and item.origin and not b.site.is_own_host(host_of(item.origin))
        )
        if in_foreign_doc:
            skipped_foreign += 1
            continue
        decision = auth.decision
        if decision is not None and decision.match is MatchType.PATTERN:
            by_pattern.setdefault(decision.value, []).append(item.key)
        if item.kind is ScriptKind.EXTERNAL:
            _add_external(b, item, auth.status, decision, bodies)
            continue
        if item.sha256 is None or not _HEX64.match(item.sha256.lower()):
            b.note(f"approved {item.kind.value} script {_show(item.key)} has no known hash: not in script-src")
            continue
        b.script_hashes.add(hash_source(item.sha256))
        if item.kind is ScriptKind.DYNAMIC:
            b.dynamic += 1
    for pattern, keys in sorted(by_pattern.items()):
        b.note(
            f"pattern {_show(pattern)!r} approves {len(keys)} script(s): CSP cannot express URL globs (only a host "
            "wildcard and a path prefix), so script-src lists the URLs seen; other URLs the pattern allows are "
            "blocked until you run `skimguard csp` again"
        )
    if skipped_foreign:
        b.note(
            f"{skipped_foreign} approved script(s) run only in documents of other hosts (payment provider frames "
            "or pages): their own CSP applies, so they are not listed"
        )
    if unapproved:
        b.note(
            f"{len(unapproved)} script(s) in the inventory are not approved and are not allowed by this policy "
            "(see `skimguard inventory list --unapproved`)"
        )


def _add_external(
    b: _Builder,
    item: InventoryItem,
    status: AuthStatus,
    decision: Decision | None,
    bodies: Callable[[str], bytes | None],
) -> None:
    url = item.url or item.key
    src = url_source(url)
    if src is None:
        b.note(f"approved script {_show(url)} has a URL no CSP source can name: not in script-src")
        return
    if src.endswith("/"):
        b.note(f"approved script {_show(url)} has a path ending in '/': CSP reads {src} as a whole directory")
    b.script_urls.add(src)
    if status is AuthStatus.CHANGED:
        b.note(f"approved script {_show(url)} changed and awaits review: no SRI until the new bytes are approved")
        return
    if decision is not None and decision.match is not MatchType.HASH and decision.change_rule is ChangeRule.ALLOW:
        b.note(f"approved script {_show(url)} may change freely (--on-change allow): no SRI, it would break on update")
        return
    sha = (item.sha256 or "").lower()
    body = bodies(sha) if _HEX64.match(sha) else None
    if body is None or sha256_hex(body) != sha:
        b.note(f"approved script {_show(url)}: its bytes are not in the store, so no SRI (scan the site again)")
        return
    b.sri[src] = SriEntry(url=url, integrity=sri_integrity(body), cross_origin=host_source(url) != b.own)


def _websocket_twin(src: str) -> str:
    scheme, rest = src.split("://", 1)
    return {"http": "ws", "https": "wss", "ws": "http", "wss": "https"}[scheme] + "://" + rest


def _own_document(b: _Builder, page: PageSnapshot) -> bool:
    return b.site.is_own_host(host_of(page.final_url or page.url))


def _add_destinations(b: _Builder, snapshot: SiteSnapshot) -> None:
    for name, page in sorted(snapshot.pages.items()):
        if not _own_document(b, page):
            continue  # the document is another host's (a hosted payment page): its CSP, not ours
        for host, dest in sorted(page.destinations.items()):
            types = set(dest.resource_types)
            src = b.source(dest.sample_url)
            if src is None:
                if types & (CONNECT_TYPES | IMAGE_TYPES):
                    b.note(f"destination {_show(host)} cannot be named by a CSP source: left out")
                continue
            web = _websocket_twin(src) if src.startswith("ws") else src  # the http(s) form
            if types & CONNECT_TYPES - {"websocket"}:
                b.connect.add(web)
            if "websocket" in types:
                b.connect.add(src if src.startswith("ws") or src == "'self'" else _websocket_twin(src))
            if types & IMAGE_TYPES:
                b.img.add(web)
            foreign = not b.site.is_own_host(host) and not b.site.is_payment_host(host)
            if page.card_page and foreign and ((types & CONNECT_TYPES and dest.sends_data) or dest.long_query_beacon):
                b.note(
                    f"{_show(host)} receives data from the card page {_show(name)!r} and stays allowed: CSP cannot "
                    "tell card data from other data (the canary scan can)"
                )
        for origin in page.frames:
            src = b.source(origin)
            if src is not None:
                b.frame.add(src)
        for form in page.forms.values():
            if not b.site.is_own_host(host_of(form.frame_url)):
                continue  # a form inside a payment provider's frame
            action_host = host_of(form.action)
            src = b.source(form.action)
            if src is None:
                continue
            if form.has_card_fields and not b.site.is_own_host(action_host) and not b.site.is_payment_host(action_host):
                b.note(
                    f"card form {_show(form.ident)!r} on {_show(name)!r} posts to {_show(action_host)}, which is not a "
                    "payment host: left out of form-action (card data goes only to the payment hosts)"
                )
                continue
            b.form.add(src)


def _sorted(sources: Iterable[str]) -> tuple[str, ...]:
    """Keywords first (in a fixed order), then schemes, hosts and URLs, then hashes; each sorted."""

    def rank(s: str) -> tuple[int, str]:
        if s.startswith("'sha"):
            return (3, s)
        if s.startswith("'"):
            return (0, s)
        if s.endswith(":"):
            return (1, s)
        return (2, s)

    present = set(sources)
    # CSP3: an http source also matches https, a ws source wss (and http/https): the twin is redundant
    kept = {
        s
        for s in present
        if not (s.startswith("https://") and "http://" + s[8:] in present)
        and not (s.startswith("wss://") and "ws://" + s[6:] in present)
    }
    return tuple(sorted(kept, key=rank))


def build_policy(
    site: Site,
    snapshot: SiteSnapshot | None,
    inventory: Sequence[InventoryItem],
    decisions: Sequence[Decision],
    bodies: Callable[[str], bytes | None],
    *,
    mode: PolicyMode | str = PolicyMode.REPORT_ONLY,
    endpoint_url: str | None = None,
    allow_eval: bool = False,
) -> Policy:
    """The headers that let browsers enforce (or report on) the approved state of ``site``.

    ``snapshot`` is the accepted baseline (None: only ``script-src`` and the fixed directives);
    ``inventory`` and ``decisions`` say which scripts are approved (:func:`authorize`);
    ``bodies(sha256)`` gives a script's bytes for its SRI hash (None when unknown). ``mode``
    ``discovery`` returns :func:`discovery_policy`. ``allow_eval`` adds ``'unsafe-eval'`` when an
    approved script is dynamic code (never added silently)."""
    mode = PolicyMode(mode)
    if mode is PolicyMode.DISCOVERY:
        return discovery_policy(endpoint_for(site.name, endpoint_url), site=site.name, base_url=site.base_url)
    endpoint = endpoint_for(site.name, endpoint_url)
    report_to = reporting_api_usable(endpoint, site.base_url)
    b = _Builder(site)
    _add_scripts(b, snapshot, inventory, decisions, bodies)

    script = list(SCRIPT_KEYWORDS)
    if b.dynamic:
        if allow_eval:
            script.append("'unsafe-eval'")
            b.note(
                f"'unsafe-eval' added (--allow-eval) for {b.dynamic} approved dynamic script(s): every allowed "
                "script may now run code from strings (eval, new Function, setTimeout with a string)"
            )
        else:
            b.note(
                f"{b.dynamic} approved dynamic script(s): their hash allows script text inserted by another script, "
                "but code run by eval, new Function or setTimeout with a string needs 'unsafe-eval', which is left "
                "out (add it with --allow-eval if the report shows eval violations)"
            )
    script += sorted(b.script_urls) + sorted(b.script_hashes)
    if not b.script_urls and not b.script_hashes:
        script.insert(0, "'none'")
        b.note("no approved script: script-src allows none (approve scripts with `skimguard inventory approve`)")

    directives: list[tuple[str, tuple[str, ...]]] = [("script-src", tuple(script))]
    if snapshot is not None:
        _add_destinations(b, snapshot)
        payment = b.payment_sources()
        directives += [
            ("connect-src", _sorted(["'self'", *b.connect, *payment])),
            ("img-src", _sorted(["'self'", "data:", *b.img])),
            ("frame-src", _sorted([*b.frame, *payment]) or ("'none'",)),
            ("form-action", _sorted(["'self'", *b.form, *payment])),
        ]
    else:
        b.note(
            "no accepted baseline: connect-src, img-src, frame-src and form-action are left out (accept one with "
            "`skimguard baseline accept`)"
        )
    directives += [
        ("object-src", ("'none'",)),
        ("base-uri", ("'self'",)),
        ("report-uri", (endpoint,)),
    ]
    if report_to:
        directives.append(("report-to", (REPORT_GROUP,)))
    csp = "; ".join(" ".join((n, *s)) for n, s in directives)

    integrity_header = "Integrity-Policy-Report-Only"
    if mode is PolicyMode.ENFORCE:
        missing = len(b.script_urls - b.sri.keys())
        if missing:
            b.note(
                f"{missing} approved external script(s) have no SRI: Integrity-Policy stays report-only (enforcing "
                "it would block them)"
            )
        else:
            integrity_header = "Integrity-Policy"
    csp_header = "Content-Security-Policy" if mode is PolicyMode.ENFORCE else "Content-Security-Policy-Report-Only"
    headers: tuple[tuple[str, str], ...] = ((csp_header, csp),)
    if report_to:
        headers = (_reporting(endpoint), *headers, (integrity_header, _integrity_value()))
    elif integrity_header == "Integrity-Policy":  # blocks without reporting; report-only would do nothing
        headers = (*headers, (integrity_header, _integrity_value(report_to=False)))
    for name, value in headers:
        size = len(f"{name}: {value}".encode())
        if size > MAX_HEADER_BYTES:
            b.note(
                f"{name} is {size} bytes, above {MAX_HEADER_BYTES}: many servers and proxies refuse it (approve "
                "scripts by fewer URLs, or move inline scripts to files)"
            )
    for note in _endpoint_notes(endpoint, site.base_url):
        b.note(note)
    notes = b.notes
    if len(notes) > MAX_NOTES:
        notes = [*notes[: MAX_NOTES - 1], f"… and {len(notes) - MAX_NOTES + 1} more note(s)"]
    return Policy(
        site=site.name,
        mode=mode,
        endpoint=endpoint,
        directives=tuple(directives),
        headers=headers,
        sri=tuple(b.sri[k] for k in sorted(b.sri)),
        notes=tuple(notes),
    )
