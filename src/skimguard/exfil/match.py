"""Find canary values in outbound traffic, however a skimmer encoded them.

Two directions meet in the middle.

*Forward* (once, in :class:`Matcher`): every canary value becomes a set of *needles*: the value as
typed (card numbers also as digits, 4-4-4-4 / 4-6-5 / 4-6-4 with spaces and with dashes); each
of those form-encoded (``+`` for spaces), base64 / base64url (the characters the value fixes on
its own, so they also match at the start of a longer payload), hex, JavaScript char codes; each of
these reversed (reported as the step ``reverse``: reversing the text and finding the needle are the
same thing); e-mail and password also as md5 / sha1 / sha256 hex of the lower-cased value (the
password also as typed). Hex, hashes and e-mail forms match case-insensitively, the rest exactly.
Percent-encoded and JSON-escaped forms need no needles of their own: see normalization.

*Backward* (per haystack item, in :meth:`Matcher.search`): breadth-first, up to ``max_depth``
decoding steps. Every candidate text (the item, then whatever decoding revealed) is *normalized*
first, percent-decoded and JSON/JS-unescaped (``\\uXXXX``, ``\\xXX``, ``\\"``, ``\\/``), and the
normalized text is searched for every needle; a hit that needed it gets the step ``url`` and/or
``json`` (decided per hit: is the matched text in the raw text?). Then the normalized text is
decoded further: base64 / base64url and hex runs *at every offset*, forwards and reversed
(``reverse``, ``base64``), JavaScript char-code lists, gzip / zlib / raw deflate of a whole item or
of a base64 run; doubly encoded text gets a second round. Text with CRLF line breaks (header
blocks, multipart bodies) is searched line by line, each distinct line once: header blocks differ
from request to request, their lines mostly do not.

A hit's ``chain`` lists the decoding steps applied to the item, outermost first, then the needle's
own steps (``needle:...``). Of all the ways a value was found in an item the shortest chain is
reported; ties go to fewer ``needle:`` steps, then to the chain's spelling, then to the offset.

Short values (``len(value) < min_len``, e.g. CVC and expiry) are reported only from a text in
which a long value was found in clear (a hash does not count); for a line of a root item, the
whole item counts. Reversed needles shorter than 15 bytes are looked for the same way: a skimmer
reverses a whole payload, not a lone short field.

Speed: everything per byte runs in C (or in yara-x's Rust). Each distinct item is looked at once
(identical header blocks recur from request to request); texts without ``%`` or ``\\`` skip
normalization, and the texts of a layer that need percent-decoding are decoded together in one
call; two-byte escapes are looked for with a regex (C's ``memchr`` finds single bytes, a two-byte
``find`` is slower than the regex engine's prefix scan). The distinct candidate texts of one layer
are joined into one buffer (NUL-separated) and scanned once by yara-x (compiled once per set of
needles): every needle searched everywhere at once (Aho-Corasick), and the gate of char-code lists
(two numbers around a comma), so a layer without one skips that decoder. Base64 runs are located
with ``translate`` + ``find`` (hex runs inside them: hex digits are base64 characters); all
distinct runs of a layer are decoded together, one call per alignment and direction (each run's
alignment in the joined stream depends on the runs before it, and the phases shift them all), and
only stretches that decode to text become candidates.

Everything is pure (no I/O) and bounded: items are cut to ``max_item_bytes`` (head and tail kept),
at most ``MAX_CANDIDATES`` new candidates per item and layer, at most ``DECODE_BUDGET_FACTOR`` times
the item's size decoded per item, decompressed output capped at ``DECOMPRESS_CAP`` per item,
JSON escapes and char codes capped per text, offsets of one needle from the scan capped at
``MAX_MATCHES_PER_NEEDLE`` per layer (past that: one ``find`` per text that holds it). Encrypted
payloads are out of scope.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, compress, filterfalse
from urllib.parse import quote_plus, unquote_to_bytes

import yara_x

__all__ = [
    "DECODE_BUDGET_FACTOR",
    "DECOMPRESS_CAP",
    "MAX_CANDIDATES",
    "MAX_MATCHES_PER_NEEDLE",
    "CanaryValue",
    "Hit",
    "Matcher",
]

# ---------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------

MAX_CANDIDATES = 64  # new candidate texts per item and layer
DECODE_BUDGET_FACTOR = 4  # decoded bytes per item, as a multiple of the item's size ...
MIN_DECODE_BUDGET = 16 * 1024  # ... but at least this much, so a small beacon can nest 3 layers
DECOMPRESS_CAP = 4 * 1024 * 1024  # decompressed bytes per item, all streams together
MAX_JSON_ESCAPES = 65_536  # escapes unescaped per text
B64_MIN_RUN = 16  # base64 alphabet characters in a row (12 bytes) before a run is decoded
HEX_MIN_RUN = 16  # hex digits in a row (8 bytes) before a run is decoded
MIN_SEGMENT = 8  # printable bytes in a row for a decoded stretch to count as text (hex) ...
B64_MIN_SEGMENT = 12  # ... (base64: it decodes every alignment of every run, more chances for noise)
MIN_CHARCODES = 6  # numbers in a char-code list
MAX_CHARCODES = 16_384  # numbers of one list decoded (about: the list is cut at 8 bytes a number)
MAX_CHARCODE_REGIONS = 4096  # regions looked at one by one per layer, then one regex pass
MAX_MATCHES_PER_NEEDLE = 4096  # offsets of one needle per layer from the scan; more: one find per text

CARD_NAMES = frozenset({"card_number"})
HASHED_NAMES = frozenset({"email", "password"})
CASELESS_NAMES = frozenset({"email"})

_SNIFF = 4096  # bytes looked at to tell text from binary data
_LINE_LOOKUPS = 16  # root lines looked up one by one before all lines are indexed
_SHORT_REVERSED = 15  # reversed needles shorter than this are paired (looked for next to a long value)


# ---------------------------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanaryValue:
    """A value typed into the page by the scan, e.g. ``CanaryValue("cvc", "123", min_len=6)``."""

    name: str  # card_number, cvc, expiry, holder, email, phone, postal_code, address, password, name
    value: str  # as typed
    min_len: int = 0  # shorter values count only next to a long value (same decoded text)


@dataclass(frozen=True)
class Hit:
    """A canary value found in one haystack item."""

    item: int  # index of the haystack item
    value: str  # CanaryValue.name
    chain: tuple[str, ...]  # decoding steps, outermost first; () = plain; "needle:..." = encoded needle
    offset: int  # offset in the final decoded text (best effort)


# ---------------------------------------------------------------------------------------------
# Byte tables (for bytes.translate)
# ---------------------------------------------------------------------------------------------


def _table(members: bytes, hit: int, miss: int) -> bytes:
    table = bytearray([miss]) * 256
    for byte in members:
        table[byte] = hit
    return bytes(table)


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
_B64_CLASS = _table(_B64_ALPHABET, ord("A"), ord("."))
_HEX_CLASS = _table(b"0123456789abcdefABCDEF", ord("A"), ord("."))
_URLSAFE_TO_STD = bytes.maketrans(b"-_", b"+/")
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_TEXT_BYTES = _PRINTABLE + bytes(range(0x80, 0x100))
# printable ASCII -> P, bytes >= 0x80 (UTF-8 text) -> U, anything else -> .
_TEXT_CLASS = bytes(ord("P") if b in _PRINTABLE else ord("U") if b >= 0x80 else ord(".") for b in range(256))
_CC_CLASS = bytes(ord("D") if 0x30 <= b <= 0x39 else b if b in b", \t" else ord(".") for b in range(256))

_GZIP_MAGIC = b"\x1f\x8b\x08"
_MAGICS = (_GZIP_MAGIC, b"x\x9c", b"x\xda", b"x\x01", b"x^")  # gzip, zlib (common levels)


def _is_text(data: bytes) -> bool:
    """Mostly printable (UTF-8 text counts): at most 1 byte in 16 is a control byte."""
    return len(data.translate(None, _TEXT_BYTES)) * 16 <= len(data)


# ---------------------------------------------------------------------------------------------
# Forward: needles
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Needle:
    value: int  # index into Matcher.values
    data: bytes  # lower-cased when ``caseless``
    steps: tuple[str, ...]
    caseless: bool
    hashed: bool

    @property
    def forward(self) -> int:
        """How many steps are forward encodings of the needle (fewer wins a tie)."""
        return sum(1 for s in self.steps if s.startswith("needle:"))


def _card_groups(digits: str) -> list[str]:
    if len(digits) == 15:  # amex 4-6-5
        cuts = [4, 6, 5]
    elif len(digits) == 14:  # diners 4-6-4
        cuts = [4, 6, 4]
    else:
        cuts = [4] * (len(digits) // 4) + ([len(digits) % 4] if len(digits) % 4 else [])
    out, at = [], 0
    for cut in cuts:
        out.append(digits[at : at + cut])
        at += cut
    return out


def _base_forms(value: CanaryValue) -> list[tuple[str, tuple[str, ...]]]:
    """The value as typed, and for card numbers the usual ways to write the digits."""
    forms: list[tuple[str, tuple[str, ...]]] = [(value.value, ())]
    if value.name in CARD_NAMES:
        digits = "".join(c for c in value.value if c.isdigit())
        if digits:
            forms.append((digits, ("needle:digits",)))
            groups = _card_groups(digits)
            forms.append((" ".join(groups), ("needle:digits-spaced",)))
            forms.append(("-".join(groups), ("needle:digits-dashed",)))
    if value.name in CASELESS_NAMES and value.value.lower() != value.value:
        forms.append((value.value.lower(), ("needle:lower",)))
    return forms


def _encodings(text: str, full: bool) -> list[tuple[bytes, tuple[str, ...], bool]]:
    """(needle, steps, caseless by nature) for one base form; ``full=False``: the light set for
    short values (they are only looked for in a text where a long value was found).

    Percent-encoded and JSON-escaped forms are not needles of their own: every candidate text is
    percent-decoded and unescaped before it is searched, so they are found as the value in clear
    (step ``url`` / ``json``). Form encoding keeps ``+`` for spaces (``needle:url-plus``)."""
    raw = text.encode()
    out: list[tuple[bytes, tuple[str, ...], bool]] = [(raw, (), False)]
    if " " in text:
        out.append((quote_plus(text, safe="").encode(), ("needle:url-plus",), False))
        out.append((text.replace(" ", "+").encode(), ("needle:url-plus",), False))
    if full:
        keep = len(raw) * 8 // 6  # characters fixed by the needle alone (no padding, no next byte)
        out += [
            (base64.b64encode(raw)[:keep], ("needle:base64",), False),
            (base64.urlsafe_b64encode(raw)[:keep], ("needle:base64url",), False),
            (raw.hex().encode(), ("needle:hex",), True),
            (",".join(str(ord(c)) for c in text).encode(), ("needle:charcodes",), False),
        ]
    # reversing the text and finding the needle are the same thing: reported as the step "reverse"
    reversed_forms = [
        (text[::-1].encode() if not steps else data[::-1], ("reverse", *steps), caseless)
        for data, steps, caseless in out
    ]
    return out + reversed_forms


def _needles_of(index: int, value: CanaryValue) -> list[_Needle]:
    full = len(value.value) >= value.min_len
    caseless_value = value.name in CASELESS_NAMES
    found: list[_Needle] = []
    for base, base_steps in _base_forms(value):
        for data, steps, caseless in _encodings(base, full):
            case_bound = any(s in steps for s in ("needle:base64", "needle:base64url", "needle:charcodes"))
            nocase = caseless or (caseless_value and not case_bound)
            if data:
                found.append(_Needle(index, data.lower() if nocase else data, steps + base_steps, nocase, False))
    if full and value.name in HASHED_NAMES:
        for source in dict.fromkeys((value.value.lower(), value.value)):
            for algo in ("md5", "sha1", "sha256"):
                digest = hashlib.new(algo, source.encode()).hexdigest().encode()
                found.append(_Needle(index, digest, (f"needle:{algo}",), True, True))
    # keep the simplest explanation of each distinct needle
    found.sort(key=lambda n: len(n.steps))
    unique: dict[tuple[bytes, bool], _Needle] = {}
    for needle in found:
        if b"\x00" not in needle.data:
            unique.setdefault((needle.data, needle.caseless), needle)
    return list(unique.values())


def _yara_source(needles: Sequence[_Needle]) -> str:
    """The rules of the one yara-x scan per layer: ``needles``, one pattern per needle
    (``$n<index>``: the bytes in hex, or for a caseless needle an escaped text string with
    ``nocase``, ASCII case as ``bytes.lower``), and ``charcodes``, the gate of char-code lists (two
    numbers around a comma, ``3?`` a digit or one of ``:;<=>?``)."""
    patterns = []
    for index, needle in enumerate(needles):
        if needle.caseless:
            escaped = "".join(f"\\x{byte:02x}" for byte in needle.data)
            patterns.append(f'    $n{index} = "{escaped}" nocase')
        else:
            patterns.append(f"    $n{index} = {{ {needle.data.hex(' ')} }}")
    rules = [
        "rule charcodes {\n  strings:\n    $c = { 3? 3? 2C 3? 3? }\n    $s = { 3? 3? 2C 20 3? 3? }\n"
        "  condition:\n    any of them\n}\n"
    ]
    if patterns:
        rules.append("rule needles {\n  strings:\n" + "\n".join(patterns) + "\n  condition:\n    any of them\n}\n")
    return "\n".join(rules)


@functools.lru_cache(maxsize=16)
def _compile(source: str) -> yara_x.Rules:
    """Compiled rules, shared by the matchers of one scan's canary (compiled rules are immutable)."""
    return yara_x.compile(source)


@dataclass(frozen=True)
class _Scan:
    """What the yara-x scan of a layer found."""

    needles: list[tuple[_Needle, list[int]]]  # needle, offsets (ascending, at most MAX_MATCHES_PER_NEEDLE)
    charcodes: bool  # two numbers around a comma somewhere: char-code lists may be there


# ---------------------------------------------------------------------------------------------
# Backward: decoders
# ---------------------------------------------------------------------------------------------

_PCT = re.compile(rb"%[0-9A-Fa-f]{2}")
_BAD_PCT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_PCT_BREAK = re.compile(rb"%[\r\n]")
_JSON_ESC = re.compile(
    rb"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|(.))",
    re.S,
)
_JSON_UX = re.compile(rb"\\[ux]")  # \uXXXX or \xXX somewhere
_JSON_SQ = re.compile(rb'\\[/"]')  # \/ or \" somewhere
_JSON_SLASH = re.compile(rb"\\/")
_JSON_QUOTE = re.compile(rb'\\"')
_JSON_X = re.compile(rb"\\x")
_JSON_SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"b": b"\b", b"f": b"\f"}
_CC_GATE = re.compile(rb"DD, ?DD")  # on the _CC_CLASS view: two numbers around a comma
_CC_LIST = re.compile(rb"\d{1,7}(?:[ \t]*,[ \t]*\d{1,7}){%d,}" % (MIN_CHARCODES - 1))


def _url_decode(text: bytes) -> bytes | None:
    """Percent-decoding (``+`` stays: base64 needs it, ``needle:url-plus`` covers form encoding);
    None when there is nothing to decode."""
    if b"%" not in text or _PCT.search(text) is None:
        return None
    if _BAD_PCT.search(text):
        return unquote_to_bytes(text)
    # every escape is well formed: quoted-printable decoding does the same, in C
    return binascii.a2b_qp(text.replace(b"=", b"=3D").replace(b"%", b"="))


def _url_decode_all(texts: list[bytes]) -> list[bytes | None]:
    """:func:`_url_decode` of each text, in one call for all texts with an escape: joined
    NUL-separated (an escape never spans a NUL) and decoded together as in :func:`_url_decode`.
    Every well-formed escape shortens the text by two bytes, ``a2b_qp`` shortens a malformed one by
    less (a line break right after ``%`` is a soft line break to it: looked for first); a text with
    a malformed escape or a NUL of its own is decoded alone (all texts if decoding made a NUL)."""
    out: list[bytes | None] = [None] * len(texts)
    escaped = [index for index, text in enumerate(texts) if b"%" in text]
    batch = [index for index in escaped if b"\x00" not in texts[index]]
    alone = [index for index in escaped if b"\x00" in texts[index]]  # binary data, mostly
    joined = b"\x00".join([texts[i] for i in batch])
    decoded = binascii.a2b_qp(joined.replace(b"=", b"=3D").replace(b"%", b"="))
    breaks = (b"\n" in joined or b"\r" in joined) and _PCT_BREAK.search(joined) is not None  # memchr first
    if breaks or len(decoded) != len(joined) - 2 * joined.count(b"%"):
        malformed = {i for i in batch if _BAD_PCT.search(texts[i]) is not None}
        alone += malformed
        batch = [i for i in batch if i not in malformed]
        joined = b"\x00".join([texts[i] for i in batch])
        decoded = binascii.a2b_qp(joined.replace(b"=", b"=3D").replace(b"%", b"="))
    pieces = decoded.split(b"\x00") if batch else []
    if len(pieces) == len(batch):
        for index, text in zip(batch, pieces, strict=True):
            if text != texts[index]:
                out[index] = text
    else:  # %00
        alone += batch
    for index in alone:
        out[index] = _url_decode(texts[index])
    return out


def _json_repl(m: re.Match[bytes]) -> bytes:
    high, low, code, byte, char = m.groups()
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00).encode()
    if code is not None:
        return chr(int(code, 16)).encode("utf-8", "replace")
    if byte is not None:
        return chr(int(byte, 16)).encode()
    return _JSON_SIMPLE.get(char, char)


def _unslash(text: bytes) -> bytes:
    """``\\/`` and ``\\"`` unescaped; each replace only when there is one (a regex finds two bytes
    faster than ``in`` / ``replace`` do)."""
    if _JSON_SLASH.search(text) is not None:
        text = text.replace(b"\\/", b"/")
    if _JSON_QUOTE.search(text) is not None:
        text = text.replace(b'\\"', b'"')
    return text


def _json_unescape(text: bytes) -> bytes | None:
    """JSON / JavaScript string escapes; None when there are none."""
    if b"\\" not in text:
        return None
    out = None
    if _JSON_UX.search(text) is None:  # PHP-style \/ and quotes only (one pass: a regex, not four finds)
        if _JSON_SQ.search(text) is None:
            return None
        out = _unslash(text)
    elif text.isascii():  # the common case: \uXXXX in C, then the simple escapes
        try:
            decoded = text.decode("raw_unicode_escape")
        except UnicodeDecodeError:  # a truncated escape: the careful way below
            pass
        else:
            try:
                out = decoded.encode()
            except UnicodeEncodeError:  # surrogate pairs, as JSON spells non-BMP characters
                out = decoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode()
            out = _unslash(out)
            if _JSON_X.search(out) is not None:
                out = _JSON_ESC.sub(_json_repl, out, count=MAX_JSON_ESCAPES)
    if out is None:
        out = _JSON_ESC.sub(_json_repl, text, count=MAX_JSON_ESCAPES)
    return out if out != text else None


def _charcodes(spelled: bytes) -> bytes | None:
    """``52,49,49,...`` as text, when it is mostly printable ASCII (JS ``String.fromCharCode``)."""
    codes = [int(x) for x in spelled.replace(b" ", b"").replace(b"\t", b"").split(b",")]
    if max(codes) > 0x10FFFF:
        return None
    ascii_ = sum(1 for c in codes if 32 <= c < 127 or c in (9, 10, 13))
    texty = ascii_ + sum(1 for c in codes if c >= 160)
    if ascii_ * 2 < len(codes) or texty * 10 < len(codes) * 9:
        return None
    text = "".join(map(chr, codes))
    if any(0xD800 <= c < 0xE000 for c in codes):  # UTF-16 surrogate pairs, as JS spells them
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.encode()


def _inflate(data: bytes, cap: int) -> tuple[str, bytes] | None:
    """Decompress gzip, zlib or (trial) raw deflate; output at most ``cap`` bytes, text only."""
    if cap <= 0:
        return None
    if data.startswith(_GZIP_MAGIC):
        label, wbits = "gzip", 31
    elif len(data) > 1 and data[0] == 0x78 and (data[0] << 8 | data[1]) % 31 == 0:
        label, wbits = "zlib", 15
    else:
        label, wbits = "deflate", -15
    try:
        out = zlib.decompressobj(wbits).decompress(data, cap)
    except zlib.error:
        return None
    return (label, out) if len(out) >= MIN_SEGMENT and _is_text(out) else None


@dataclass(frozen=True)
class _RunCodec:
    """base64 or hex: ``cpg`` alphabet characters decode to ``bpg`` bytes."""

    label: str
    cls: bytes
    min_run: int
    cpg: int
    bpg: int
    norm: bytes | None
    pad: bytes
    min_segment: int  # printable bytes in a row for a decoded stretch to count as text

    def decode(self, data: bytes) -> bytes:
        return binascii.a2b_base64(data) if self.cpg == 4 else binascii.a2b_hex(data)

    def char_of(self, byte: int, phase: int) -> int:
        """Stream position of the first character that decoded byte ``byte`` comes from."""
        return phase + self.cpg * (byte // self.bpg) + byte % self.bpg

    def first_byte(self, char: int, phase: int) -> int:
        """Smallest decoded byte whose first source character is at or after stream position ``char``
        (a byte comes from its first character and the one after)."""
        rel = char - phase
        if rel <= 0:
            return 0
        group, rest = divmod(rel, self.cpg)
        return group * self.bpg + rest if rest < self.bpg else (group + 1) * self.bpg


_B64 = _RunCodec("base64", _B64_CLASS, B64_MIN_RUN, 4, 3, _URLSAFE_TO_STD, b"AAAA", B64_MIN_SEGMENT)
_HEX = _RunCodec("hex", _HEX_CLASS, HEX_MIN_RUN, 2, 1, None, b"00", MIN_SEGMENT)

_Found = tuple[bytes, tuple[str, ...], bytes, bool]  # run, steps, decoded, compressed


def _plausible(data: bytes) -> bool:
    """Decoded text, not noise: valid UTF-8 but for a few bytes at the edges (junk before the
    payload in the same run, a character cut at the end)."""
    text = data.decode("utf-8", "replace")
    return text.find("\ufffd", 3, len(text) - 1) < 0


def _segments(
    codec: _RunCodec,
    decoded: bytes,
    phase: int,
    bounds: list[int],
    order: list[bytes],
    steps: tuple[str, ...],
) -> list[_Found]:
    """Stretches of ``decoded`` that are text, clipped to the run each came from:
    (run, steps, decoded stretch, False)."""
    out: list[_Found] = []
    n_runs = len(order)
    least = codec.min_segment
    cls = decoded.translate(_TEXT_CLASS)
    key = b"P" * least
    pos = cls.find(key)
    while pos >= 0:
        start = cls.rfind(b".", 0, pos) + 1  # take UTF-8 text right before the printable run
        end = cls.find(b".", pos + least)
        end = len(cls) if end < 0 else end
        at = start
        while at < end:  # one candidate per run the stretch touches
            r = bisect_right(bounds, codec.char_of(at, phase)) - 1
            if r >= n_runs:
                break
            lo = max(at, codec.first_byte(bounds[r], phase))
            hi = min(end, codec.first_byte(bounds[r + 1] - 1, phase))
            if hi - lo >= least and _plausible(decoded[lo:hi]):
                out.append((order[r], steps, decoded[lo:hi], False))
            at = hi if hi > at else at + 1
        pos = cls.find(key, end)
    return out


# compressed data as the start of a run (a few junk characters allowed): how it looks encoded
_B64_MAGICS = (b"H4sI", b"eJ", b"eN", b"eA", b"eF")  # gzip; zlib 789c, 78da, 7801, 785e
_HEX_MAGICS = (b"1f8b08", b"789c", b"78da", b"7801", b"785e")


def _blobs(codec: _RunCodec, stream: bytes, bounds: list[int], order: list[bytes]) -> list[_Found]:
    """Runs that start (within two groups) with gzip / zlib data, decoded from there."""
    out: list[_Found] = []
    hay = stream if codec.cpg == 4 else stream.lower()
    for magic in _B64_MAGICS if codec.cpg == 4 else _HEX_MAGICS:
        pos = hay.find(magic)
        while pos >= 0:
            r = bisect_right(bounds, pos) - 1
            if r < len(order) and pos - bounds[r] < 2 * codec.cpg:
                end = pos + (bounds[r + 1] - pos) // codec.cpg * codec.cpg
                data = codec.decode(stream[pos:end])
                if data.startswith(_MAGICS):
                    out.append((order[r], (codec.label,), data, True))
            pos = hay.find(magic, pos + 1)
    return out


def _find_runs(buf: bytes, codec: _RunCodec) -> tuple[list[int], list[bytes]]:
    """Where runs of ``codec.min_run`` or more alphabet characters start, and the runs."""
    cls = buf.translate(codec.cls) + b"."
    find = cls.find
    least = codec.min_run
    key = b"A" * least
    firsts: list[int] = []
    pieces: list[bytes] = []
    first = firsts.append
    piece = pieces.append
    pos = find(key)
    while pos >= 0:  # the one loop per run: keep it tight
        end = find(b".", pos + least)
        first(pos)
        piece(buf[pos:end])
        pos = find(key, end)
    return firsts, pieces


def _decode_runs(codec: _RunCodec, runs: list[bytes]) -> list[_Found]:
    """Distinct runs, decoded at every alignment, forwards and reversed, a few calls in all.

    The runs are concatenated into one stream; decoding it from character 0 .. cpg-1 decodes
    each run at every alignment (each run's alignment depends on the runs before it; the phases
    shift them all). Stretches that decode to text are kept, clipped to the run they came from.
    """
    cum = [0, *accumulate(map(len, runs))]
    stream = b"".join(runs)
    if codec.norm is not None:
        stream = stream.translate(codec.norm)
    rcum = [cum[-1] - c for c in reversed(cum)]
    found = _blobs(codec, stream, cum, runs)
    for data, bounds, order, steps in (
        (stream + codec.pad, cum, runs, (codec.label,)),
        (stream[::-1] + codec.pad, rcum, runs[::-1], ("reverse", codec.label)),
    ):
        for phase in range(codec.cpg):
            usable = (len(data) - phase) // codec.cpg * codec.cpg
            decoded = codec.decode(data[phase : phase + usable])
            found += _segments(codec, decoded, phase, bounds, order, steps)
    return found


# ---------------------------------------------------------------------------------------------
# Candidate texts
# ---------------------------------------------------------------------------------------------

_Origin = tuple[int, tuple[str, ...], int]  # item, decoding steps so far, offset of the text in the item
_Rank = tuple[int, int, tuple[str, ...], int]


@dataclass(slots=True)
class _Cand:
    """One distinct candidate text of a layer, and every (item, chain) it came from."""

    raw: bytes  # as decoded by the chain
    origins: list[_Origin]
    textual: bool = True  # normalize, search, decode further
    inflate: bool = False  # try to decompress it (whole)
    search: bool = True
    line: bool = False  # a CRLF line of root items: origins are looked up when needed
    text: bytes = b""  # raw, percent-decoded and unescaped: what is searched and decoded
    stages: tuple[bytes, ...] = ()  # raw, then the text after each normalization step
    labels: tuple[str, ...] = ()  # the steps: "url" / "json"

    def steps_for(self, found: bytes, caseless: bool = False) -> tuple[str, ...]:
        """The normalization steps needed to see ``found`` (a piece of ``text``): up to the first
        stage that contains it."""
        if not self.labels:
            return ()
        needle = found.lower() if caseless else found
        for index, stage in enumerate(self.stages[:-1]):
            if needle in (stage.lower() if caseless else stage):
                return self.labels[:index]
        return self.labels


def _normalize(cands: list[_Cand], rounds: int) -> None:
    """Percent-decode and unescape each candidate's text, as often as something is left (double
    encoding), at most ``rounds`` steps (each one counts in the chain). Each round percent-decodes
    all texts that need it together; a text without a percent escape is JSON-unescaped on its own."""
    pending: list[tuple[_Cand, list[bytes], list[str]]] = []
    for cand in cands:
        text = cand.raw
        if b"%" in text or b"\\" in text:
            pending.append((cand, [text], []))
        else:  # the common case: nothing to decode
            cand.text, cand.stages, cand.labels = text, (text,), ()
    todo = pending
    for _ in range(rounds):
        left = []
        for (cand, stages, labels), decoded in zip(todo, _url_decode_all([s[-1] for _, s, _ in todo]), strict=True):
            if decoded is not None:
                labels.append("url")
            else:
                decoded = _json_unescape(stages[-1])
                if decoded is None:
                    continue
                labels.append("json")
            stages.append(decoded)
            if b"%" in decoded or b"\\" in decoded:
                left.append((cand, stages, labels))
        todo = left
    for cand, stages, labels in pending:
        cand.text, cand.stages, cand.labels = stages[-1], tuple(stages), tuple(labels)


class _Layer:
    """The distinct normalized texts of one layer, joined NUL-separated into one buffer."""

    def __init__(self, cands: list[_Cand]) -> None:
        groups: dict[bytes, list[_Cand]] = {}
        for cand in cands:
            groups.setdefault(cand.text, []).append(cand)
        self.texts = list(groups)
        self.groups = list(groups.values())
        self.buf = b"\x00".join(self.texts)  # NUL: no needle or run spans two texts
        self.starts = [0, *accumulate(len(t) + 1 for t in self.texts)][:-1]

    def locate(self, pos: int) -> int:
        return bisect_right(self.starts, pos) - 1


def _first_per_text(layer: _Layer, needle: _Needle, after: int) -> Iterator[int]:
    """Offsets of ``needle`` past ``after``, the first one in each text (a crowded needle: one
    ``find`` per text that holds it)."""
    hay = layer.buf.lower() if needle.caseless else layer.buf
    pos = hay.find(needle.data, after + 1)
    while pos >= 0:
        yield pos
        k = layer.locate(pos)
        if k + 1 >= len(layer.starts):
            return
        pos = hay.find(needle.data, layer.starts[k + 1])


class _Search:
    """One :meth:`Matcher.search` call: best hits, budgets, the candidates of every layer."""

    def __init__(
        self,
        matcher: Matcher,
        datas: list[bytes],
        splits: list[list[bytes] | None],
        blocks: list[tuple[list[bytes], list[int]]],
    ) -> None:
        self.m = matcher
        self.datas = datas  # items as searched (cut to max_item_bytes)
        self.splits = splits  # items searched line by line: their CRLF lines
        self.blocks = blocks  # the distinct ones: lines, and the items that are this block
        self.best: dict[tuple[int, int], tuple[_Rank, Hit]] = {}
        self.budget = [max(DECODE_BUDGET_FACTOR * len(d), MIN_DECODE_BUDGET) for d in datas]
        self.inflated = [0] * len(datas)
        self.seen: dict[int, set[tuple[bool, bytes]]] = {}
        self.layers: list[dict[bytes, _Cand]] = [{} for _ in range(matcher.max_depth + 1)]
        self.blobs: list[dict[bytes, _Cand]] = [{} for _ in range(matcher.max_depth + 1)]
        self.counts: dict[int, int] = {}
        self.lengths: dict[int, dict[int, int]] = {}  # item -> value -> length of its best chain
        self.line_index: dict[bytes, list[_Origin]] | None = None
        self.lookups = 0

    def origins(self, cand: _Cand) -> list[_Origin]:
        """Where a candidate came from. For a root line, looked up when first needed (few lines
        ever are); past a handful of lookups, all lines are indexed in one pass instead."""
        if cand.line:
            cand.line = False
            if self.line_index is None and self.lookups < _LINE_LOOKUPS:
                self.lookups += 1
                line = cand.raw
                found: list[_Origin] = []
                for block, members in self.blocks:  # identical items: one look, one offset
                    if line in block:
                        at = self.datas[members[0]].find(line)
                        found += [(i, (), at) for i in members]
                found.sort()  # in item order, as a scan of the items gives them
                cand.origins += found
            else:
                if self.line_index is None:
                    self.line_index = {}
                    for i, lines in enumerate(self.splits):
                        if lines is not None:
                            at = 0
                            for line in lines:
                                self.line_index.setdefault(line, []).append((i, (), at))
                                at += len(line) + 2
                cand.origins += self.line_index.get(cand.raw, [])
        return cand.origins

    # -- hits ------------------------------------------------------------------------------

    def record(self, origin: _Origin, needle: _Needle, offset: int, steps: tuple[str, ...]) -> None:
        item, chain, base = origin
        chain = chain + steps + needle.steps
        rank: _Rank = (len(chain), needle.forward, chain, offset)
        key = (item, needle.value)
        old = self.best.get(key)
        if old is not None and old[0] <= rank:
            return
        self.best[key] = (rank, Hit(item, self.m.values[needle.value].name, chain, base + offset))
        self.lengths.setdefault(item, {})[needle.value] = len(chain)

    def settled(self, item: int, depth: int) -> bool:
        """Every value of the item found with a chain no deeper candidate can beat."""
        lengths = self.lengths.get(item)
        return lengths is not None and len(lengths) == len(self.m.values) and max(lengths.values()) <= depth

    def hit(self, cand: _Cand, needle: _Needle, text: bytes, at: int) -> None:
        steps = cand.steps_for(text[at : at + len(needle.data)], needle.caseless)
        for origin in self.origins(cand):
            self.record(origin, needle, at, steps)

    def search_layer(self, layer: _Layer, found: list[tuple[_Needle, list[int]]]) -> None:
        """Hits of the needles the scan found in the layer, then the paired needles in the texts
        where a long value was found."""
        unlocked: set[int] = set()  # texts with a long value in clear
        for needle, capped in found:
            offsets: Iterable[int] = capped
            if len(capped) >= MAX_MATCHES_PER_NEEDLE:  # crowded: the rest with one find per text
                offsets = chain(capped, _first_per_text(layer, needle, capped[-1]))
            last = -1
            for pos in offsets:
                k = layer.locate(pos)
                if k == last:  # the first occurrence per text says it all (same bytes, same steps)
                    continue
                last = k
                for cand in layer.groups[k]:
                    if cand.search:
                        self.hit(cand, needle, layer.texts[k], pos - layer.starts[k])
                if not needle.hashed:
                    unlocked.add(k)
        for k in sorted(unlocked):
            self.paired(layer.texts[k], [c for c in layer.groups[k] if c.search], whole_items=True)

    def paired(self, text: bytes, cands: list[_Cand], whole_items: bool = False) -> None:
        """Short values and short reversed needles, in a text where a long value was found.
        For a root line also in its whole item (the other lines of a header block, a multipart body)."""
        m = self.m
        if not m.paired:
            return
        lowered = text.lower()
        for needle in m.paired:
            at = (lowered if needle.caseless else text).find(needle.data)
            if at >= 0:
                for cand in cands:
                    self.hit(cand, needle, text, at)
        if whole_items:
            lines = {i for c in cands for i, chain, _ in self.origins(c) if not chain and self.splits[i] is not None}
            for item in sorted(lines):
                whole = _Cand(self.datas[item], [(item, (), 0)])
                _normalize([whole], self.m.max_depth)
                self.paired(whole.text, [whole])

    # -- new candidates ----------------------------------------------------------------------

    def emit(self, origin: _Origin, steps: tuple[str, ...], data: bytes, blob: bool = False) -> None:
        """A new candidate for an origin's item, unless over a limit, already seen, or neither text
        nor compressed data."""
        item, chain, _ = origin
        chain = chain + steps
        depth = len(chain)
        m = self.m
        if depth > m.max_depth or len(data) < MIN_SEGMENT or (blob and depth >= m.max_depth):
            return  # (a compressed blob is only useful if it can still be decompressed)
        if self.counts.get(item, 0) >= MAX_CANDIDATES or self.budget[item] < len(data):
            return
        if self.settled(item, len(origin[1])):
            return
        seen = self.seen.setdefault(item, set())
        if (blob, data) in seen:
            return
        seen.add((blob, data))
        self.counts[item] = self.counts.get(item, 0) + 1
        self.budget[item] -= len(data)
        layer = (self.blobs if blob else self.layers)[depth]
        cand = layer.get(data)
        if cand is None:
            cand = layer[data] = _Cand(data, [], textual=not blob, inflate=blob, search=not blob)
        cand.origins.append((item, chain, 0))

    def emit_from(self, cands: list[_Cand], source: bytes, steps: tuple[str, ...], data: bytes, blob: bool) -> None:
        for cand in cands:
            if cand.textual:
                more = cand.steps_for(source) + steps
                for origin in self.origins(cand):
                    self.emit(origin, more, data, blob)

    def expand_layer(self, layer: _Layer, blobs: list[_Cand], charcodes: bool) -> None:
        self.counts = {}
        for blob in blobs:
            self.inflate(blob)
        for group in layer.groups:
            for cand in group:
                if cand.inflate:
                    self.inflate(cand)
        self.runs(layer)
        if charcodes:
            self.charcode_lists(layer)

    def inflate(self, cand: _Cand) -> None:
        origins = self.origins(cand)
        room = max(DECOMPRESS_CAP - self.inflated[item] for item, _, _ in origins)
        inflated = _inflate(cand.raw, room)
        if inflated is None:
            return
        label, data = inflated
        for origin in origins:
            item = origin[0]
            if self.inflated[item] + len(data) <= DECOMPRESS_CAP:
                self.inflated[item] += len(data)
                self.budget[item] += DECODE_BUDGET_FACTOR * len(data)
                self.emit(origin, (label,), data)

    def runs(self, layer: _Layer) -> None:
        """Decode every distinct base64 and hex run of the layer at every alignment, forwards and
        reversed, in a few calls. Hex digits are base64 characters too: hex runs are looked for
        only inside the base64 runs."""
        firsts, pieces = _find_runs(layer.buf, _B64)
        if not pieces:
            return
        runs = list(dict.fromkeys(pieces))
        # base64 of 12 bytes of text always has capitals (a character's top bits: I-Z or a-f, a-f
        # only for h-z and {|}~): paths, UUIDs, header names and numbers need no decoding
        found = _decode_runs(_B64, list(filterfalse(bytes.isdigit, filterfalse(bytes.islower, runs))))
        # hex, inside the distinct base64 runs
        joined = b"\x00".join(runs)
        hex_firsts, hex_pieces = _find_runs(joined, _HEX)
        if hex_pieces:
            hex_found = _decode_runs(_HEX, list(dict.fromkeys(hex_pieces)))
            if hex_found:
                useful = {run for run, _, _, _ in hex_found}
                holders: dict[bytes, list[bytes]] = {}
                for piece, first in zip(hex_pieces, hex_firsts, strict=True):
                    if piece in useful:
                        start = joined.rfind(b"\x00", 0, first) + 1
                        end = joined.find(b"\x00", first)
                        holders.setdefault(piece, []).append(joined[start : len(joined) if end < 0 else end])
                # attributed to the base64 run around the hex run (that is where the texts are)
                found += [(outer, steps, data, blob) for run, steps, data, blob in hex_found for outer in holders[run]]
        if not found:
            return
        # which texts hold the runs that decoded to something (a C-speed pass over all runs)
        needed = {run for run, _, _, _ in found}
        wanted = list(map(needed.__contains__, pieces))
        where: dict[bytes, list[int]] = {}
        for run, first in zip(compress(pieces, wanted), compress(firsts, wanted), strict=True):
            ks = where.setdefault(run, [])
            k = layer.locate(first)
            if not ks or ks[-1] != k:
                ks.append(k)
        for run, steps, decoded, blob in found:
            for k in where[run]:
                self.emit_from(layer.groups[k], run, steps, decoded, blob)

    def charcode_lists(self, layer: _Layer) -> None:
        """Texts spelled as JavaScript char codes, ``52,49,49,...`` (or in brackets): two numbers
        around a comma gate a region, a regex reads the lists in it (the scan saw such a gate)."""
        buf = layer.buf
        cls = buf.translate(_CC_CLASS)
        pos = 0
        for _ in range(MAX_CHARCODE_REGIONS):
            gate = _CC_GATE.search(cls, pos)
            if gate is None:
                return
            at = gate.start()
            start = max(cls.rfind(b".", pos, at) + 1, pos)
            end = cls.find(b".", at)
            end = len(cls) if end < 0 else end
            self.charcode_matches(layer, _CC_LIST.finditer(buf, start, end))
            pos = end
        self.charcode_matches(layer, _CC_LIST.finditer(buf, pos))  # crowded: one regex pass for the rest

    def charcode_matches(self, layer: _Layer, matches: Iterator[re.Match[bytes]]) -> None:
        for m in matches:
            spelled = m.group()
            if len(spelled) > MAX_CHARCODES * 8:  # bounded: the first numbers only
                spelled = spelled[: spelled.rfind(b",", 0, MAX_CHARCODES * 8)]
            decoded = _charcodes(spelled)
            if decoded is not None:
                self.emit_from(layer.groups[layer.locate(m.start())], spelled, ("charcodes",), decoded, False)


# ---------------------------------------------------------------------------------------------
# The matcher
# ---------------------------------------------------------------------------------------------


class Matcher:
    """Searches haystack items (what left the page) for a scan's canary values.

    Build it once per scan (the needles are precomputed), then call :meth:`search`.
    """

    def __init__(self, values: Sequence[CanaryValue], *, max_depth: int = 3, max_item_bytes: int = 1_048_576) -> None:
        if max_depth < 0:
            raise ValueError("max_depth must be >= 0")
        if max_item_bytes < 64:
            raise ValueError("max_item_bytes must be >= 64")
        self.values = tuple(values)
        self.max_depth = max_depth
        self.max_item_bytes = max_item_bytes
        major = [len(v.value) >= v.min_len for v in self.values]
        needles: list[_Needle] = []
        for index, value in enumerate(self.values):
            if value.value:
                needles += _needles_of(index, value)
        self.needles = tuple(needles)
        # Looked for only where a long value was found (same text): short values, and short needles
        # of reversed text (a skimmer reverses a whole payload, not one short field).
        paired = [
            not major[n.value] or (len(n.data) < _SHORT_REVERSED and n.steps[:1] == ("reverse",)) for n in needles
        ]
        self.paired = tuple(compress(needles, paired))
        # every other needle is looked for everywhere, all at once: one yara-x scan per layer
        self.everywhere = tuple(i for i, is_paired in enumerate(paired) if not is_paired)
        self.rules = _compile(_yara_source([needles[i] for i in self.everywhere]))

    def _scan(self, buf: bytes) -> _Scan:
        """One pass over a layer's buffer: every needle looked for everywhere, and the char-code gate."""
        scanner = yara_x.Scanner(self.rules)
        scanner.max_matches_per_pattern(MAX_MATCHES_PER_NEEDLE)
        found: list[tuple[_Needle, list[int]]] = []
        charcodes = False
        for rule in scanner.scan(buf).matching_rules:
            if rule.identifier == "charcodes":
                charcodes = True
                continue
            for pattern in rule.patterns:
                if pattern.matches:
                    needle = self.needles[self.everywhere[int(pattern.identifier[2:])]]
                    found.append((needle, [match.offset for match in pattern.matches]))
        return _Scan(found, charcodes)

    def search(self, items: Sequence[bytes]) -> list[Hit]:
        """Every (item, value) found, once each, with the shortest chain; ordered by item, then value.

        Text with CRLF line breaks (header blocks, multipart bodies) is searched line by line, each
        distinct line once: header blocks differ from request to request, their lines mostly do
        not. Short values are then looked for in the whole item.
        """
        if not items or not self.needles:
            return []
        datas: list[bytes] = []
        splits: list[list[bytes] | None] = []
        roots: dict[bytes, _Cand] = {}
        # one look per distinct item (static GETs repeat their header blocks): its lines, or its root
        known: dict[bytes, int | _Cand] = {}  # a split item: the number of its block
        blocks: list[tuple[list[bytes], list[int]]] = []  # distinct split items: lines, and the items
        limit = self.max_item_bytes
        for index, raw in enumerate(items):
            data = raw if type(raw) is bytes else bytes(raw)
            if len(data) > limit:  # keep head and tail
                half = limit // 2
                data = data[:half] + b"\x00" + data[-half:]
            datas.append(data)
            seen = known.get(data)
            if seen is None:
                head = data[:_SNIFF]
                textual = _is_text(head)
                inflate = data.startswith(_MAGICS) or not textual
                if textual and not inflate and b"\r" in head and b"\r\n" in head:  # memchr first
                    seen = known[data] = len(blocks)
                    blocks.append((data.split(b"\r\n"), []))
                else:
                    seen = known[data] = roots[data] = _Cand(data, [], textual=textual, inflate=inflate)
            if isinstance(seen, int):
                lines, members = blocks[seen]
                splits.append(lines)
                members.append(index)
            else:
                splits.append(None)
                seen.origins.append((index, (), 0))
        for line in dict.fromkeys(chain.from_iterable(lines for lines, _ in blocks)):
            if line:
                cand = roots.get(line)
                if cand is None:
                    roots[line] = _Cand(line, [], line=True)
                else:
                    cand.line = True
        run = _Search(self, datas, splits, blocks)
        run.layers[0] = roots
        for depth in range(self.max_depth + 1):
            texts = list(run.layers[depth].values())
            blobs = list(run.blobs[depth].values())  # compressed data: only inflated
            if not texts and not blobs:
                continue
            _normalize(texts, self.max_depth - depth)
            layer = _Layer(texts)
            scan = self._scan(layer.buf)
            run.search_layer(layer, scan.needles)
            if depth < self.max_depth:
                run.expand_layer(layer, blobs, scan.charcodes)
        order = {v.name: i for i, v in reversed(list(enumerate(self.values)))}
        return sorted((hit for _, hit in run.best.values()), key=lambda h: (h.item, order[h.value], h.chain))
