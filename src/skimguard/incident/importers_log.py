"""Checkout sessions from web access logs: who reached the card page, who posted the card form.

The shop database only knows checkouts that became orders (or left a cart behind). The fake-form
skimmer of founding incident 2 took card data from shoppers who then paid another way or gave up;
the web server saw every one of them. This importer reads Apache/nginx **common** and **combined**
log format (plain or gzip, recognized by its magic bytes), line by line, and yields a
:class:`~skimguard.incident.records.CheckoutSession` for

* ``GET`` of a card page answered 2xx/3xx: ``posted=False`` (the shopper saw the form);
* ``POST`` to a card-post path, whatever the answer: ``posted=True`` (the shopper typed and sent
  the card data; a skimmer had it before the server answered).

Configuration (:class:`AccessLogConfig`, ``kind: access-log`` in a mapping file)::

    kind: access-log
    card_pages: ["/shopping/payment*", "/checkout/*"]   # shell-style globs on the path (no query)
    card_posts: ["/shopping/confirm", "/checkout/payment-post"]
    timezone: Asia/Tokyo        # the shop's day, for session IDs built from client and day
    session_field: 1            # optional: the 1st field after the user agent holds the session
    session_cookie: ECSESSID    # optional: that field is a whole Cookie header; take this cookie

``session_id`` is a hash of (client IP, user agent, shop-local day) unless a session field is
configured and present on the line; a session cookie is hashed too (it is a secret that would let
anyone who reads the report take over the session). With ``dedupe`` (default) each (session, path,
posted) is yielded once, at its first hit inside the window; the others are counted as ignored.
Paths are kept without their query string.

Hostile input: lines longer than ``max_line`` bytes are drained and counted as bad; lines that are
not in common/combined format are counted as bad with their line number; only the fields of
matching lines are decoded (UTF-8 with replacement) and bounded; timestamps at the ends of the
calendar (year 1 or 9999 shifted by an offset) are "time not understood", not an overflow.

Speed: the log is read in blocks (:data:`CHUNK`, 8 MiB, cut after the last newline) and each
block is handled by a few C scans, not a Python loop over its lines:

* ``count(b"\\n")`` counts the lines; one ``bytes.find`` per ``max_line // 2`` window finds the
  over-long ones (such a line holds a whole window without a newline);
* one regular expression pass (``subn``, ~800 MB/s) checks that **every** line is well formed, the
  same check :meth:`_Reader.line` makes; only when a block has a line that is not (or a blank
  one) does a slower exact pass find which. Malformed lines that are not about card paths are
  thus still each counted and reported with their line number, as before: a forensic reader
  must learn that a log is partly garbage, and the full check costs a fifth of the time;
* ``bytes.find`` of a space and each card path prefix (``" /shopping/payment"``: GET and POST
  of one prefix in one search) finds every line that can be about a card path, and a few more.

Only those lines, the malformed and the over-long ones are taken apart, one at a time, by
:meth:`_Reader.line` (``bytes.find`` and ``startswith``, glob, status, time, window, session);
every other line is a row, ignored. A timestamp is parsed once per distinct string and, for
Apache's ``%t``, once per hour (a quiet log seldom repeats a second), with the hour's place
against the window, so that the many card-page hits outside it cost little. The result is the
line-by-line result exactly (sessions, counts, problems with their line numbers; a test compares
them on a mixed log with block edges everywhere); only the counts in :attr:`ImportStats` are
brought up to date per block rather than per line while the import runs. Measured on the shared
2-core development machine (load ~0.7): 2 million combined-format lines (420 MB), a quarter of
them on the card page and most of those outside the window, 66,615 sessions: 3.5 s, ~570,000
lines/s (line by line: 6.9 s); the C scans alone take ~1 s of it, the card-page lines the rest.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Generator, Iterator, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Literal

from pydantic import Field, field_validator, model_validator

from skimguard.incident.importers import (
    DEFAULT_TIMEZONE,
    ImportResult,
    Source,
    Tally,
    TimeRange,
    _display,
    _Strict,
    open_binary,
    text,
    zone_named,
)
from skimguard.incident.records import MAX_FIELD, CheckoutSession, SessionSource, clip

__all__ = ["AccessLogConfig", "import_access_logs", "parse_log_time"]


class AccessLogConfig(_Strict):
    """Which paths are card pages and card posts, and how to tell sessions apart."""

    kind: Literal["access-log"] = "access-log"
    card_pages: list[str] = Field(default_factory=list)
    card_posts: list[str] = Field(default_factory=list)
    timezone: str = DEFAULT_TIMEZONE
    session_field: int | None = Field(default=None, ge=1, le=32)
    session_cookie: str | None = None
    dedupe: bool = True
    max_line: int = Field(default=16 * 1024, ge=256, le=1 << 20)

    @field_validator("card_pages", "card_posts")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        for glob in value:
            if not glob.startswith(("/", "*")):
                raise ValueError(f"{glob!r}: a path glob starts with / (e.g. /shopping/payment*)")
            if len(glob) > 512:
                raise ValueError("a path glob is at most 512 characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Tokyo)") from None
        return value

    @model_validator(mode="after")
    def _some_paths(self) -> AccessLogConfig:
        if not self.card_pages and not self.card_posts:
            raise ValueError("give card_pages and/or card_posts (path globs such as /shopping/payment*)")
        if self.session_cookie is not None and self.session_field is None:
            raise ValueError("session_cookie needs session_field (the log field holding the Cookie header)")
        return self


# what follows in combined format: "referer" "user agent" and then any extra fields
_TAIL = re.compile(rb' \d{3} \S+ "([^"\\]*+(?:\\.[^"\\]*+)*+)" "([^"\\]*+(?:\\.[^"\\]*+)*+)"')
_EXTRA = re.compile(rb' +(?:"([^"\\]*+(?:\\.[^"\\]*+)*+)"|(\S+))')
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m.encode(): i for i, m in enumerate(_MONTH_NAMES, start=1)}


OUTSIDE: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "")
"""What :meth:`_Reader.when` gives for a time outside the window (compared by identity)."""
# not in a cache yet (None is a cached "not understood"); compared by identity
_UNSEEN: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "unseen")
_UNSEEN_HOUR: tuple[datetime, str, object] = (*_UNSEEN, None)
_SIXTY = {b"%02d" % i: i for i in range(60)}


def _sixty(raw: bytes) -> int | None:
    """A minute or second the way ``int()`` then ``datetime()`` take it (" 5", "+5"), or None."""
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 <= value < 60 else None


CHUNK = 8 << 20
"""Bytes read at a time (then cut after the last newline): big enough that the per-block Python
work is nothing next to the C scans over it, small enough to stay in memory twice over."""

# A well-formed line, as ``_Reader.line`` checks it: the first quote right after "] ", the request
# up to the next quote not preceded by a backslash, a space and three digits. In _WELL_FORMED
# [^"] may run over a newline (the fast byte loop; [^"\n] is three times slower), but only on a
# line that is not well formed: the caller checks that there are as many matches as lines.
_LINE = rb'[^"]*+(?<=\] )"[^"]*+(?:(?<=\\)"[^"]*+)*+" [0-9]{3}[^\n]*+\n'
_WELL_FORMED = re.compile(rb"(?m)^" + _LINE)
_RUN = re.compile(rb"(?:" + _LINE.replace(rb'[^"]', rb'[^"\n]') + rb")++")  # exact, slower


def _blocks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """``stream`` in blocks of about ``size`` bytes. Read with ``read1`` (one decompression step
    at a time for gzip) so that when a truncated or corrupt file raises, the data read before it
    is still given out (then the error is raised again), as a line reader would have."""
    read = getattr(stream, "read1", None) or stream.read
    parts: list[bytes] = []
    have = 0
    while True:
        try:
            piece = read(size - have)
        except (OSError, EOFError):
            if parts:
                yield b"".join(parts)
            raise
        if not piece:
            break
        parts.append(piece)
        have += len(piece)
        if have >= size:
            yield parts[0] if len(parts) == 1 else b"".join(parts)
            parts, have = [], 0
    if parts:
        yield b"".join(parts)


def _long_lines(chunk: bytes, limit: int) -> set[int]:
    """Starts of the lines of ``chunk`` (whole lines) of ``limit`` bytes or more before their
    newline (what a ``readline(limit + 1)`` would not return whole). Such a line holds a whole
    window of ``limit // 2`` bytes aligned on a multiple of it with no newline, so one
    ``bytes.find`` per window is enough: a few thousand per block."""
    step = limit // 2
    found: set[int] = set()
    find = chunk.find
    at = 0
    size = len(chunk)
    while at < size:
        if find(b"\n", at, at + step) >= 0:
            at += step
            continue
        start = chunk.rfind(b"\n", 0, at) + 1
        end = find(b"\n", at)
        if end - start >= limit:
            found.add(start)
        at = -(-(end + 1) // step) * step  # the first window after this line
    return found


def _irregular(chunk: bytes) -> list[int]:
    """Starts of the lines of ``chunk`` (whole lines) that are not well formed (or blank): each
    run of well-formed lines is skipped by one exact match."""
    found: list[int] = []
    size = len(chunk)
    at = 0
    while at < size:
        run = _RUN.match(chunk, at)
        if run is not None:
            at = run.end()
            continue
        found.append(at)
        at = chunk.find(b"\n", at) + 1
    return found


def parse_log_time(raw: bytes) -> datetime | None:
    """``10/Oct/2000:13:55:36 -0700`` (Apache/nginx ``%t``) or ISO 8601 (nginx ``$time_iso8601``)
    as aware UTC."""
    try:
        if len(raw) >= 26 and raw[2:3] == b"/" and raw[6:7] == b"/":
            month = _MONTHS.get(raw[3:6])
            if month is None:
                return None
            naive = datetime(int(raw[7:11]), month, int(raw[0:2]), int(raw[12:14]), int(raw[15:17]), int(raw[18:20]))
            sign = -1 if raw[21:22] == b"-" else 1
            offset = timedelta(hours=int(raw[22:24]), minutes=int(raw[24:26]))
            return (naive - sign * offset).replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(raw.decode("ascii"))
    except (ValueError, OverflowError, UnicodeDecodeError):  # OverflowError: year 1 minus an offset
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def _local_day(at: datetime, zone: tzinfo) -> str:
    """The ISO date of ``at`` in ``zone``; "" at the ends of the calendar (year 1 or 9999)."""
    try:
        return at.astimezone(zone).date().isoformat()
    except OverflowError:
        return ""


def _glob_regex(globs: Sequence[str]) -> re.Pattern[bytes] | None:
    if not globs:
        return None
    return re.compile(b"|".join(fnmatch.translate(g).encode("utf-8") for g in globs))


def _globs(globs: Sequence[str]) -> tuple[frozenset[bytes], re.Pattern[bytes] | None]:
    """The globs without wildcards as a set (a set lookup instead of a regular expression for
    the usual ``/shopping/payment``), and a regular expression for the others."""
    exact = frozenset(g.encode("utf-8") for g in globs if not any(c in g for c in "*?["))
    return exact, _glob_regex([g for g in globs if any(c in g for c in "*?[")])


def _glob_prefixes(globs: Sequence[str]) -> tuple[bytes, ...] | None:
    """The literal starts of the globs (``/shopping/payment`` of ``/shopping/payment*``): a cheap
    ``startswith`` before the regular expression. None when a glob starts with a wildcard."""
    prefixes = []
    for glob in globs:
        cut = min((i for i, c in enumerate(glob) if c in "*?["), default=len(glob))
        if cut == 0:
            return None
        prefixes.append(glob[:cut].encode("utf-8"))
    return tuple(prefixes)


def _needles(*methods: tuple[bytes, tuple[bytes, ...] | None, bool]) -> tuple[bytes, ...]:
    """What to look for in a whole block to find every line that can be about a card path (and
    a few more): a space and the path prefix (one search for GET and POST of the same prefix),
    or the method itself when a glob starts with a wildcard."""
    found: list[bytes] = []
    for method, prefixes, active in methods:
        if active:
            found.extend([method] if prefixes is None else [b" " + p for p in prefixes])
    return tuple(dict.fromkeys(found))


def _preview(line: bytes) -> str:
    return clip(line[:80].decode("utf-8", "replace")) or ""


def _unescape(raw: bytes) -> str:
    """A log field as bounded text: Apache's ``\\"`` and ``\\\\`` undone, invalid UTF-8 replaced."""
    if b"\\" in raw:
        raw = raw.replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    return raw[: MAX_FIELD * 4].decode("utf-8", "replace")


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip() or None
    return None


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x00".join(parts).encode("utf-8", "replace"), digest_size=12).hexdigest()


class _Reader:
    """The per-import state: compiled paths, the time cache, the seen sessions."""

    def __init__(self, config: AccessLogConfig, window: TimeRange, tally: Tally) -> None:
        self.config = config
        self.window = window
        self.tally = tally
        self.pages = _glob_regex(config.card_pages)
        self.posts = _glob_regex(config.card_posts)
        self.page_globs = _globs(config.card_pages)
        self.post_globs = _globs(config.card_posts)
        self.page_prefixes = _glob_prefixes(config.card_pages)
        self.post_prefixes = _glob_prefixes(config.card_posts)
        # "GET /shopping/payment" as one startswith on the line: lines about other paths stop here
        self.gets = tuple(b"GET " + p for p in (self.page_prefixes or (b"",))) if self.pages is not None else ()
        self.post_starts = tuple(b"POST " + p for p in (self.post_prefixes or (b"",))) if self.posts is not None else ()
        self.needles = _needles(
            (b'"GET ', self.page_prefixes, self.pages is not None),
            (b'"POST ', self.post_prefixes, self.posts is not None),
        )
        self.after, self.before = window.start, window.end  # inclusive, as TimeRange.contains
        self.stats = tally.stats
        self.zone = zone_named(config.timezone)
        self.times: dict[bytes, tuple[datetime, str] | None] = {}
        self.hours: dict[bytes, tuple[datetime, str, object] | None] = {}
        self.seen: set[tuple[str, str, bool]] = set()

    def when(self, raw: bytes) -> tuple[datetime, str] | None:
        """UTC time and shop-local day of a timestamp, or ``OUTSIDE`` the window, or None when
        not understood. Cached per distinct string, and for Apache's ``%t`` per hour too: a
        quiet log seldom repeats a second, so the hour (its start, the shop's day, where it lies
        against the window) is worked out once and the minutes and seconds added to it."""
        value = self.times.get(raw, _UNSEEN)
        if value is not _UNSEEN:
            return value
        if len(raw) >= 26 and raw[2:3] == b"/" and raw[6:7] == b"/":
            hour = self._hour(raw[:14] + raw[20:])
            if hour is not None:
                start, day, where = hour
                minute = _SIXTY.get(raw[15:17])
                second = _SIXTY.get(raw[18:20])
                if minute is None or second is None:  # " 5", "+5", "99": as int() and datetime() say
                    minute, second = _sixty(raw[15:17]), _sixty(raw[18:20])
                    if minute is None or second is None:
                        return None
                if where is OUTSIDE:
                    return OUTSIDE
                try:
                    at = start + timedelta(0, minute * 60 + second)
                except OverflowError:
                    return None
                value = self._placed(at, day)
                if len(self.times) >= 200_000:
                    self.times.clear()
                self.times[raw] = value
                return value
        # ISO 8601, or a %t whose hour alone does not parse: the whole string says why
        parsed = parse_log_time(raw)
        value = None if parsed is None else self._placed(parsed, "")
        if len(self.times) >= 200_000:
            self.times.clear()
        self.times[raw] = value
        return value

    def _placed(self, at: datetime, day: str) -> tuple[datetime, str] | None:
        if (self.after is not None and at < self.after) or (self.before is not None and at > self.before):
            return OUTSIDE
        day = day or _local_day(at, self.zone)
        return (at, day) if day else None

    def _hour(self, key: bytes) -> tuple[datetime, str, object] | None:
        """Start (UTC) of the hour of a ``%t`` timestamp without its ``:MM:SS``, the shop's day
        for the whole hour ("" when the hour holds a change of day or of UTC offset), and
        ``OUTSIDE`` when all of the hour is outside the window."""
        value = self.hours.get(key, _UNSEEN_HOUR)
        if value is not _UNSEEN_HOUR:
            return value
        start = parse_log_time(key[:14] + b":00:00" + key[14:])
        value = None
        if start is not None:
            day = ""
            where: object = None
            try:
                last = start + timedelta(seconds=3599)
                first_local, last_local = start.astimezone(self.zone), last.astimezone(self.zone)
                if first_local.utcoffset() == last_local.utcoffset() and first_local.date() == last_local.date():
                    day = first_local.date().isoformat()
                if (self.after is not None and last < self.after) or (self.before is not None and start > self.before):
                    where = OUTSIDE
            except OverflowError:
                pass
            value = (start, day, where)
        if len(self.hours) >= 100_000:
            self.hours.clear()
        self.hours[key] = value
        return value

    def read(self, stream: IO[bytes], name: str, chunk_size: int = CHUNK) -> Iterator[CheckoutSession]:
        """Sessions from one log, read in blocks of whole lines (see the module doc). A line longer
        than ``max_line`` is reported once and skipped up to its end even when it spans blocks."""
        tally = self.tally
        tally.current = name
        limit = self.config.max_line
        number = 0
        carry = b""
        draining = False  # inside an over-long line already reported
        for block in _blocks(stream, max(chunk_size, 1)):
            if draining:
                newline = block.find(b"\n")
                if newline < 0:
                    continue
                block = block[newline + 1 :]
                draining = False
            buf = carry + block if carry else block
            cut = buf.rfind(b"\n") + 1
            chunk, carry = (buf, b"") if cut == len(buf) else (buf[:cut], buf[cut:])
            if chunk:
                number = yield from self._chunk(chunk, number)
            if len(carry) > limit:  # no end in sight and already too long
                number += 1
                tally.stats.rows += 1
                tally.bad(number, f"line longer than {limit} bytes")
                carry = b""
                draining = True
        if carry:  # the last line has no newline
            result = self.line(carry)
            if isinstance(result, str):
                tally.bad(number + 1, result)
            elif result is not None:
                yield result

    def _chunk(self, chunk: bytes, number: int) -> Generator[CheckoutSession, None, int]:
        """The sessions of whole lines (``chunk`` ends with a newline) that follow line ``number``;
        returns the number of the last line. Only the lines that need it are taken apart (too
        long, not well formed, or holding a card path prefix after a space: a superset of the
        card-path lines, :meth:`line` decides); every other line is well formed and not about a
        card path: a row, ignored. Line numbers are counted only for the lines reported."""
        lines = chunk.count(b"\n")
        limit = self.config.max_line
        long = _long_lines(chunk, limit)
        rest, count = _WELL_FORMED.subn(b"", chunk)
        odd = _irregular(chunk) if rest or count != lines else []
        find, rfind = chunk.find, chunk.rfind
        hits: list[int] = []
        for needle in self.needles:
            hit = find(needle)
            while hit >= 0:
                hits.append(hit)
                hit = find(needle, find(b"\n", hit))  # on the next line
        if long or odd or len(self.needles) > 1:  # line starts and hits, in order
            hits = sorted({*hits, *long, *odd})
        stats, tally, line = self.stats, self.tally, self.line
        taken = 0
        last = -1
        before, counted = number, 0  # lines before the one at `counted`
        done = False
        try:
            for hit in hits:
                start = rfind(b"\n", 0, hit) + 1
                if start == last:
                    continue
                last = start
                taken += 1
                if start in long:
                    stats.rows += 1
                    reason = f"line longer than {limit} bytes"
                else:
                    result = line(chunk[start : find(b"\n", hit) + 1])
                    if result is None:
                        continue
                    if not isinstance(result, str):
                        yield result
                        continue
                    reason = result
                before += chunk.count(b"\n", counted, start)
                counted = start
                tally.bad(before + 1, reason)
            done = True
        finally:  # when the caller stops early, only the lines up to the last one yielded
            plain = (lines if done else chunk.count(b"\n", 0, last) + 1) - taken
            stats.rows += plain
            stats.ignored += plain
        return number + lines

    def line(self, line: bytes) -> CheckoutSession | str | None:
        """One line (at most ``max_line`` bytes, with or without its newline) the way the module
        doc describes it: counted, then a session, None (ignored, outside the window, blank) or
        why it is bad. Taken apart with ``bytes.find`` (C speed; one regular expression per line
        costs twice as much): the client is the first field, the time sits in ``[...]`` right
        before the request's opening quote, the status follows the closing quote (skipping
        Apache's escaped ``\\"``)."""
        stats = self.stats
        stats.rows += 1
        q1 = line.find(b'"')
        q2 = line.find(b'"', q1 + 1) if q1 > 0 else -1
        while q2 > 0 and line[q2 - 1] == 92:  # \" inside the request
            q2 = line.find(b'"', q2 + 1)
        if (
            q2 < 0
            or not line.startswith(b"] ", q1 - 2)
            or not line.startswith(b" ", q2 + 1)
            or not line[q2 + 2 : q2 + 5].isdigit()
        ):
            if line.strip():
                return f"not common/combined log format: {_preview(line)!r}"
            stats.rows -= 1
            return None
        if self.gets and line.startswith(self.gets, q1 + 1):
            if line[q2 + 2] not in b"23":
                stats.ignored += 1
                return None
            posted, globs, start = False, self.page_globs, q1 + 5
        elif self.post_starts and line.startswith(self.post_starts, q1 + 1):
            posted, globs, start = True, self.post_globs, q1 + 6
        else:
            stats.ignored += 1
            return None
        # the path of METHOD /path?query HTTP/1.1, without the query
        end = line.find(b" ", start, q2)
        path = line[start : q2 if end < 0 else end]
        cut = path.find(b"?")
        if cut >= 0:
            path = path[:cut]
        exact, wild = globs
        if path not in exact and (wild is None or wild.match(path) is None):
            stats.ignored += 1
            return None
        bracket = line.rfind(b" [", 0, q1)
        when = self.when(line[bracket + 2 : q1 - 2]) if bracket > 0 else None
        if when is None:
            return f"time not understood: {_preview(line)!r}"
        if when is OUTSIDE:
            stats.outside_window += 1
            return None
        at, day = when
        return self._session(line, q2 + 1, line[: line.find(b" ")], path, posted, at, day)

    def _session(
        self,
        line: bytes,
        end: int,
        client_raw: bytes,
        path_raw: bytes,
        posted: bool,
        at: datetime,
        day: str,
    ) -> CheckoutSession | None:
        agent: str | None = None
        extras: list[str] = []
        tail = _TAIL.match(line, end)
        if tail is not None:
            agent = text(_unescape(tail.group(2)))
            if agent == "-":
                agent = None
            if self.config.session_field is not None:
                pos = tail.end()
                while len(extras) < self.config.session_field:
                    extra = _EXTRA.match(line, pos)
                    if extra is None:
                        break
                    extras.append(_unescape(extra.group(1) if extra.group(1) is not None else extra.group(2)))
                    pos = extra.end()
        client = clip(client_raw.decode("utf-8", "replace"), 64) or "-"
        path = text(_unescape(path_raw)) or "/"
        session_id: str | None = None
        field = self.config.session_field
        if field is not None and len(extras) >= field:
            value: str | None = extras[field - 1].strip()
            if value and self.config.session_cookie is not None:
                value = _cookie(value, self.config.session_cookie)
            if value and value != "-":
                session_id = "s:" + _digest(value)
        if session_id is None:
            session_id = "h:" + _digest(client, agent or "", day)
        if self.config.dedupe:
            key = (session_id, path, posted)
            if key in self.seen:
                self.tally.stats.ignored += 1
                return None
            self.seen.add(key)
        return CheckoutSession(
            session_id=session_id,
            at=at,
            path=path,
            posted=posted,
            source=SessionSource.ACCESS_LOG,
            client=client,
            user_agent=agent,
        )


def import_access_logs(
    sources: Sequence[Source], config: AccessLogConfig, window: TimeRange | None = None
) -> ImportResult[CheckoutSession]:
    """Checkout sessions from access logs, read in the order given (oldest first, so that
    deduplication keeps each session's first hit)."""
    names = [_display(s) for s in sources]
    tally = Tally(", ".join(names) if len(names) <= 3 else f"{names[0]} and {len(names) - 1} more", "sessions")
    reader = _Reader(config, window or TimeRange(), tally)
    opened: list[IO[bytes]] = []
    for source in sources:
        if isinstance(source, str | Path) and not Path(source).is_file():
            from skimguard.incident.importers import ImporterError

            raise ImporterError(f"{source}: no such log file")

    def generate() -> Iterator[CheckoutSession]:
        try:
            for source, name in zip(sources, names, strict=True):
                stream = open_binary(source)
                opened.append(stream)
                try:
                    yield from reader.read(stream, name)
                except (OSError, EOFError) as exc:  # a truncated or corrupt gzip file
                    tally.bad(None, f"reading stopped: {exc}")
                    tally.stats.stopped_early = True
                finally:
                    stream.close()
        finally:
            for stream in opened:
                stream.close()

    return ImportResult(generate(), tally)
