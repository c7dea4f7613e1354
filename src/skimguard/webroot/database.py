"""Scan a shop's database (live, read-only, or a dump file) for skimmers stored in rows.

What is read (the :data:`CATALOG`; table prefixes of WordPress and Magento are found by suffix):

* **Magento 2 and 1** — ``core_config_data.value`` (every ``design/*`` path is analysed, such as
  ``design/head/includes`` and ``design/footer/absolute_footer``, and any other value that holds
  markup or code), ``cms_block`` and ``cms_page`` content, layout update XML, widget parameters;
* **WooCommerce/WordPress** — ``options.option_value`` (``widget_*`` options and every other one;
  serialized PHP values are taken apart and each string analysed), ``posts.post_content`` and
  excerpt, ``postmeta.meta_value``;
* **EC-CUBE 4, 3 and 2** — page meta columns (``dtb_page``, ``dtb_page_layout``,
  ``dtb_pagelayout``), product free areas and descriptions, news; block file names
  (``dtb_block``/``dtb_bloc``: their HTML lives in template files, so the scan lists them for the
  web-root scan) and installed plugins (``dtb_plugin``);
* any table and column named with ``--table``/``--column``.

Each value that shows markup or code (or every ``design/*`` config value) goes through the static
analysis engine (:func:`skimguard.analyze.engine.analyze_bytes`, one verdict per distinct value)
and ``<script src>``/``<iframe src>`` hosts are checked against the site's approved inventory. The
findings are :data:`~skimguard.webroot.db_rules.DB_RULES`: SG720 malicious, SG721 suspicious,
SG722 unapproved script host, SG723 what could not be read.

A finding stored by an earlier scan of the same source is gone (:func:`gone_findings`: resolved by
``db scan --site``) when this scan read its table completely and did not report it again: the row
was cleaned, or the value changed into something else (which is a finding of its own).

A live database is opened read-only and bounded: SQLite through a ``mode=ro`` URI with
``PRAGMA query_only`` and a progress-handler timeout; PostgreSQL in a ``READ ONLY`` repeatable-read
transaction (and ``default_transaction_read_only`` on the session) with ``statement_timeout``;
MySQL/MariaDB in ``START TRANSACTION READ ONLY`` with ``max_statement_time`` (MariaDB) or
``MAX_EXECUTION_TIME`` (MySQL). Every table read is ordered by its key and limited to
``max_rows`` (+1 to notice the cut), each value to :data:`MAX_VALUE_CHARS`. A dump is streamed by
:mod:`skimguard.webroot.dump`. The core (catalog, row analysis, findings) is pure; the two readers
are the I/O edges.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from skimguard.analyze.engine import CONVICTING, Options, analyze_bytes
from skimguard.analyze.model import FileVerdict, Verdict
from skimguard.config import Site
from skimguard.detect.base import clip
from skimguard.errors import SkimguardError
from skimguard.inventory.authorize import authorize
from skimguard.models import Decision, Finding, MatchType, Severity, host_of, script_url_key
from skimguard.webroot.db_rules import SG720, SG721, SG722, SG723
from skimguard.webroot.dump import DumpProblem, DumpRow, TableSchema, detect_dialect, open_dump, read_dump, read_head

__all__ = [
    "CATALOG",
    "DB_SCHEMA",
    "PLATFORMS",
    "ColumnSpec",
    "DbError",
    "DbScanOptions",
    "DbScanResult",
    "ServerText",
    "TableReport",
    "TableTarget",
    "detect_platform",
    "result_to_json",
    "scan_database",
    "scan_dump",
    "scan_source",
]

DB_SCHEMA = "skimguard.db/1"
MAX_VALUE_CHARS = 2 * 1024 * 1024  # the engine's own limit
MAX_FINDINGS = 1000  # per scan: a hostile database must not flood the alert sinks
MAX_TEXTS_CHARS = 64 * 1024 * 1024  # kept for correlation
MAX_SUBVALUES = 500  # strings taken out of one serialized/JSON value
MAX_SCRIPT_TAGS = 50  # per value
MAX_LISTED = 500  # block files, plugins
PLATFORMS = ("auto", "magento2", "magento1", "woocommerce", "eccube4", "eccube3", "eccube2")


class DbError(SkimguardError):
    hint = (
        "give a SQLAlchemy URL (sqlite:///shop.db, postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db) "
        "or a dump file"
    )


# ---------------------------------------------------------------------------------------------
# the catalog
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableTarget:
    """Where one platform stores text that is printed into pages.

    ``table`` is the name without prefix (``prefixed``: WordPress/Magento table prefixes are
    allowed). ``key`` names the row in findings; ``label`` is a column that says what the row is
    (config path, option name, page); ``always`` is a label prefix whose values are analysed even
    without a markup hint (``design/``); ``lists`` is what the table is read for besides code:
    ``files`` (EC-CUBE block templates) or ``plugins``."""

    platform: str
    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    label: str | None = None
    prefixed: bool = False
    always: str | None = None
    lists: str | None = None


_MAGENTO_PAGE = (
    "content",
    "content_heading",
    "title",
    "meta_title",
    "meta_keywords",
    "meta_description",
    "layout_update_xml",
    "custom_layout_update_xml",
)


def _magento(platform: str, layout_table: str) -> tuple[TableTarget, ...]:
    return (
        TableTarget(platform, "core_config_data", ("config_id",), ("value",), "path", True, always="design/"),
        TableTarget(platform, "cms_block", ("block_id",), ("content", "title"), "identifier", True),
        TableTarget(platform, "cms_page", ("page_id",), _MAGENTO_PAGE, "identifier", True),
        TableTarget(platform, layout_table, ("layout_update_id",), ("xml",), "handle", True),
        TableTarget(platform, "widget_instance", ("instance_id",), ("widget_parameters",), "title", True),
    )


CATALOG: tuple[TableTarget, ...] = (
    *_magento("magento2", "layout_update"),
    *_magento("magento1", "core_layout_update"),
    TableTarget("woocommerce", "options", ("option_id",), ("option_value",), "option_name", True),
    TableTarget("woocommerce", "posts", ("ID",), ("post_content", "post_excerpt"), "post_name", True),
    TableTarget("woocommerce", "postmeta", ("meta_id",), ("meta_value",), "meta_key", True),
    TableTarget(
        "eccube4", "dtb_page", ("id",), ("meta_tags", "description", "keyword", "author", "meta_robots"), "url"
    ),
    TableTarget("eccube4", "dtb_layout", ("id",), ("layout_name",), "layout_name"),
    TableTarget("eccube4", "dtb_block", ("id",), ("block_name",), "file_name", lists="files"),
    TableTarget("eccube4", "dtb_plugin", ("id",), ("name",), "code", lists="plugins"),
    TableTarget("eccube4", "dtb_product", ("id",), ("free_area", "description_detail", "description_list"), "name"),
    TableTarget("eccube4", "dtb_news", ("id",), ("description", "title"), "title"),
    TableTarget(
        "eccube3",
        "dtb_page_layout",
        ("page_id",),
        ("meta_tags", "description", "keyword", "author", "meta_robots"),
        "url",
    ),
    TableTarget("eccube3", "dtb_block", ("block_id",), ("block_name",), "file_name", lists="files"),
    TableTarget("eccube3", "dtb_plugin", ("plugin_id",), ("name",), "code", lists="plugins"),
    TableTarget(
        "eccube3", "dtb_product", ("product_id",), ("free_area", "description_detail", "description_list"), "name"
    ),
    TableTarget("eccube3", "dtb_news", ("news_id",), ("news_comment", "news_title"), "news_title"),
    TableTarget("eccube2", "dtb_pagelayout", ("page_id",), ("description", "keyword", "author", "meta_robots"), "url"),
    TableTarget("eccube2", "dtb_bloc", ("bloc_id",), ("bloc_name",), "tpl_path", lists="files"),
    TableTarget("eccube2", "dtb_plugin", ("plugin_id",), ("plugin_name",), "plugin_code", lists="plugins"),
    TableTarget(
        "eccube2",
        "dtb_products",
        ("product_id",),
        (
            "main_comment",
            "main_list_comment",
            "sub_comment1",
            "sub_comment2",
            "sub_comment3",
            "sub_comment4",
            "sub_comment5",
        ),
        "name",
    ),
    TableTarget("eccube2", "dtb_news", ("news_id",), ("news_comment", "news_title"), "news_title"),
)

_PREFIX = re.compile(r"[A-Za-z0-9_]{0,40}\Z")


@dataclass(frozen=True)
class ColumnSpec:
    """A table (and column; None: every text column) the user asked to scan."""

    table: str
    column: str | None = None


def parse_named(tables: Sequence[str], columns: Sequence[str]) -> tuple[ColumnSpec, ...]:
    """``--table T`` and ``--column C`` (for every named table) or ``--column T.C``."""
    specs: list[ColumnSpec] = []
    bare = [c for c in columns if "." not in c]
    for c in columns:
        if "." in c:
            t, col = c.rsplit(".", 1)
            if not t or not col:
                raise DbError(f"--column {c!r}: use COLUMN or TABLE.COLUMN")
            specs.append(ColumnSpec(t, col))
    if bare and not tables:
        raise DbError(f"--column {bare[0]!r} needs a --table (or write TABLE.COLUMN)")
    for t in tables:
        if not t.strip():
            raise DbError("--table needs a table name")
        if bare:
            specs.extend(ColumnSpec(t, c) for c in bare)
        elif not any(s.table == t for s in specs):
            specs.append(ColumnSpec(t, None))
    return tuple(dict.fromkeys(specs))


def _name_matches(real: str, target: TableTarget) -> bool:
    low = real.lower()
    if low == target.table.lower():
        return True
    return target.prefixed and low.endswith(target.table.lower()) and bool(_PREFIX.match(real[: -len(target.table)]))


def candidate_targets(real: str, platform: str) -> list[TableTarget]:
    """Catalog entries a real table name may be (before its columns are known)."""
    return [t for t in CATALOG if (platform == "auto" or t.platform == platform) and _name_matches(real, t)]


def _resolve(real: str, columns: Sequence[str] | None, platform: str) -> TableTarget | None:
    """The catalog entry of a table, the first whose key column exists (any, when the columns are
    not known)."""
    candidates = candidate_targets(real, platform)
    if columns is None:
        return candidates[0] if candidates else None
    have = {c.lower() for c in columns}
    for t in candidates:
        if all(k.lower() in have for k in t.key) and any(c.lower() in have for c in t.columns):
            return t
    return None


def detect_platform(tables: Iterable[str]) -> str | None:
    """The shop platform from its table names (None: not recognized)."""
    names = [t.lower() for t in tables]
    has = set(names)

    def ends(suffix: str) -> bool:
        return any(n.endswith(suffix) for n in names)

    if ends("core_config_data"):
        if ends("setup_module") or ends("patch_list"):
            return "magento2"
        return "magento1" if ends("core_resource") else "magento2"
    if "dtb_layout" in has and "dtb_page" in has:
        return "eccube4"
    if "dtb_page_layout" in has:
        return "eccube3"
    if "dtb_pagelayout" in has:
        return "eccube2"
    for n in names:
        if n.endswith("options") and n[: -len("options")] + "posts" in has:
            return "woocommerce"
    return None


# ---------------------------------------------------------------------------------------------
# options and results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbScanOptions:
    platform: str = "auto"
    named: tuple[ColumnSpec, ...] = ()
    max_rows: int = 100_000  # per table
    timeout: float = 30.0  # per statement (live database)
    dump_timeout: float | None = None  # the whole read of a dump (None: no limit)
    site: Site | None = None
    decisions: tuple[Decision, ...] = ()
    analysis: Options = field(default_factory=Options)
    keep_texts: bool = False  # keep values for correlation (ServerText)


@dataclass(frozen=True)
class ServerText:
    """A value read from the database, for :mod:`skimguard.webroot.correlate`."""

    location: str
    text: str
    mtime: datetime | None = None


@dataclass(frozen=True)
class TableReport:
    table: str
    platform: str
    columns: tuple[str, ...]
    rows_read: int
    values_analysed: int
    complete: bool
    note: str = ""


@dataclass(frozen=True)
class DbScanResult:
    source: str  # a URL without its password, or a file path
    kind: str  # database | dump
    dialect: str
    platform: str | None
    site: str | None
    started_at: datetime
    finished_at: datetime
    tables: tuple[TableReport, ...]
    findings: tuple[Finding, ...]
    problems: tuple[str, ...] = ()
    referenced_files: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    texts: tuple[ServerText, ...] = field(default=(), repr=False, compare=False)

    @property
    def status(self) -> str:
        return "partial" if any(f.rule_id == SG723.id for f in self.findings) else "ok"

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


# ---------------------------------------------------------------------------------------------
# values: what to analyse, and how
# ---------------------------------------------------------------------------------------------

# What makes a value worth the engine: markup, or one of these (looked for in lower case, as plain
# substrings: a regular expression per value costs more than the scan of a clean table).
_CODE_WORDS = (
    "javascript:", "eval", "atob", "fromcharcode", "function", "=>", "document.", "window.", "xmlhttprequest",
    "fetch", "\\x", "\\u00", "base64_decode", "assert(", "<?",
)  # fmt: skip
_MARKUP = re.compile(r"<[A-Za-z!/]")
_PHP_OPEN = re.compile(r"<\?(?:php\b|=)", re.I)
_SRC_TAG = re.compile(
    r"<(script|iframe)\b[^>]{0,2000}?\bsrc\s*=\s*(?:\"([^\"]{0,2000})\"|'([^']{0,2000})'|([^\s>]{1,2000}))", re.I
)
_SERIALIZED = re.compile(r"(?:a:\d+:\{|O:\d+:\"|s:\d+:\")")
_SER_STRING = re.compile(rb's:(\d{1,9}):"')


def _php_strings(value: str) -> list[tuple[str, str]] | None:
    """The strings inside a serialized PHP value, with their key path (``[2][text]``), or None when
    it is not one. Lengths are in bytes; a value whose lengths no longer fit (charset conversion)
    is read leniently."""
    data = value.encode("utf-8", "surrogatepass")
    out: list[tuple[str, str]] = []
    try:
        end = _unserialize(data, 0, "", out, 0)
    except (ValueError, IndexError, RecursionError):
        end = -1
    if end == len(data) or (end > 0 and not data[end:].strip()):
        return out
    # lenient: every s:N:"..." in the value
    out = []
    for m in _SER_STRING.finditer(data):
        n = int(m.group(1))
        start = m.end()
        body = data[start : start + n]
        if data[start + n : start + n + 2] != b'";':
            stop = data.find(b'";', start)
            body = data[start : stop if stop >= 0 else len(data)]
        out.append((f"[@{m.start()}]", body.decode("utf-8", "replace")))
        if len(out) >= MAX_SUBVALUES:
            break
    return out or None


def _unserialize(data: bytes, pos: int, path: str, out: list[tuple[str, str]], depth: int) -> int:
    """Parse one serialized value at ``pos``; collect its strings; return where it ends."""
    if depth > 64 or len(out) >= MAX_SUBVALUES:
        raise ValueError("too deep or too many")
    kind = data[pos : pos + 2]
    if kind == b"N;":
        return pos + 2
    if kind in (b"i:", b"d:", b"b:", b"r:", b"R:"):
        end = data.index(b";", pos)
        return end + 1
    if kind in (b"s:", b"E:"):
        colon = data.index(b":", pos + 2)
        n = int(data[pos + 2 : colon])
        start = colon + 2
        if data[colon + 1 : colon + 2] != b'"' or data[start + n : start + n + 2] != b'";':
            raise ValueError("bad string")
        if kind == b"s:":
            out.append((path, data[start : start + n].decode("utf-8", "replace")))
        return start + n + 2
    if kind in (b"a:", b"O:"):
        p = pos + 2
        if kind == b"O:":
            colon = data.index(b":", p)
            n = int(data[p:colon])
            p = colon + 2 + n + 2  # "Class":
        colon = data.index(b":", p)
        count = int(data[p:colon])
        p = colon + 1
        if data[p : p + 1] != b"{":
            raise ValueError("bad array")
        p += 1
        for _ in range(count):
            keys: list[tuple[str, str]] = []
            key_end = _unserialize(data, p, path, keys, depth + 1)
            key = keys[0][1] if keys else data[p + 2 : key_end - 1].decode("ascii", "replace")
            p = _unserialize(data, key_end, f"{path}[{key[:40]}]", out, depth + 1)
        if data[p : p + 1] != b"}":
            raise ValueError("bad array end")
        return p + 1
    if kind == b"C:":
        colon = data.index(b":", pos + 2)
        n = int(data[pos + 2 : colon])
        p = colon + 2 + n + 2
        colon = data.index(b":", p)
        m = int(data[p:colon])
        body = data[colon + 2 : colon + 2 + m]
        out.append((path, body.decode("utf-8", "replace")))
        return colon + 2 + m + 1
    raise ValueError("unknown type")


def _json_strings(value: str) -> list[tuple[str, str]] | None:
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict | list):
        return None
    out: list[tuple[str, str]] = []

    def walk(node: Any, path: str, depth: int) -> None:
        if len(out) >= MAX_SUBVALUES or depth > 64:
            return
        if isinstance(node, str):
            out.append((path, node))
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}[{str(k)[:40]}]", depth + 1)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]", depth + 1)

    walk(data, "", 0)
    return out


def expand_value(value: str) -> list[tuple[str, str]]:
    """The texts of one stored value, each with a sub-path: the strings inside a serialized PHP or
    JSON value (WordPress widgets, Magento JSON config), else the value itself."""
    head = value[:16].lstrip()
    if head[:2] in ("a:", "O:", "s:", "C:") and _SERIALIZED.match(head):
        strings = _php_strings(value)
        if strings is not None:
            return strings
    if head[:1] in ("{", "[") and len(value) <= MAX_VALUE_CHARS:
        strings = _json_strings(value)
        if strings is not None:
            return strings
    return [("", value)]


def _looks_like_code(text: str) -> bool:
    """Markup or JavaScript/PHP code in a value (cheap: most values are plain settings)."""
    if "<" in text and _MARKUP.search(text):
        return True
    low = text.lower()
    return any(word in low for word in _CODE_WORDS)


def _language_path(text: str) -> str:
    """A file name that makes the engine read the value in the right language."""
    if _PHP_OPEN.search(text):
        return "value.php"
    if _MARKUP.search(text):
        return "value.html"
    return "-"


# ---------------------------------------------------------------------------------------------
# approvals (SG722)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Approvals:
    site: Site | None
    decisions: tuple[Decision, ...]
    host_patterns: tuple[str, ...]

    @classmethod
    def build(cls, site: Site | None, decisions: Sequence[Decision]) -> _Approvals:
        patterns: list[str] = []
        for d in decisions:
            if not d.active or d.match is MatchType.HASH or (site is not None and d.site != site.name):
                continue
            value = d.value
            netloc = value.split("://", 1)[1] if "://" in value else value
            host = netloc.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].lower()
            if host:
                patterns.append(host)
        return cls(site, tuple(decisions), tuple(dict.fromkeys(patterns)))

    def approved(self, url: str, host: str) -> bool:
        site = self.site
        if site is None:
            return False
        if site.is_own_host(host) or site.is_payment_host(host):
            return True
        if any(fnmatchcase(host, p) for p in self.host_patterns):
            return True
        return authorize(script_url_key(url), url, None, self.decisions, site=site.name).authorized


def _script_sources(text: str) -> list[tuple[str, str, str]]:
    """(tag, absolute URL, excerpt) of each ``<script src>``/``<iframe src>`` with a host."""
    found: list[tuple[str, str, str]] = []
    for m in _SRC_TAG.finditer(text):
        raw = next(g for g in m.groups()[1:] if g is not None)
        url = html.unescape(raw).strip()
        if url.startswith("//"):
            url = "https:" + url
        if not url.lower().startswith(("http://", "https://")) or not host_of(url):
            continue
        found.append((m.group(1).lower(), url, m.group()))
        if len(found) >= MAX_SCRIPT_TAGS:
            break
    return found


# ---------------------------------------------------------------------------------------------
# the row scanner (pure)
# ---------------------------------------------------------------------------------------------


@dataclass
class _TableState:
    table: str
    target: TableTarget | None
    columns: tuple[str, ...] = ()
    rows: int = 0
    values: int = 0
    complete: bool = True
    note: str = ""


class RowScanner:
    """Turns rows into findings. Fed by a reader (live or dump); no I/O of its own."""

    def __init__(self, options: DbScanOptions, source: str) -> None:
        self.options = options
        self.source = source
        self.site_name = options.site.name if options.site else ""
        self.approvals = _Approvals.build(options.site, options.decisions)
        self.findings: list[Finding] = []
        self.problems: list[str] = []
        self.tables: dict[str, _TableState] = {}
        self.files: list[str] = []
        self.plugins: list[str] = []
        self.texts: list[ServerText] = []
        self.text_chars = 0
        self.verdicts: dict[str, FileVerdict] = {}
        self._problem_keys: dict[tuple[str, str], int] = {}
        self._seen: set[str] = set()
        self.dropped = 0

    # ---- bookkeeping ------------------------------------------------------------------------

    def table(self, name: str, target: TableTarget | None, columns: Sequence[str]) -> _TableState:
        state = self.tables.get(name)
        if state is None:
            state = self.tables[name] = _TableState(name, target, tuple(columns))
        return state

    def problem(self, table: str | None, code: str, message: str) -> None:
        """An SG723 finding (one per table and kind; repeats are counted)."""
        key = (table or "-", code)
        count = self._problem_keys.get(key, 0) + 1
        self._problem_keys[key] = count
        if count > 1:
            return
        self.problems.append(f"{table + ': ' if table else ''}{message}")
        if table is not None and table in self.tables:
            state = self.tables[table]
            state.complete = False
            state.note = state.note or clip(message, 200)
        self._add(
            SG723.finding(
                self.site_name,
                page=None,
                subject=f"{table or '-'}:{code}",
                title=f"{SG723.title}: {clip(table or 'source', 80)}: {clip(message, 160)}",
                evidence={"table": table, "problem": code, "message": clip(message, 400), "_source": self.source},
            )
        )

    def _add(self, finding: Finding) -> None:
        if finding.fingerprint in self._seen:
            return
        if len(self.findings) >= MAX_FINDINGS:
            self.dropped += 1
            return
        self._seen.add(finding.fingerprint)
        self.findings.append(finding)

    # ---- rows ---------------------------------------------------------------------------------

    def row(
        self,
        state: _TableState,
        key: Mapping[str, str],
        label: str | None,
        values: Mapping[str, str | None],
    ) -> None:
        """One row: ``key`` (primary key column -> value, or ``{"#": ordinal}``), the row's label,
        and the text columns to look at."""
        state.rows += 1
        target = state.target
        if target is not None and target.lists == "files" and label and len(self.files) < MAX_LISTED:
            self.files.append(_block_file(target.platform, label))
        if target is not None and target.lists == "plugins":
            name = label or next((v for v in values.values() if v), "")
            if name and len(self.plugins) < MAX_LISTED:
                self.plugins.append(clip(name, 120))
        always = target is not None and target.always is not None and (label or "").startswith(target.always)
        key_text = ",".join(f"{k}={clip(v, 60)}" for k, v in key.items()) if key else "?"
        for column, value in values.items():
            if not value:
                continue
            for subpath, text in expand_value(value):
                self._value(state, key, key_text, label, f"{column}{subpath}", text, always)

    def _value(
        self,
        state: _TableState,
        key: Mapping[str, str],
        key_text: str,
        label: str | None,
        column: str,
        text: str,
        always: bool,
    ) -> None:
        if not text.strip():
            return
        location = f"{state.table}[{key_text}].{column}"
        code = _looks_like_code(text)
        urlish = "//" in text or "http" in text
        if self.options.keep_texts and (code or urlish) and self.text_chars < MAX_TEXTS_CHARS:
            self.texts.append(ServerText(location, text))
            self.text_chars += len(text)
        if not (code or always):
            return
        state.values += 1
        base = {
            "table": state.table,
            "primary_key": dict(key),
            "column": column,
            "label": clip(label, 200) or None,
            "location": clip(location, 300),
            "platform": state.target.platform if state.target else "custom",
            "_source": self.source,
        }
        subject = f"{state.table}:{key_text}:{column}"
        verdict = self._verdict(text)
        if verdict.verdict is not Verdict.CLEAN:
            self._add(self._code_finding(verdict, subject, location, label, base))
        for tag, url, excerpt in _script_sources(text):
            host = host_of(url)
            if self.approvals.approved(url, host):
                continue
            checked = self.options.site is not None
            self._add(
                SG722.finding(
                    self.site_name,
                    page=None,
                    subject=f"{subject}:{host}",
                    severity=SG722.severity if checked else Severity.LOW,
                    title=f"{SG722.title}: {clip(host, 100)} in {clip(location, 120)}",
                    script_url=clip(url, 500),
                    evidence={
                        **base,
                        "tag": tag,
                        "host": host,
                        "checked_against_inventory": checked,
                        "excerpt": clip(excerpt, 200),
                    },
                )
            )

    def _verdict(self, text: str) -> FileVerdict:
        data = text[:MAX_VALUE_CHARS].encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(data).hexdigest()
        verdict = self.verdicts.get(digest)
        if verdict is None:
            verdict = analyze_bytes(data, _language_path(text), self.options.analysis, sha256=digest)
            if len(self.verdicts) < 10_000:
                self.verdicts[digest] = verdict
        return verdict

    def _code_finding(
        self, verdict: FileVerdict, subject: str, location: str, label: str | None, base: dict[str, Any]
    ) -> Finding:
        malicious = verdict.verdict is Verdict.MALICIOUS
        rule = SG720 if malicious else SG721
        severity = SG721.severity
        if malicious:
            strong = any(h.severity is Severity.CRITICAL or h.rule_id in CONVICTING for h in verdict.hits)
            severity = Severity.CRITICAL if strong else Severity.HIGH
        top = verdict.hits[0] if verdict.hits else None
        what = f" ({clip(label, 60)})" if label else ""
        return rule.finding(
            self.site_name,
            page=None,
            subject=subject,
            severity=severity,
            title=f"{rule.title}: {clip(location, 120)}{what}",
            evidence={
                **base,
                "verdict": verdict.verdict.value,
                "score": verdict.score,
                "rules": [h.rule_id for h in verdict.hits][:20],
                "hits": [
                    {
                        "rule_id": h.rule_id,
                        "severity": h.severity.label,
                        "title": clip(h.title, 160),
                        "excerpt": clip(h.excerpt, 200),
                        "line": h.line,
                        "column": h.column,
                        "decoded": h.normalized,
                    }
                    for h in verdict.hits[:8]
                ],
                "excerpt": clip(top.excerpt if top and top.excerpt else "", 200),
                "explanation": clip(top.explanation, 400) if top else "",
                "value_sha256": verdict.sha256,
                "value_length": verdict.size,
                "problems": [clip(p, 200) for p in verdict.problems[:5]],
            },
        )

    # ---- the end ------------------------------------------------------------------------------

    def result(
        self, *, kind: str, dialect: str, platform: str | None, started: datetime, finished: datetime
    ) -> DbScanResult:
        if self.dropped:
            self.problems.append(f"{self.dropped} finding(s) over the limit of {MAX_FINDINGS} were dropped")
        order = {SG720.id: 0, SG722.id: 1, SG721.id: 2, SG723.id: 3}
        findings = sorted(self.findings, key=lambda f: (-f.severity, order.get(f.rule_id, 9), f.subject))
        return DbScanResult(
            source=self.source,
            kind=kind,
            dialect=dialect,
            platform=platform,
            site=self.options.site.name if self.options.site else None,
            started_at=started,
            finished_at=finished,
            tables=tuple(
                TableReport(
                    s.table,
                    s.target.platform if s.target else "custom",
                    s.columns,
                    s.rows,
                    s.values,
                    s.complete,
                    s.note,
                )
                for s in self.tables.values()
            ),
            findings=tuple(findings),
            problems=tuple(self.problems),
            referenced_files=tuple(dict.fromkeys(self.files)),
            plugins=tuple(dict.fromkeys(self.plugins)),
            texts=tuple(self.texts),
        )


def _block_file(platform: str, name: str) -> str:
    """Where an EC-CUBE block's HTML lives, relative to the shop root (the default theme)."""
    name = name.strip().lstrip("/")
    if platform == "eccube2":
        return name if "/" in name else f"data/Smarty/templates/default/frontparts/bloc/{name}"
    if platform == "eccube3":
        return f"app/template/default/Block/{name}.twig"
    return f"app/template/default/Block/{name}.twig"


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# plan: which tables and columns
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What to read from one table: the target (None for a named table), key, label, columns."""

    table: str
    target: TableTarget | None
    key: tuple[str, ...]
    label: str | None
    columns: tuple[str, ...]


def _plan(
    table: str,
    target: TableTarget | None,
    columns: Sequence[str],
    primary_key: Sequence[str],
    named: Sequence[ColumnSpec],
    text_columns: Sequence[str] | None = None,
) -> tuple[_Plan | None, list[str]]:
    """The plan for one table with known columns, and the named columns it lacks."""
    by_lower = {c.lower(): c for c in columns}
    wanted: list[str] = []
    missing: list[str] = []
    key: tuple[str, ...] = ()
    label: str | None = None
    if target is not None:
        key = tuple(by_lower[k.lower()] for k in target.key if k.lower() in by_lower)
        label = by_lower.get(target.label.lower()) if target.label else None
        wanted.extend(by_lower[c.lower()] for c in target.columns if c.lower() in by_lower)
    for spec in named:
        if spec.table.lower() != table.lower():
            continue
        if spec.column is None:
            wanted.extend(text_columns if text_columns is not None else columns)
        elif spec.column.lower() in by_lower:
            wanted.append(by_lower[spec.column.lower()])
        else:
            missing.append(spec.column)
    if not key:
        key = tuple(c for c in primary_key if c.lower() in by_lower)
    wanted = [c for c in dict.fromkeys(wanted) if c not in key]
    if not wanted:
        return None, missing
    return _Plan(table, target, key, label, tuple(wanted)), missing


def _named_here(table: str, named: Sequence[ColumnSpec]) -> bool:
    return any(s.table.lower() == table.lower() for s in named)


# ---------------------------------------------------------------------------------------------
# the dump reader
# ---------------------------------------------------------------------------------------------


def scan_dump(path: Path, options: DbScanOptions, *, clock: Callable[[], datetime] = _now) -> DbScanResult:
    """Scan a SQL dump file (see :mod:`skimguard.webroot.dump`)."""
    started = clock()
    scanner = RowScanner(options, str(path))
    seen: list[str] = []
    seen_set: set[str] = set()
    schemas: dict[str, TableSchema] = {}
    plans: dict[str, _Plan | None] = {}
    full: set[str] = set()
    ordinals: dict[str, int] = {}

    def wanted(table: str) -> bool:
        if table not in seen_set and len(seen) < 100_000:
            seen_set.add(table)
            seen.append(table)
        if table in full:
            return False
        return bool(candidate_targets(table, options.platform)) or _named_here(table, options.named)

    def plan_for(table: str, columns: tuple[str, ...] | None) -> _Plan | None:
        if table in plans:
            return plans[table]
        schema = schemas.get(table)
        cols = columns or (schema.columns if schema else None)
        target = _resolve(table, cols, options.platform)
        plan: _Plan | None
        if cols is None:  # no column names: every value, keyed by row number
            if target is None and not _named_here(table, options.named):
                plan = None
            else:
                plan = _Plan(table, target, (), None, ())
        else:
            plan, missing = _plan(table, target, cols, schema.primary_key if schema else (), options.named)
            if plan is not None:
                scanner.table(table, plan.target, plan.columns)
            for column in missing:
                scanner.problem(table, f"missing-column:{column}", f"column {column} is not in the dump")
        plans[table] = plan
        if plan is not None:
            scanner.table(table, plan.target, plan.columns or ("*",))
        return plan

    deadline = time.monotonic() + options.dump_timeout if options.dump_timeout else None
    with open_dump(path) as stream:
        dialect = detect_dialect(read_head(stream))
    with open_dump(path) as stream:
        for event in read_dump(stream, wanted=wanted, deadline=deadline, dialect=dialect):
            if isinstance(event, TableSchema):
                schemas[event.table] = event
                plans.pop(event.table, None)
            elif isinstance(event, DumpRow):
                plan = plan_for(event.table, event.columns)
                if plan is None or event.table in full:
                    continue
                state = scanner.tables[event.table]
                if state.rows >= options.max_rows:
                    full.add(event.table)
                    scanner.problem(
                        event.table,
                        "row-limit",
                        f"more than {options.max_rows} rows: the rest was not read (raise --max-rows)",
                    )
                    continue
                ordinals[event.table] = ordinals.get(event.table, 0) + 1
                _dump_row(scanner, state, plan, event, ordinals[event.table])
            elif isinstance(event, DumpProblem):
                scanner.problem(event.table, event.code, f"{event.message} (byte {event.offset})")
    platform = options.platform if options.platform != "auto" else detect_platform(seen)
    _missing_tables(scanner, options, seen)
    return scanner.result(kind="dump", dialect=dialect.value, platform=platform, started=started, finished=clock())


def _dump_row(scanner: RowScanner, state: _TableState, plan: _Plan, row: DumpRow, ordinal: int) -> None:
    columns = row.columns
    if columns is None or not plan.columns:  # every value, by position
        names = columns or tuple(f"col{i + 1}" for i in range(len(row.values)))
        values = {n: v for n, v in zip(names, row.values, strict=False)}
        scanner.row(state, {"#": str(ordinal)}, None, values)
        return
    by_name = dict(zip(columns, row.values, strict=False))
    key = {k: str(by_name.get(k)) for k in plan.key} if plan.key else {"#": str(ordinal)}
    label = by_name.get(plan.label) if plan.label else None
    scanner.row(state, key, label, {c: by_name.get(c) for c in plan.columns})


def _missing_tables(scanner: RowScanner, options: DbScanOptions, tables: Sequence[str]) -> None:
    """SG723 for a named table that is not there, and for a source with nothing to scan."""
    low = {t.lower() for t in tables}
    for spec in options.named:
        if spec.table.lower() not in low:
            scanner.problem(spec.table, "missing-table", f"table {spec.table} was not found")
    if not scanner.tables and not options.named:
        what = options.platform if options.platform != "auto" else "Magento, WooCommerce/WordPress or EC-CUBE"
        scanner.problem(None, "no-tables", f"no {what} tables were found: nothing was scanned")


# ---------------------------------------------------------------------------------------------
# the live reader
# ---------------------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """A database URL fit for output: no password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


class _Timeout:
    """SQLite has no statement timeout: a progress handler interrupts a statement past its
    deadline."""

    def __init__(self) -> None:
        self.deadline = float("inf")

    def __call__(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0


class LiveDatabase:
    """A read-only, time-bounded connection to a shop database (the I/O edge of the scan)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
        from sqlalchemy.pool import NullPool

        self.timeout = max(0.05, timeout)
        self.redacted = redact_url(url)
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise DbError(f"not a database URL: {self.redacted}") from None
        self.backend = parsed.get_backend_name()
        self.mariadb = False
        self._sqlite_timeout = _Timeout()
        connect = max(1, min(int(self.timeout) + 1, 60))
        try:
            if self.backend == "sqlite":
                path = parsed.database
                if not path or path == ":memory:" or path.startswith("file:"):
                    raise DbError("a SQLite URL must name a database file: sqlite:///path/to/shop.db")
                file = Path(path).resolve()
                if not file.is_file():
                    raise DbError(f"no such SQLite database file: {file}")
                uri = f"file:{urllib.parse.quote(str(file))}?mode=ro"

                def creator() -> sqlite3.Connection:
                    conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, check_same_thread=False)
                    conn.execute("PRAGMA query_only = ON")
                    conn.set_progress_handler(self._sqlite_timeout, 10_000)
                    return conn

                self.engine = create_engine("sqlite://", creator=creator, poolclass=NullPool)
            elif self.backend == "postgresql":
                ms = int(self.timeout * 1000)
                session = f"-c default_transaction_read_only=on -c statement_timeout={ms}"
                given = parsed.query.get("options")  # keep the user's own (a search_path)
                args: dict[str, Any] = {
                    "connect_timeout": connect,
                    "options": f"{given} {session}" if isinstance(given, str) and given else session,
                }
                self.engine = create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args=args)
            elif self.backend in ("mysql", "mariadb"):
                args = {"connect_timeout": connect, "read_timeout": int(self.timeout) + 5}
                self.engine = create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args=args)
            else:
                raise DbError(f"unsupported database {self.backend!r}: SQLite, PostgreSQL, MySQL and MariaDB are")
        except (NoSuchModuleError, ImportError) as exc:
            hint = "install the driver (psycopg, pymysql)"
            raise DbError(f"no driver for {self.redacted}: {exc}", hint=hint) from None

    @property
    def dialect(self) -> str:
        return "mariadb" if self.mariadb else self.backend

    def session(self) -> Any:
        """A context manager yielding a connection inside a read-only transaction."""
        from sqlalchemy.exc import SQLAlchemyError

        @contextlib.contextmanager
        def opened() -> Iterator[Any]:
            try:
                conn = self.engine.connect()
            except SQLAlchemyError as exc:
                raise DbError(f"cannot connect to {self.redacted}: {_first_line(exc)}") from None
            try:
                try:
                    self._begin(conn)
                except SQLAlchemyError as exc:
                    raise DbError(f"cannot start a read-only transaction: {_first_line(exc)}") from None
                yield conn
            finally:
                try:
                    if self.backend != "sqlite":
                        conn.exec_driver_sql("ROLLBACK")
                except SQLAlchemyError:
                    pass
                conn.close()
                self.engine.dispose()

        return opened()

    def _begin(self, conn: Any) -> None:
        if self.backend == "sqlite":
            return
        if self.backend == "postgresql":
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}")
            return
        version = str(conn.exec_driver_sql("SELECT VERSION()").scalar() or "")
        self.mariadb = "mariadb" in version.lower()
        if self.mariadb:
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {self.timeout:.3f}")
        else:
            conn.exec_driver_sql(f"SET SESSION MAX_EXECUTION_TIME = {int(self.timeout * 1000)}")
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")  # also refuses DDL (an implicit commit)
        conn.exec_driver_sql("START TRANSACTION READ ONLY")

    def arm(self) -> None:
        """Start the clock of the next statement (SQLite; the servers time statements themselves)."""
        self._sqlite_timeout.deadline = time.monotonic() + self.timeout

    def disarm(self) -> None:
        self._sqlite_timeout.deadline = float("inf")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return clip(text[0] if text else type(exc).__name__, 300)


def _is_timeout(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(
        w in text
        for w in (
            "interrupted",
            "statement timeout",
            "canceling statement",
            "max_statement_time",
            "max_execution_time",
            "query execution was interrupted",
            "timeout",
        )
    )


def scan_database(url: str, options: DbScanOptions, *, clock: Callable[[], datetime] = _now) -> DbScanResult:
    """Scan a live database read-only (see the module docstring)."""
    from sqlalchemy import String, cast, column, func, inspect, select, table
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.sql import sqltypes

    started = clock()
    db = LiveDatabase(url, timeout=options.timeout)
    scanner = RowScanner(options, db.redacted)
    platform: str | None = None
    with db.session() as conn:
        try:
            db.arm()
            inspector = inspect(conn)
            tables = list(inspector.get_table_names())
            views = list(inspector.get_view_names()) if options.named else []
        except SQLAlchemyError as exc:
            raise DbError(f"cannot list the tables of {db.redacted}: {_first_line(exc)}") from None
        finally:
            db.disarm()
        platform = options.platform if options.platform != "auto" else detect_platform(tables)
        lowered = {t.lower(): t for t in [*tables, *views]}
        todo: list[str] = [t for t in tables if candidate_targets(t, options.platform)]
        for spec in options.named:
            real = lowered.get(spec.table.lower())
            if real is not None and real not in todo:
                todo.append(real)
        savepoints = db.backend != "sqlite"
        for name in todo:
            if savepoints:
                conn.exec_driver_sql("SAVEPOINT skimguard_table")
            try:
                db.arm()
                cols = inspector.get_columns(name)
                names = [c["name"] for c in cols]
                texts = [c["name"] for c in cols if isinstance(c["type"], sqltypes.String | sqltypes.JSON)]
                try:
                    primary = list(inspector.get_pk_constraint(name).get("constrained_columns") or [])
                except (SQLAlchemyError, NotImplementedError):
                    primary = []
                target = _resolve(name, names, options.platform)
                if target is None and not _named_here(name, options.named):
                    db.disarm()
                    if savepoints:
                        conn.exec_driver_sql("RELEASE SAVEPOINT skimguard_table")
                    continue
                plan, missing = _plan(name, target, names, primary, options.named, texts)
                if plan is not None:
                    state = scanner.table(name, plan.target, plan.columns)
                for col in missing:
                    scanner.problem(name, f"missing-column:{col}", f"column {col} does not exist")
                if plan is None:
                    db.disarm()
                    if savepoints:
                        conn.exec_driver_sql("RELEASE SAVEPOINT skimguard_table")
                    continue
                picked = [*plan.key, *([plan.label] if plan.label and plan.label not in plan.key else [])]
                exprs: list[Any] = [column(c).label(f"k{i}") for i, c in enumerate(picked)]
                exprs += [
                    func.substr(cast(column(c), String()), 1, MAX_VALUE_CHARS).label(f"v{i}")
                    for i, c in enumerate(plan.columns)
                ]
                query = select(*exprs).select_from(table(name))
                if plan.key:
                    query = query.order_by(*[column(k) for k in plan.key])
                query = query.limit(options.max_rows + 1)
                result = conn.execute(query, execution_options={"stream_results": True, "yield_per": 500})
                for ordinal, row in enumerate(result, 1):
                    if ordinal > options.max_rows:
                        scanner.problem(
                            name,
                            "row-limit",
                            f"more than {options.max_rows} rows: the rest was not read (raise --max-rows)",
                        )
                        break
                    values = tuple(row)
                    picked_values = dict(zip(picked, values[: len(picked)], strict=True))
                    key = {k: str(picked_values[k]) for k in plan.key} if plan.key else {"#": str(ordinal)}
                    label = picked_values.get(plan.label) if plan.label else None
                    scanner.row(
                        state,
                        key,
                        None if label is None else _as_text(label),
                        {c: _as_text(v) for c, v in zip(plan.columns, values[len(picked) :], strict=True)},
                    )
                result.close()
                db.disarm()
                if savepoints:
                    conn.exec_driver_sql("RELEASE SAVEPOINT skimguard_table")
            except SQLAlchemyError as exc:
                db.disarm()
                if savepoints:
                    try:
                        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT skimguard_table")
                    except SQLAlchemyError:
                        scanner.problem(name, "unreadable", f"cannot read {name}: {_first_line(exc)}")
                        break
                if _is_timeout(exc):
                    scanner.problem(
                        name, "timeout", f"reading {name} took longer than {options.timeout:g} s (raise --timeout)"
                    )
                else:
                    scanner.problem(name, "unreadable", f"cannot read {name}: {_first_line(exc)}")
        _missing_tables(scanner, options, [*tables, *views])
    return scanner.result(kind="database", dialect=db.dialect, platform=platform, started=started, finished=clock())


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)[: MAX_VALUE_CHARS * 4].decode("utf-8", "replace")
    return str(value)


# ---------------------------------------------------------------------------------------------
# entry point and output
# ---------------------------------------------------------------------------------------------


def scan_source(source: str, options: DbScanOptions, *, clock: Callable[[], datetime] = _now) -> DbScanResult:
    """A dump file when ``source`` names an existing file, else a database URL."""
    if options.platform not in PLATFORMS:
        raise DbError(f"unknown platform {options.platform!r}", hint=f"choose from {', '.join(PLATFORMS)}")
    if options.max_rows < 1:
        raise DbError("--max-rows must be at least 1")
    path = Path(source)
    if "://" not in source:
        if not path.exists():
            raise DbError(f"no such dump file: {source}")
        if not path.is_file():
            raise DbError(f"not a regular file: {source}")
        return scan_dump(path, options, clock=clock)
    return scan_database(source, options, clock=clock)


def result_to_json(result: DbScanResult, *, scan_id: str | None = None, links: Sequence[Any] = ()) -> dict[str, Any]:
    """The ``skimguard.db/1`` document."""
    from skimguard.alerts.format import finding_to_dict

    return {
        "schema": DB_SCHEMA,
        "site": result.site,
        "scan_id": scan_id,
        "source": {"kind": result.kind, "name": result.source, "dialect": result.dialect},
        "platform": result.platform,
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat(),
        "status": result.status,
        "tables": [
            {
                "table": t.table,
                "platform": t.platform,
                "columns": list(t.columns),
                "rows_read": t.rows_read,
                "values_analysed": t.values_analysed,
                "complete": t.complete,
                "note": t.note or None,
            }
            for t in result.tables
        ],
        "referenced_files": list(result.referenced_files),
        "plugins": list(result.plugins),
        "problems": list(result.problems),
        "findings": [finding_to_dict(f) for f in result.findings],
        "links": [link.to_dict() for link in links],
    }


def gone_findings(result: DbScanResult, stored: Iterable[Finding]) -> list[str]:
    """The fingerprints of ``stored`` findings (the site's open ones) that ``result`` shows are
    gone: a database finding (SG720-SG723) of the same source (``evidence._source``: a URL without
    its password, or the dump file) that this scan did not report again, about a table this scan
    read completely (a problem about the source itself: any scan of it that did not meet the
    problem again). A finding of another source, or of a table this scan did not read whole (a row
    or time limit, a read error, another ``--table``), stays as it is."""
    rule_ids = {SG720.id, SG721.id, SG722.id, SG723.id}
    seen = {f.fingerprint for f in result.findings}
    complete = {t.table for t in result.tables if t.complete}
    gone: list[str] = []
    for finding in stored:
        if finding.rule_id not in rule_ids or finding.fingerprint in seen:
            continue
        if finding.evidence.get("_source") != result.source:
            continue
        table = finding.evidence.get("table")
        source_problem = table is None and finding.rule_id == SG723.id
        if source_problem or table in complete:
            gone.append(finding.fingerprint)
    return gone
