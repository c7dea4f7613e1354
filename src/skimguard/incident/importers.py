"""Turn the shop's own data into incident records: CSV exports, shop databases, web access logs.

Scoping (:mod:`skimguard.incident.scope`) needs to know who paid, who reached the card page and who
registered. Shops keep that in a CSV export, in the shop database or in the web server's access
log. This module holds what every importer shares and the **façade** the CLI calls:

.. code-block:: python

    result = load_orders("orders.csv", mapping="orders-mapping.yaml", window=window)
    result = load_orders("mysql+pymysql://ro@db/shop", preset="eccube4", window=window)
    result = load_sessions(["access.log", "access.log.1.gz"], mapping="log.yaml", window=window)
    result = load_registrations("postgresql+psycopg://ro@db/shop", preset="magento2", window=window)
    result = load_bounces("bounces.txt")
    with result:
        for order in result:            # streamed: one pass, nothing loaded whole
            ...
    result.stats.as_dict()              # rows read, imported, bad, outside the window, warnings...
    result.problems                     # the first 1,000 problems, each with its line and reason

``source`` is a file path (or a binary file object) for CSV and logs, and a SQLAlchemy URL with a
``preset`` (``eccube4``, ``magento2``, ``woocommerce``, ``woocommerce-hpos``,
``woocommerce-legacy``; see :mod:`skimguard.incident.importers_db`). ``mapping`` is a
:class:`CsvMapping`, an :class:`~skimguard.incident.importers_log.AccessLogConfig` or the path of a
YAML/TOML file holding one (``kind:`` says which). ``window`` is the part of time worth reading:
anything with ``start``/``end`` (aware datetimes or None for open ends), e.g. the exposure window
widened by the margin the caller wants; rows outside it are counted, not returned.

Configuration errors (a malformed mapping, a column missing from the file's header, an unknown
preset, a table that is not there) raise :class:`ImporterError` when ``load_*`` is called, before
any record is produced. Bad *rows* never raise: each is counted and reported with its line and
reason in :attr:`ImportResult.problems`, so a million-row export with three broken lines still
imports, and nobody has to guess which three were dropped.

Every value is hostile: text is bounded with :func:`~skimguard.incident.records.clip` semantics
(control characters dropped, 512 characters at most), lines are bounded before the CSV parser sees
them, and a full card number found in the input (in the card column, or typed into a name or address
field) is masked to first six and last four digits and counted as a warning: we never hold one.

CSV mapping file (YAML; TOML with the same keys works too)::

    kind: orders            # orders | sessions | registrations | bounces
    encoding: auto          # auto (UTF-8 with or without BOM, UTF-16 with BOM, Shift_JIS/CP932) or a name
    delimiter: auto         # auto (from the header line: , tab ; |) or the character
    skip_rows: 0            # title lines before the header
    timezone: Asia/Tokyo    # the zone of times written without an offset (the shop's local time)
    time_formats: ["%Y年%m月%d日 %H時%M分"]   # tried after ISO 8601 and 2022/07/19 10:00[:00]
    columns:                # header names, or 1-based numbers with header: false
      order_id: 注文番号
      time: 注文日時
      payment: 支払方法
      customer_id: 会員ID
      email: メールアドレス
      name: [お名前(姓), お名前(名)]      # several columns are joined with a space
      postal_code: 郵便番号
      address: [都道府県, 住所1, 住所2]
      phone: 電話番号
      card_masked: カード番号
      card_expiry: 有効期限
      card_token: 決済トークン
      page: 決済ページ
      status: 対応状況
    payment_values: {クレジットカード: card, 代金引換: cod, 店頭受取: pickup}

Payment labels not in ``payment_values`` go through built-in Japanese/English labels
(:data:`BUILTIN_PAYMENT_LABELS`, e.g. ``クレジットカード決済`` → card, ``代引き`` → cod,
``郵便振替`` → bank); what is still unknown becomes ``unknown`` (scoped like card, the
conservative reading) and is reported once per label. An order without a payment column but with a
card reference is a card order.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import time
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from skimguard.incident.model import DEFAULT_ZONE, IncidentError
from skimguard.incident.records import (
    MAX_FIELD,
    Bounce,
    CheckoutSession,
    Contact,
    Order,
    PaymentMethod,
    Registration,
    SessionSource,
    clip,
    mask_card,
    normalize_email,
)

if TYPE_CHECKING:
    from skimguard.incident.importers_db import PresetOptions
    from skimguard.incident.importers_log import AccessLogConfig

__all__ = [
    "BUILTIN_PAYMENT_LABELS",
    "DEFAULT_TIMEZONE",
    "MAX_LINE",
    "MAX_PROBLEMS",
    "CsvColumns",
    "CsvMapping",
    "ImportResult",
    "ImportStats",
    "ImporterError",
    "PaymentMap",
    "Problem",
    "TimeParser",
    "TimeRange",
    "card_reference",
    "import_csv",
    "load_bounces",
    "load_mapping",
    "load_orders",
    "load_registrations",
    "load_sessions",
    "mapping_from_dict",
    "normalize_expiry",
    "open_binary",
    "open_text",
    "scrub_card_numbers",
]

T = TypeVar("T")

DEFAULT_TIMEZONE = DEFAULT_ZONE
MAX_PROBLEMS = 1000  # problems kept with their line; the counts go on past it
MAX_LINE = 1 << 20  # longest physical line read from a CSV file or bounce list
MAX_FIELDS = 1000  # a row with more fields is bad (a binary file read as CSV, or a broken export)
MAX_CONSECUTIVE_ERRORS = 10_000  # then the file is not CSV at all: stop and say so
MAX_MAPPING_BYTES = 256 * 1024
ENCODING_SCAN_LIMIT = 64 << 20  # bytes scanned for the first non-ASCII byte when detecting the encoding


class ImporterError(IncidentError):
    """The import cannot start: a malformed mapping, a missing column or table, an unknown preset."""

    hint = "check the mapping file or preset named above (see 'Importing orders' in the README)"


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One bad row (``error``: it was not imported) or a row imported with a caveat (``warning``:
    a card number masked, undecodable bytes replaced, a payment label nobody mapped)."""

    line: int | None  # physical line in the file (1-based), or the row number for a database
    reason: str
    severity: Literal["error", "warning"] = "error"
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.severity}: {self.reason}" if where else f"{self.severity}: {self.reason}"


@dataclass
class ImportStats:
    """Counts of one import, filled while the records are consumed (complete once the iteration is
    over). Mutable on purpose: it is the tally of a stream, not a record of the shop's data."""

    source: str
    kind: str
    rows: int = 0  # data rows / log lines / database rows read
    imported: int = 0
    bad: int = 0  # rows not imported, each a Problem
    outside_window: int = 0  # rows whose time lies outside the requested window
    ignored: int = 0  # log lines about other pages, duplicate session hits: fine, just not wanted
    warnings: int = 0
    cards_masked: int = 0  # full card numbers found in the input and masked
    replaced_bytes_rows: int = 0  # rows with bytes the encoding could not decode
    encoding: str | None = None
    stopped_early: bool = False  # too many consecutive errors: the rest was not read
    unmapped_payments: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "rows": self.rows,
            "imported": self.imported,
            "bad": self.bad,
            "outside_window": self.outside_window,
            "ignored": self.ignored,
            "warnings": self.warnings,
            "cards_masked": self.cards_masked,
            "replaced_bytes_rows": self.replaced_bytes_rows,
            "encoding": self.encoding,
            "stopped_early": self.stopped_early,
            "unmapped_payments": dict(self.unmapped_payments),
            "seconds": round(self.seconds, 3),
        }


class Tally:
    """Where an importer's generator counts rows and files problems (bounded)."""

    def __init__(self, source: str, kind: str) -> None:
        self.stats = ImportStats(source=source, kind=kind)
        self.problems: list[Problem] = []
        self.current = source  # the file being read, when an import reads several

    def problem(self, line: int | None, reason: str, severity: Literal["error", "warning"] = "error") -> None:
        if severity == "error":
            self.stats.bad += 1
        else:
            self.stats.warnings += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(line, reason, severity, self.current))

    def bad(self, line: int | None, reason: str) -> None:
        self.problem(line, reason, "error")

    def warn(self, line: int | None, reason: str) -> None:
        self.problem(line, reason, "warning")

    def unmapped_payment(self, line: int | None, label: str) -> None:
        counts = self.stats.unmapped_payments
        if label in counts:
            counts[label] += 1
        elif len(counts) < 100:
            counts[label] = 1
            self.warn(
                line,
                f"payment method {label!r} is not mapped: counted as unknown (scoped like card); "
                "add it to payment_values",
            )


class ImportResult(Generic[T]):
    """The records of one import, streamed (iterate once), with the tally of the stream.

    Closing it (or leaving its ``with`` block) releases the file or database connection even when
    the records were not all read.
    """

    def __init__(self, records: Iterator[T], tally: Tally, closers: Sequence[Callable[[], None]] = ()) -> None:
        self._records = records
        self._tally = tally
        self._closers = tuple(closers)  # what an unstarted generator's finally would never release
        self._started = time.perf_counter()
        self._used = False

    @property
    def stats(self) -> ImportStats:
        return self._tally.stats

    @property
    def problems(self) -> list[Problem]:
        return self._tally.problems

    def __iter__(self) -> Iterator[T]:
        if self._used:
            raise ImporterError("an import result can be read only once", hint="call load_* again")
        self._used = True
        return self._timed()

    def _timed(self) -> Iterator[T]:
        stats = self._tally.stats
        try:
            for record in self._records:
                stats.imported += 1
                yield record
        finally:
            stats.seconds = time.perf_counter() - self._started

    def collect(self) -> list[T]:
        """All records as a list (for small imports and tests; the CLI streams)."""
        with self:
            return list(self)

    def close(self) -> None:
        close = getattr(self._records, "close", None)
        if close is not None:
            close()
        for closer in self._closers:
            closer()

    def __enter__(self) -> ImportResult[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------


class _Bounds(Protocol):
    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...


@dataclass(frozen=True)
class TimeRange:
    """The part of time an import reads: ``start`` to ``end`` inclusive, aware datetimes; None is an
    open end. Anything with ``start``/``end`` (an ``ExposureWindow``) converts with :meth:`of`."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.tzinfo is None or value.utcoffset() is None:
                raise ImporterError(f"window {name} {value.isoformat()} has no zone")
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ImporterError(f"window ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})")

    @classmethod
    def of(cls, value: _Bounds | tuple[datetime | None, datetime | None] | None) -> TimeRange:
        if value is None:
            return cls()
        if isinstance(value, TimeRange):
            return value
        if isinstance(value, tuple):
            return cls(value[0], value[1])
        return cls(value.start, value.end)

    def contains(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at <= self.end)

    def widened(self, by: timedelta) -> TimeRange:
        return TimeRange(
            None if self.start is None else self.start - by,
            None if self.end is None else self.end + by,
        )

    @property
    def unbounded(self) -> bool:
        return self.start is None and self.end is None


def zone_named(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImporterError(f"unknown time zone {name!r}", hint="use an IANA name such as Asia/Tokyo or UTC") from None


_ISOISH = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?"
)


class TimeParser:
    """Shop times as aware UTC datetimes. Times without an offset are the shop's local time in
    ``zone``. Fast path: ISO 8601 and ``2022/07/19 10:00[:00]`` through one compiled regex; then
    the ``formats`` (strptime) in order. The last local-to-UTC offset per hour is cached, since
    zoneinfo lookups cost more than the parsing."""

    def __init__(self, zone: tzinfo | str = DEFAULT_TIMEZONE, formats: Sequence[str] = ()) -> None:
        self.zone = zone_named(zone) if isinstance(zone, str) else zone
        self.formats = tuple(formats)
        self._offsets: dict[tuple[int, int, int, int], timedelta] = {}
        self._hours: dict[str, datetime | None] = {}

    def _hour(self, prefix: str) -> datetime | None:
        """``2022/07/19 10`` as the UTC instant of that local hour (None if it is not a date)."""
        m = _ISOISH.fullmatch(prefix[:10])
        hour = prefix[11:13]
        value: datetime | None = None
        if m is not None and hour.isdigit():
            try:
                naive = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(hour))
            except ValueError:
                naive = None
            if naive is not None:
                value = self.local_to_utc(naive)
        if len(self._hours) >= 100_000:
            self._hours.clear()
        self._hours[prefix] = value
        return value

    def local_to_utc(self, naive: datetime) -> datetime:
        key = (naive.year, naive.month, naive.day, naive.hour)
        offset = self._offsets.get(key)
        if offset is None:
            offset = naive.replace(tzinfo=self.zone).utcoffset() or timedelta(0)
            if len(self._offsets) > 100_000:
                self._offsets.clear()
            self._offsets[key] = offset
        return (naive - offset).replace(tzinfo=UTC)

    def parse(self, text: str) -> datetime | None:
        text = text.strip()
        if len(text) == 19 and text[13] == ":" and text[16] == ":" and text[4] in "-/" and text[10] in " T":
            # 2022/07/19 10:00:00, the usual export: the UTC start of each local hour is cached
            hour = self._hours.get(text[:13])
            if hour is None:
                hour = self._hour(text[:13])
            if hour is not None and text[14:16].isdigit() and text[17:19].isdigit():
                minute, second = int(text[14:16]), int(text[17:19])
                if minute < 60 and second < 60:
                    return hour + timedelta(minutes=minute, seconds=second)
        m = _ISOISH.fullmatch(text)
        if m is not None:
            y, mo, d, h, mi, s, frac, off = m.groups()
            try:
                naive = datetime(
                    int(y),
                    int(mo),
                    int(d),
                    int(h or 0),
                    int(mi or 0),
                    int(s or 0),
                    int(frac.ljust(6, "0")) if frac else 0,
                )
            except ValueError:
                return None
            if off is None:
                return self.local_to_utc(naive)
            if off in ("Z", "z", "UTC"):
                return naive.replace(tzinfo=UTC)
            sign = -1 if off[0] == "-" else 1
            digits = off[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            return (naive - sign * delta).replace(tzinfo=UTC)
        for fmt in self.formats:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            if parsed.tzinfo is None:
                return self.local_to_utc(parsed)
            return parsed.astimezone(UTC)
        return None


def as_utc(value: object, assume: tzinfo = UTC) -> datetime | None:
    """A database time value as aware UTC: aware datetimes are converted, naive ones are taken to
    be in ``assume`` (UTC for the platforms' GMT columns), strings are parsed (SQLite gives text,
    Doctrine writes ``2022-07-19 01:00:00+0000``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=assume).astimezone(UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=assume).astimezone(UTC)
    if isinstance(value, int | float):
        if value <= 0:
            return None
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    if not text or text.startswith("0000-00-00"):
        return None
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    m = _ISOISH.fullmatch(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, off = m.groups()
    try:
        naive = datetime(
            int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), int((frac or "0").ljust(6, "0"))
        )
    except ValueError:
        return None
    if off is None:
        return naive.replace(tzinfo=assume).astimezone(UTC)
    if off in ("Z", "z", "UTC"):
        return naive.replace(tzinfo=UTC)
    sign = -1 if off[0] == "-" else 1
    digits = off[1:].replace(":", "")
    return (naive - sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))).replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def text(value: object) -> str | None:
    """:func:`clip`, with a fast path for the common clean value (no control characters, short)."""
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None
        if len(stripped) <= MAX_FIELD and stripped.isprintable():
            return stripped
    return clip(value)


def joined(values: Iterable[object], sep: str = " ") -> str | None:
    parts = [t for t in (text(v) for v in values) if t]
    return text(sep.join(parts)) if parts else None


_MASK_CHARS = frozenset("*xX•●#_?")
_MASKED_SIMPLE = re.compile(r"(\d{0,6})(\*+)(\d{0,4})")


def card_reference(raw: object) -> tuple[str | None, bool]:
    """A card value from an import as the reference we may keep, and whether it had to be masked.

    Already masked values (``411111******1111``, ``****-****-****-1111``, ``XXXX1111``) keep their
    shape with ``*`` for hidden digits, separators dropped; one that shows more than the first six
    and last four digits is masked further. A bare run of 12 or more digits is a full card number:
    it goes through :func:`~skimguard.incident.records.mask_card` and the caller counts a warning.
    Full-width digits (``４１１１``) are folded first.
    """
    value = text(raw)
    if value is None:
        return None, False
    if value.isascii():
        if value.isdigit():
            return mask_card(value), len(value) >= 12
        m = _MASKED_SIMPLE.fullmatch(value)
        if m is not None:  # 411111******1111, ************4242: already our shape
            return (value if m.group(1) or m.group(3) else None), False
    else:
        value = unicodedata.normalize("NFKC", value)
    kept = [("*" if c in _MASK_CHARS else c) for c in value if c.isdigit() or c in _MASK_CHARS]
    digit_positions = [i for i, c in enumerate(kept) if c.isdigit()]
    if not digit_positions:
        return None, False
    if "*" not in kept:
        digits = "".join(kept)
        return mask_card(digits), len(digits) >= 12
    if len(digit_positions) <= 10:
        return "".join(kept)[:32], False
    shown = set(digit_positions[:6]) | set(digit_positions[-4:])
    return "".join(c if (not c.isdigit() or i in shown) else "*" for i, c in enumerate(kept)), True


_PAN_RUN = re.compile(r"(?<!\d)\d(?:[ \-]?\d){12,18}(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def scrub_card_numbers(value: str | None) -> tuple[str | None, int]:
    """Mask card numbers typed into free text (a name or address field): runs of 13-19 digits that
    pass the Luhn check. Returns the text and how many were masked."""
    if value is None or _PAN_RUN.search(value) is None:  # \d also matches full-width digits
        return value, 0
    count = 0

    def _mask(m: re.Match[str]) -> str:
        nonlocal count
        digits = "".join(c for c in m.group(0) if c.isdigit())
        if not _luhn(digits):
            return m.group(0)
        count += 1
        return mask_card(digits) or ""

    folded = unicodedata.normalize("NFKC", value) if not value.isascii() else value
    scrubbed = _PAN_RUN.sub(_mask, folded)
    return (scrubbed if count else value), count


_EXP_MY = re.compile(r"(\d{1,2})\s*[/\-.]\s*(\d{4}|\d{2})")
_EXP_YM = re.compile(r"(\d{4})\s*[/\-.年]\s*(\d{1,2})月?")
_EXP_4 = re.compile(r"(\d{2})(\d{2})")


_EXPIRY_CACHE: dict[str, str] = {}


def normalize_expiry(raw: object) -> str | None:
    """A card expiry as ``MM/YY`` (``12/25``, ``12/2025``, ``2025-12``, ``1225``, ``25/12``);
    other text is kept, bounded. Cached: an export repeats a few hundred expiries."""
    value = text(raw)
    if value is None:
        return None
    hit = _EXPIRY_CACHE.get(value)
    if hit is None:
        hit = _normalize_expiry(value)
        if len(_EXPIRY_CACHE) >= 4096:
            _EXPIRY_CACHE.clear()
        _EXPIRY_CACHE[value] = hit
    return hit


def _normalize_expiry(value: str) -> str:
    folded = unicodedata.normalize("NFKC", value) if not value.isascii() else value
    month = year = None
    if m := _EXP_YM.fullmatch(folded):
        year, month = int(m.group(1)), int(m.group(2))
    elif m := _EXP_MY.fullmatch(folded):
        a, b = int(m.group(1)), m.group(2)
        if 1 <= a <= 12:
            month, year = a, int(b)
        elif len(b) == 2 and 1 <= int(b) <= 12:
            year, month = a, int(b)
    elif m := _EXP_4.fullmatch(folded):
        month, year = int(m.group(1)), int(m.group(2))
    if month is None or year is None or not 1 <= month <= 12:
        return value
    return f"{month:02d}/{year % 100:02d}"


def _label_key(value: str) -> str:
    folded = unicodedata.normalize("NFKC", value).casefold()
    return "".join(folded.split())


BUILTIN_PAYMENT_LABELS: Mapping[str, PaymentMethod] = {
    # exact labels (after NFKC, case folding and removing spaces)
    "card": PaymentMethod.CARD,
    "creditcard": PaymentMethod.CARD,
    "credit": PaymentMethod.CARD,
    "cc": PaymentMethod.CARD,
    "cod": PaymentMethod.CASH_ON_DELIVERY,
    "cashondelivery": PaymentMethod.CASH_ON_DELIVERY,
    "pickup": PaymentMethod.STORE_PICKUP,
    "storepickup": PaymentMethod.STORE_PICKUP,
    "bank": PaymentMethod.BANK_TRANSFER,
    "banktransfer": PaymentMethod.BANK_TRANSFER,
    "bacs": PaymentMethod.BANK_TRANSFER,
    "konbini": PaymentMethod.CONVENIENCE_STORE,
    "other": PaymentMethod.OTHER,
    "unknown": PaymentMethod.UNKNOWN,
}

# substrings, tried in order: cash on delivery and pickup before card ("代金引換(カード可)" is paid
# at the door, not typed on the page)
_PAYMENT_SUBSTRINGS: tuple[tuple[str, PaymentMethod], ...] = (
    ("代金引換", PaymentMethod.CASH_ON_DELIVERY),
    ("代引", PaymentMethod.CASH_ON_DELIVERY),
    ("着払", PaymentMethod.CASH_ON_DELIVERY),
    ("cashondelivery", PaymentMethod.CASH_ON_DELIVERY),
    ("店頭", PaymentMethod.STORE_PICKUP),
    ("店舗受", PaymentMethod.STORE_PICKUP),
    ("店舗払", PaymentMethod.STORE_PICKUP),
    ("pickup", PaymentMethod.STORE_PICKUP),
    ("クレジット", PaymentMethod.CARD),
    ("カード", PaymentMethod.CARD),
    ("creditcard", PaymentMethod.CARD),
    ("debitcard", PaymentMethod.CARD),
    ("振込", PaymentMethod.BANK_TRANSFER),
    ("振替", PaymentMethod.BANK_TRANSFER),
    ("banktransfer", PaymentMethod.BANK_TRANSFER),
    ("コンビニ", PaymentMethod.CONVENIENCE_STORE),
    ("conveniencestore", PaymentMethod.CONVENIENCE_STORE),
    ("現金書留", PaymentMethod.OTHER),
    ("後払", PaymentMethod.OTHER),
)


class PaymentMap:
    """Payment labels or codes to :class:`PaymentMethod`: the caller's exact values first, then
    (unless ``builtin`` is off) the built-in labels and substrings. Results are cached per raw
    value (labels repeat on every row)."""

    def __init__(
        self,
        values: Mapping[str, PaymentMethod] | None = None,
        *,
        builtin: bool = True,
        default: PaymentMethod = PaymentMethod.UNKNOWN,
    ) -> None:
        self._exact = {_label_key(k): v for k, v in (values or {}).items()}
        self._builtin = builtin
        self.default = default
        self._cache: dict[str, tuple[PaymentMethod, bool]] = {}

    def classify(self, raw: str | None) -> tuple[PaymentMethod, bool]:
        """``(method, known)``; ``known`` False means the default was used for a non-empty label."""
        if raw is None:
            return self.default, True
        hit = self._cache.get(raw)
        if hit is not None:
            return hit
        key = _label_key(raw)
        result: tuple[PaymentMethod, bool]
        if not key:
            result = (self.default, True)
        elif key in self._exact:
            result = (self._exact[key], True)
        elif self._builtin and key in BUILTIN_PAYMENT_LABELS:
            result = (BUILTIN_PAYMENT_LABELS[key], True)
        else:
            result = (self.default, False)
            if self._builtin:
                for needle, method in _PAYMENT_SUBSTRINGS:
                    if needle in key:
                        result = (method, True)
                        break
        if len(self._cache) < 10_000:
            self._cache[raw] = result
        return result


# --------------------------------------------------------------------------------------------
# Files and encodings
# --------------------------------------------------------------------------------------------

Source = str | Path | IO[bytes]

_ENCODING_ALIASES = {
    "sjis": "cp932",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "shiftjis": "cp932",
    "s-jis": "cp932",
    "cp932": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "utf8": "utf-8-sig",
    "utf-8": "utf-8-sig",
    "utf_8": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
}


def canonical_encoding(name: str | None) -> str | None:
    """None for auto-detection; Shift_JIS spellings become CP932 (Windows' Shift_JIS, which every
    Japanese shop export really is: it has ①, ㈱ and the NEC/IBM kanji Python's shift_jis lacks)."""
    if name is None or name.strip().lower() in ("", "auto"):
        return None
    key = name.strip().lower()
    if key in _ENCODING_ALIASES:
        return _ENCODING_ALIASES[key]
    try:
        return codecs.lookup(key).name
    except LookupError:
        raise ImporterError(f"unknown encoding {name!r}", hint="use auto, utf-8, cp932 (Shift_JIS) or utf-16") from None


def detect_encoding(head: bytes) -> str | None:
    """The encoding of ``head`` (a chunk holding the file's first non-ASCII bytes), or None when it
    tells nothing (all ASCII) or is neither UTF-8 nor CP932."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.isascii():
        return None
    for candidate in ("utf-8", "cp932"):
        try:
            codecs.getincrementaldecoder(candidate)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return candidate
    return None


def _display(source: Source) -> str:
    if isinstance(source, str | Path):
        return str(source)
    return str(getattr(source, "name", "<stream>"))


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with the bytes already read for sniffing put back in front."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._rest.close()
        super().close()


class _GunzipRaw(io.RawIOBase):
    """A gzip stream as raw reads of what one decompression step gives (``read1``), so that a
    truncated file loses only its last piece, not the whole buffer being filled."""

    def __init__(self, gz: gzip.GzipFile) -> None:
        self._gz = gz

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._gz.read1(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n

    def close(self) -> None:
        self._gz.close()
        super().close()


class _Gunzipped(io.BufferedReader):
    """A gzip stream behind a C line reader (``GzipFile.readline`` is Python code, several times
    slower); not seekable for our purposes (seeking a gzip stream decompresses it again)."""

    def seekable(self) -> bool:
        return False


def open_binary(source: Source) -> IO[bytes]:
    """A binary stream of ``source`` (a path or an open binary file); gzip is recognized by its
    magic bytes, not by the file name."""
    try:
        raw: IO[bytes] = open(source, "rb") if isinstance(source, str | Path) else source  # noqa: SIM115
    except OSError as exc:
        raise ImporterError(f"{source}: cannot open ({exc.strerror or exc})", hint="check the path") from None
    if isinstance(raw, io.BufferedReader):
        magic = raw.peek(2)[:2]
        stream: IO[bytes] = raw
    elif raw.seekable():
        start = raw.tell()
        magic = raw.read(2)
        raw.seek(start)
        stream = raw
    else:
        magic = raw.read(2)
        stream = io.BufferedReader(_Prefixed(magic, raw))
    if magic == b"\x1f\x8b":
        # GzipFile.readline is Python code; a C BufferedReader over it reads lines at full speed
        return _Gunzipped(_GunzipRaw(gzip.GzipFile(fileobj=stream, mode="rb")), buffer_size=1 << 20)
    return stream


def open_text(source: Source, encoding: str | None, tally: Tally) -> IO[str]:
    """``source`` as text: the given encoding, or the detected one (UTF-8 with or without BOM,
    UTF-16 with BOM, CP932). Bytes that do not decode become U+FFFD (rows with them are counted),
    never an exception in the middle of a million rows."""
    chosen = canonical_encoding(encoding)
    binary = open_binary(source)
    if chosen is None:
        seekable = binary.seekable()
        head = b""
        if seekable:
            start = binary.tell()
            scanned = 0
            first = binary.read(4)
            binary.seek(start)
            if first.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                head = first
            else:
                while scanned < ENCODING_SCAN_LIMIT:
                    chunk = binary.read(256 * 1024)
                    if not chunk:
                        break
                    scanned += len(chunk)
                    if not chunk.isascii():
                        pos = next(i for i, b in enumerate(chunk) if b >= 0x80)
                        # sample 64 KiB from the line holding the first non-ASCII byte
                        cut = chunk.rfind(b"\n", 0, pos) + 1
                        head = chunk[cut : cut + 65536]
                        if len(head) < 65536:
                            head += binary.read(65536 - len(head))
                        break
            binary.seek(start)
        else:
            sample = binary.read(256 * 1024)
            head = sample
            binary = io.BufferedReader(_Prefixed(sample, binary))
        chosen = detect_encoding(head)
        if chosen is None:
            if not head.isascii():
                tally.warn(None, "encoding not recognized (neither UTF-8 nor Shift_JIS/CP932): read as UTF-8")
            chosen = "utf-8-sig"
    tally.stats.encoding = chosen
    return io.TextIOWrapper(binary, encoding=chosen, errors="replace", newline="")


class _Lines:
    """Physical lines of a text stream, each at most :data:`MAX_LINE` characters: a longer line
    is drained and replaced by an empty one, its number remembered, so one hostile line can neither
    fill memory nor be parsed in pieces."""

    def __init__(self, stream: IO[str], tally: Tally, first_line: int = 0) -> None:
        self.stream = stream
        self.tally = tally
        self.number = first_line
        self.too_long: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        readline = self.stream.readline
        stats = self.tally.stats
        while True:
            line = readline(MAX_LINE)
            if not line:
                return
            self.number += 1
            if len(line) >= MAX_LINE and not line.endswith(("\n", "\r")):
                while True:
                    more = readline(MAX_LINE)
                    if not more or more.endswith(("\n", "\r")):
                        break
                self.too_long.add(self.number)
                yield "\n"
                continue
            if "\ufffd" in line:
                stats.replaced_bytes_rows += 1
                if stats.replaced_bytes_rows <= 10:
                    self.tally.warn(
                        self.number,
                        f"bytes that are not {stats.encoding} were replaced (give the right encoding)",
                    )
            yield line


# --------------------------------------------------------------------------------------------
# The mapping file
# --------------------------------------------------------------------------------------------

ColumnRef = str | int
ColumnSpec = ColumnRef | list[ColumnRef]
Kind = Literal["orders", "sessions", "registrations", "bounces"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvColumns(_Strict):
    """Which column holds what: a header name, a 1-based column number, or a list of them (joined
    with a space: family and given name, prefecture and address lines)."""

    order_id: ColumnRef | None = None
    session_id: ColumnRef | None = None
    customer_id: ColumnRef | None = None
    time: ColumnRef | None = None
    payment: ColumnRef | None = None
    email: ColumnRef | None = None
    name: ColumnSpec | None = None
    postal_code: ColumnRef | None = None
    address: ColumnSpec | None = None
    phone: ColumnRef | None = None
    card_masked: ColumnRef | None = None
    card_expiry: ColumnSpec | None = None  # one column, or [month, year]
    card_token: ColumnRef | None = None
    page: ColumnRef | None = None
    status: ColumnRef | None = None
    posted: ColumnRef | None = None  # sessions: a yes/no value or the HTTP method
    client: ColumnRef | None = None
    user_agent: ColumnRef | None = None
    reason: ColumnRef | None = None  # bounces

    @field_validator("*")
    @classmethod
    def _refs(cls, value: object) -> object:
        refs = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not value:
            raise ValueError("an empty list names no column")
        for ref in refs:
            if isinstance(ref, bool) or (isinstance(ref, int) and ref < 1):
                raise ValueError("column numbers start at 1")
            if isinstance(ref, str) and not ref.strip():
                raise ValueError("a column name cannot be empty")
        return value


_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "orders": ("order_id", "time"),
    "sessions": ("session_id", "time", "page"),
    "registrations": ("customer_id", "time"),
    "bounces": ("email",),
}

_DEFAULT_POSTED = ("post", "posted", "1", "true", "yes", "y", "はい", "済", "○", "有")


class CsvMapping(_Strict):
    """A CSV export's layout: what kind of records it holds and where each field is."""

    kind: Kind
    columns: CsvColumns
    encoding: str = "auto"
    delimiter: str = "auto"
    quotechar: str = '"'
    header: bool = True
    skip_rows: int = Field(default=0, ge=0, le=1000)
    timezone: str = DEFAULT_TIMEZONE
    time_formats: list[str] = Field(default_factory=list)
    payment_values: dict[str, PaymentMethod] = Field(default_factory=dict)
    payment_default: PaymentMethod = PaymentMethod.UNKNOWN
    builtin_payment_labels: bool = True
    posted_values: list[str] = Field(default_factory=lambda: list(_DEFAULT_POSTED))
    null_values: list[str] = Field(default_factory=lambda: ["", "-", "NULL", "null", "\\N", "None"])

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Tokyo)") from None
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            canonical_encoding(value)
        except ImporterError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if value in ("auto", "tab", "\\t"):
            return "\t" if value != "auto" else value
        if len(value) != 1 or value in '\r\n"':
            raise ValueError("a delimiter is one character (or auto, tab)")
        return value

    @field_validator("time_formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        for fmt in value:
            if "%" not in fmt:
                raise ValueError(f"{fmt!r} is not a strptime format (e.g. %Y/%m/%d %H:%M)")
        return value

    @model_validator(mode="after")
    def _required(self) -> CsvMapping:
        missing = [f for f in _REQUIRED[self.kind] if getattr(self.columns, f) is None]
        if missing:
            raise ValueError(f"a mapping of kind {self.kind} needs columns.{', columns.'.join(missing)}")
        uses_names = any(
            isinstance(ref, str)
            for spec in self.columns.model_dump().values()
            if spec is not None
            for ref in (spec if isinstance(spec, list) else [spec])
        )
        if not self.header and uses_names:
            raise ValueError("with header: false, columns are given by number (1 = first column)")
        return self


def _format_error(source: str, err: ValidationError) -> str:
    from skimguard.config import format_validation_error

    return format_validation_error(source, err)


def _read_structured(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImporterError(f"{path}: cannot read ({exc.strerror or exc})", hint="check the path") from None
    if len(raw) > MAX_MAPPING_BYTES:
        raise ImporterError(f"{path}: a mapping file is at most {MAX_MAPPING_BYTES // 1024} KiB")
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImporterError(f"{path}: a mapping file must be UTF-8") from None
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(body)
        return yaml.safe_load(body)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ImporterError(f"{path}: not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {exc}") from None


def mapping_from_dict(data: Any, source: str = "<mapping>") -> CsvMapping | AccessLogConfig:
    """A mapping (CSV layout or access-log configuration) from parsed YAML/TOML; errors name the field."""
    from skimguard.incident.importers_log import AccessLogConfig

    if not isinstance(data, dict):
        raise ImporterError(f"{source}: a mapping is a set of keys (kind:, columns:, ...)")
    try:
        if data.get("kind") == "access-log":
            return AccessLogConfig.model_validate(data)
        return CsvMapping.model_validate(data)
    except ValidationError as err:
        raise ImporterError(_format_error(source, err)) from None


def load_mapping(path: str | Path) -> CsvMapping | AccessLogConfig:
    """Read and validate a mapping file (``.yaml``/``.yml``/``.toml``)."""
    path = Path(path)
    return mapping_from_dict(_read_structured(path), str(path))


# --------------------------------------------------------------------------------------------
# CSV import
# --------------------------------------------------------------------------------------------


def _sniff_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _resolve(spec: ColumnSpec | None, header: Sequence[str] | None, field_name: str, source: str) -> list[int] | None:
    if spec is None:
        return None
    refs = spec if isinstance(spec, list) else [spec]
    out: list[int] = []
    for ref in refs:
        if isinstance(ref, int):
            out.append(ref - 1)
            continue
        assert header is not None
        wanted = ref.strip()
        hits = [i for i, h in enumerate(header) if h == wanted]
        if not hits:
            folded = _label_key(wanted)
            hits = [i for i, h in enumerate(header) if _label_key(h) == folded]
        if not hits:
            shown = ", ".join(repr(h) for h in header[:30])
            raise ImporterError(
                f"{source}: columns.{field_name}: no column {wanted!r} in the file's header (it has {shown})",
                hint="fix the column name in the mapping, or give the encoding if the header looks garbled",
            )
        if len(hits) > 1:
            raise ImporterError(f"{source}: columns.{field_name}: the header has {len(hits)} columns named {wanted!r}")
        out.append(hits[0])
    return out


class _Row:
    """Field access for one CSV row, with the mapping's null values and bounded text."""

    __slots__ = ("nulls", "row")

    def __init__(self, nulls: frozenset[str]) -> None:
        self.nulls = nulls
        self.row: list[str] = []

    def get(self, idx: list[int] | None) -> str | None:
        if idx is None:
            return None
        row = self.row
        if len(idx) == 1:
            i = idx[0]
            if i >= len(row):
                return None
            value = row[i]
            if value in self.nulls:
                return None
            if len(value) <= MAX_FIELD and value.isprintable():  # the common clean cell: no regex
                return value.strip() or None
            return clip(value)
        kept = []
        nulls = self.nulls
        for i in idx:
            if i < len(row):
                value = row[i]
                if value not in nulls:
                    cell = value.strip() if value.isprintable() else clip(value)
                    if cell:
                        kept.append(cell)
        if not kept:
            return None
        joined = " ".join(kept)
        return joined if len(joined) <= MAX_FIELD else clip(joined)


def _column_label(spec: ColumnSpec | None) -> str:
    if spec is None:
        return "?"
    refs = spec if isinstance(spec, list) else [spec]
    return "+".join(f"column {r}" if isinstance(r, int) else repr(r) for r in refs)


def _csv_records(
    source: Source,
    mapping: CsvMapping,
    window: TimeRange,
    encoding: str | None,
    build: Callable[[_RowContext], object | None],
    kind: str,
) -> tuple[Iterator[Any], Tally, Callable[[], None]]:
    display = _display(source)
    tally = Tally(display, kind)
    stream = open_text(source, encoding if encoding is not None else mapping.encoding, tally)
    try:
        lines = _Lines(stream, tally)
        line_iter = iter(lines)
        for _ in range(mapping.skip_rows):
            next(line_iter, None)
        first_data_line = lines.number
        header: list[str] | None = None
        delimiter = mapping.delimiter
        if mapping.header:
            header_line = next(line_iter, None)
            if header_line is None:
                raise ImporterError(f"{display}: the file is empty (no header line)")
            if delimiter == "auto":
                delimiter = _sniff_delimiter(header_line)
            header = next(csv.reader([header_line], delimiter=delimiter, quotechar=mapping.quotechar), [])
            header = [h.lstrip("\ufeff").strip() for h in header]
            first_data_line = lines.number
        elif delimiter == "auto":
            delimiter = ","
        cols = {
            name: _resolve(getattr(mapping.columns, name), header, name, display) for name in CsvColumns.model_fields
        }
    except BaseException:
        stream.close()
        raise
    ctx = _RowContext(mapping, cols, tally, window)

    def generate() -> Iterator[Any]:
        stats = tally.stats
        reader = csv.reader(line_iter, delimiter=delimiter, quotechar=mapping.quotechar)
        row_holder = ctx.row
        previous = first_data_line
        consecutive_errors = 0
        try:
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    stats.rows += 1
                    tally.bad(lines.number, f"not CSV: {exc}")
                    previous = lines.number
                    consecutive_errors += 1
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                        stats.stopped_early = True
                        tally.bad(lines.number, f"{MAX_CONSECUTIVE_ERRORS} bad rows in a row: stopped reading")
                        return
                    continue
                line = lines.number
                if lines.too_long and any(n in lines.too_long for n in range(previous + 1, line + 1)):
                    stats.rows += 1
                    tally.bad(line, f"line longer than {MAX_LINE} characters")
                    previous = line
                    consecutive_errors += 1
                    continue
                previous = line
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                stats.rows += 1
                if len(row) > MAX_FIELDS:
                    tally.bad(line, f"{len(row)} fields (more than {MAX_FIELDS})")
                    consecutive_errors += 1
                    continue
                row_holder.row = row
                ctx.line = line
                record = build(ctx)
                if record is None:
                    consecutive_errors += 1
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                        stats.stopped_early = True
                        tally.bad(line, f"{MAX_CONSECUTIVE_ERRORS} bad rows in a row: stopped reading")
                        return
                    continue
                consecutive_errors = 0
                if record is _OUTSIDE:
                    stats.outside_window += 1
                    continue
                yield record
        finally:
            stream.close()

    return generate(), tally, stream.close


_OUTSIDE: Any = object()


class _RowContext:
    """What a row builder needs: the current row, its line, the resolved columns and helpers."""

    def __init__(
        self, mapping: CsvMapping, cols: Mapping[str, list[int] | None], tally: Tally, window: TimeRange
    ) -> None:
        self.mapping = mapping
        self.cols = cols
        self.tally = tally
        self.window = window
        self.nulls = frozenset(mapping.null_values)
        self.row = _Row(self.nulls)
        self.line = 0
        self.times = TimeParser(mapping.timezone, mapping.time_formats)
        self.payments = PaymentMap(
            mapping.payment_values, builtin=mapping.builtin_payment_labels, default=mapping.payment_default
        )
        self.posted_values = frozenset(_label_key(v) for v in mapping.posted_values)

    def get(self, name: str) -> str | None:
        idx = self.cols[name]
        if idx is None:
            return None
        if len(idx) == 1:  # _Row.get's fast path, inlined: this runs a dozen times per row
            row = self.row.row
            i = idx[0]
            if i >= len(row):
                return None
            value = row[i]
            if value in self.nulls:
                return None
            if len(value) <= MAX_FIELD and value.isprintable():
                return value.strip() or None
            return clip(value)
        return self.row.get(idx)

    def required(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            what = _column_label(getattr(self.mapping.columns, name))
            self.tally.bad(self.line, f"{name.replace('_', ' ')} ({what}) is empty")
        return value

    def time(self) -> datetime | None:
        raw = self.required("time")
        if raw is None:
            return None
        at = self.times.parse(raw)
        if at is None:
            what = _column_label(self.mapping.columns.time)
            self.tally.bad(self.line, f"time {raw[:40]!r} ({what}) is not a date and time this mapping reads")
        return at

    def free_text(self, name: str) -> str | None:
        value, masked = scrub_card_numbers(self.get(name))
        if masked:
            self.tally.stats.cards_masked += masked
            self.tally.warn(self.line, f"a card number in {name.replace('_', ' ')} was masked")
        return value

    def contact(self) -> Contact:
        return Contact(
            name=self.free_text("name"),
            email=self.get("email"),
            postal_code=self.get("postal_code"),
            address=self.free_text("address"),
            phone=self.get("phone"),
        )

    def card(self) -> str | None:
        masked, was_full = card_reference(self.get("card_masked"))
        if was_full:
            self.tally.stats.cards_masked += 1
            self.tally.warn(self.line, "a full card number in the card column was masked (first six, last four)")
        return masked

    def expiry(self) -> str | None:
        idx = self.cols["card_expiry"]
        if idx is not None and len(idx) == 2:
            month, year = self.row.get([idx[0]]), self.row.get([idx[1]])
            if month is None or year is None:
                return None
            return normalize_expiry(f"{month}/{year}")
        return normalize_expiry(self.get("card_expiry"))


def _build_order(ctx: _RowContext) -> Order | None:
    order_id = ctx.required("order_id")
    if order_id is None:
        return None
    at = ctx.time()
    if at is None:
        return None
    if not ctx.window.contains(at):
        return _OUTSIDE  # type: ignore[no-any-return]
    card = ctx.card()
    label = ctx.get("payment")
    if label is None and ctx.cols["payment"] is None and card is not None:
        payment = PaymentMethod.CARD
    else:
        payment, known = ctx.payments.classify(label)
        if not known and label is not None:
            ctx.tally.unmapped_payment(ctx.line, label)
            if card is not None:
                payment = PaymentMethod.CARD
    return Order(
        order_id=order_id,
        placed_at=at,
        payment=payment,
        customer_id=ctx.get("customer_id"),
        contact=ctx.contact(),
        card_masked=card,
        card_expiry=ctx.expiry(),
        card_token=ctx.get("card_token"),
        page=ctx.get("page"),
        status=ctx.free_text("status"),
    )


def _build_session(ctx: _RowContext) -> CheckoutSession | None:
    session_id = ctx.required("session_id")
    if session_id is None:
        return None
    at = ctx.time()
    if at is None:
        return None
    page = ctx.required("page")
    if page is None:
        return None
    if not ctx.window.contains(at):
        return _OUTSIDE  # type: ignore[no-any-return]
    posted_raw = ctx.get("posted")
    return CheckoutSession(
        session_id=session_id,
        at=at,
        path=page,
        posted=posted_raw is not None and _label_key(posted_raw) in ctx.posted_values,
        source=SessionSource.CSV,
        client=ctx.get("client"),
        user_agent=ctx.get("user_agent"),
        customer_id=ctx.get("customer_id"),
        contact=ctx.contact(),
        order_id=ctx.get("order_id"),
    )


def _build_registration(ctx: _RowContext) -> Registration | None:
    customer_id = ctx.required("customer_id")
    if customer_id is None:
        return None
    at = ctx.time()
    if at is None:
        return None
    if not ctx.window.contains(at):
        return _OUTSIDE  # type: ignore[no-any-return]
    return Registration(customer_id=customer_id, at=at, contact=ctx.contact(), page=ctx.get("page"))


def _build_bounce(ctx: _RowContext) -> Bounce | None:
    raw = ctx.required("email")
    if raw is None:
        return None
    email = normalize_email(raw)
    if email is None:
        ctx.tally.bad(ctx.line, f"{raw[:80]!r} is not an e-mail address")
        return None
    at = None
    raw_time = ctx.get("time")
    if raw_time is not None:
        at = ctx.times.parse(raw_time)
        if at is None:
            ctx.tally.warn(ctx.line, f"time {raw_time[:40]!r} not understood: bounce kept without a time")
    return Bounce(email=email, at=at, reason=ctx.get("reason"))


_BUILDERS: Mapping[str, Callable[[_RowContext], object | None]] = {
    "orders": _build_order,
    "sessions": _build_session,
    "registrations": _build_registration,
    "bounces": _build_bounce,
}


def import_csv(
    source: Source, mapping: CsvMapping, window: TimeRange | None = None, encoding: str | None = None
) -> ImportResult[Any]:
    """Records of ``mapping.kind`` from a CSV file, streamed."""
    records, tally, close = _csv_records(
        source, mapping, window or TimeRange(), encoding, _BUILDERS[mapping.kind], mapping.kind
    )
    return ImportResult(records, tally, [close])


# --------------------------------------------------------------------------------------------
# Bounce lists
# --------------------------------------------------------------------------------------------

_EMAIL_HEADERS = ("email", "e-mail", "mail", "メールアドレス", "メール", "recipient", "宛先", "address")
_TIME_HEADERS = ("date", "time", "timestamp", "日時", "日付", "bounced_at", "created")
_REASON_HEADERS = ("reason", "diagnostic", "status", "error", "理由", "エラー")
_EMAILISH = re.compile(r"[^\s<>\"',;]+@[^\s<>\"',;]+")


def _find_header(header: Sequence[str], names: Sequence[str]) -> str | None:
    keys = [_label_key(h) for h in header]
    for name in names:
        key = _label_key(name)
        for original, folded in zip(header, keys, strict=True):
            if folded == key:
                return original
    for name in names:
        key = _label_key(name)
        for original, folded in zip(header, keys, strict=True):
            if key in folded:
                return original
    return None


def _bounce_lines(source: Source, encoding: str | None) -> tuple[Iterator[Bounce], Tally, Callable[[], None]]:
    display = _display(source)
    tally = Tally(display, "bounces")
    stream = open_text(source, encoding, tally)
    lines = _Lines(stream, tally)

    def generate() -> Iterator[Bounce]:
        stats = tally.stats
        try:
            for line in lines:
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                stats.rows += 1
                if lines.number in lines.too_long:
                    tally.bad(lines.number, f"line longer than {MAX_LINE} characters")
                    continue
                if not stripped.isascii():
                    stripped = unicodedata.normalize("NFKC", stripped)  # ｔａｒｏ＠example.jp
                m = _EMAILISH.search(stripped)
                email = normalize_email(m.group(0).strip("<>.")) if m else None
                if email is None:
                    tally.bad(lines.number, f"no e-mail address in {stripped[:80]!r}")
                    continue
                yield Bounce(email=email)
        finally:
            stream.close()

    return generate(), tally, stream.close


def load_bounces(
    source: Source, *, mapping: CsvMapping | str | Path | None = None, encoding: str | None = None
) -> ImportResult[Bounce]:
    """A bounce list: one address per line (``#`` comments and blank lines skipped), or a CSV
    whose header has an e-mail column (``email``, ``メールアドレス``, ``recipient``...) and
    optionally a time and a reason column; or a CSV mapping of kind ``bounces``."""
    if mapping is not None:
        resolved = _as_mapping(mapping, "bounces")
        return import_csv(source, resolved, None, encoding)
    # sniff: a header line with a delimiter and an e-mail column name means CSV
    probe_tally = Tally(_display(source), "bounces")
    if isinstance(source, str | Path):
        with open_text(source, encoding, probe_tally) as probe:
            first = ""
            for candidate in iter(lambda: probe.readline(MAX_LINE), ""):
                if candidate.strip() and not candidate.lstrip().startswith("#"):
                    first = candidate
                    break
        delimiter = _sniff_delimiter(first)
        header = [h.lstrip("\ufeff").strip() for h in next(csv.reader([first], delimiter=delimiter), [])]
        email_col = _find_header(header, _EMAIL_HEADERS) if header and "@" not in first else None
        if email_col is not None:
            csv_mapping = CsvMapping(
                kind="bounces",
                encoding=encoding or "auto",
                delimiter=delimiter,
                columns=CsvColumns(
                    email=email_col,
                    time=_find_header(header, _TIME_HEADERS),
                    reason=_find_header(header, _REASON_HEADERS),
                ),
            )
            return import_csv(source, csv_mapping, None, encoding)
    records, tally, close = _bounce_lines(source, encoding)
    return ImportResult(records, tally, [close])


# --------------------------------------------------------------------------------------------
# The façade
# --------------------------------------------------------------------------------------------


def _as_mapping(mapping: CsvMapping | AccessLogConfig | str | Path, kind: str) -> CsvMapping:
    from skimguard.incident.importers_log import AccessLogConfig

    resolved = load_mapping(mapping) if isinstance(mapping, str | Path) else mapping
    if isinstance(resolved, AccessLogConfig):
        raise ImporterError(f"an access-log configuration gives checkout sessions, not {kind}")
    if resolved.kind != kind:
        raise ImporterError(f"the mapping is for {resolved.kind}, not {kind}", hint="set kind: in the mapping file")
    return resolved


def _load(
    kind: Literal["orders", "sessions", "registrations"],
    source: Source | Sequence[str | Path],
    mapping: CsvMapping | AccessLogConfig | str | Path | None,
    preset: str | None,
    window: _Bounds | tuple[datetime | None, datetime | None] | None,
    encoding: str | None,
    options: PresetOptions | None,
) -> ImportResult[Any]:
    bounds = TimeRange.of(window)
    if (mapping is None) == (preset is None):
        raise ImporterError("give either a mapping (CSV, access log) or a preset (database)")
    if preset is not None:
        from skimguard.incident.importers_db import import_database

        if not isinstance(source, str):
            raise ImporterError("a database preset reads from a SQLAlchemy URL (e.g. mysql+pymysql://user@host/shop)")
        return import_database(source, preset, kind, bounds, options)
    assert mapping is not None
    from skimguard.incident.importers_log import AccessLogConfig, import_access_logs

    resolved = load_mapping(mapping) if isinstance(mapping, str | Path) else mapping
    if isinstance(resolved, AccessLogConfig):
        if kind != "sessions":
            raise ImporterError(f"an access log gives checkout sessions, not {kind}")
        paths = [source] if isinstance(source, str | Path) or hasattr(source, "read") else list(source)
        return import_access_logs(paths, resolved, bounds)  # type: ignore[arg-type]
    if resolved.kind != kind:
        raise ImporterError(f"the mapping is for {resolved.kind}, not {kind}", hint="set kind: in the mapping file")
    if not (isinstance(source, str | Path) or hasattr(source, "read")):
        raise ImporterError("a CSV import reads one file")
    return import_csv(source, resolved, bounds, encoding)  # type: ignore[arg-type]


WindowArg = _Bounds | tuple[datetime | None, datetime | None] | None


def load_orders(
    source: Source,
    *,
    mapping: CsvMapping | str | Path | None = None,
    preset: str | None = None,
    window: WindowArg = None,
    encoding: str | None = None,
    options: PresetOptions | None = None,
) -> ImportResult[Order]:
    """Orders from a CSV file (``mapping``) or a shop database (``source`` = URL, ``preset``)."""
    return _load("orders", source, mapping, preset, window, encoding, options)


def load_sessions(
    source: Source | Sequence[str | Path],
    *,
    mapping: CsvMapping | AccessLogConfig | str | Path | None = None,
    preset: str | None = None,
    window: WindowArg = None,
    encoding: str | None = None,
    options: PresetOptions | None = None,
) -> ImportResult[CheckoutSession]:
    """Checkout sessions from a CSV file, web access logs (one path or several, plain or gzip, with
    an access-log configuration as ``mapping``) or a shop database (abandoned checkouts)."""
    return _load("sessions", source, mapping, preset, window, encoding, options)


def load_registrations(
    source: Source,
    *,
    mapping: CsvMapping | str | Path | None = None,
    preset: str | None = None,
    window: WindowArg = None,
    encoding: str | None = None,
    options: PresetOptions | None = None,
) -> ImportResult[Registration]:
    """Member registrations from a CSV file or a shop database (customers created in the window)."""
    return _load("registrations", source, mapping, preset, window, encoding, options)
