"""``skimguard.exfil.match``: canary values found in outbound traffic however a skimmer encoded them.

Every case states the exact hits: (value, chain) and, where it says something, the offset.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import time
import zlib
from urllib.parse import quote

import pytest

from skimguard.canary import luhn_valid
from skimguard.exfil import CanaryValue, Hit, Matcher
from skimguard.exfil.match import DECOMPRESS_CAP, MAX_CANDIDATES, MAX_MATCHES_PER_NEEDLE, _url_decode, _url_decode_all

CARD = "4111112837465922"  # a canary: Luhn-valid, in the visa test range
OTHER_CARD = "4111119044173025"  # another canary card (another scan): must not match
EMAIL = "taro.qmvzkd@example.jp"
VALUES = [
    CanaryValue("card_number", CARD),
    CanaryValue("expiry", "07/29", min_len=6),
    CanaryValue("cvc", "418", min_len=6),
    CanaryValue("holder", "TARO QMVZKD"),
    CanaryValue("email", EMAIL),
    CanaryValue("phone", "090-4417-2093"),
    CanaryValue("postal_code", "101-0047"),
    CanaryValue("address", "千代田区神田3-12 qmvzkdビル"),
    CanaryValue("password", "Sg-qmvzkd-5081!"),
    CanaryValue("name", "山田 qmvzkd"),
]
JOINED = f"{CARD}|07/29|418|TARO QMVZKD"  # what the classic Magecart skimmer joins before encoding
B64 = base64.b64encode(JOINED.encode()).decode()
CARD_SET = ["card_number", "expiry", "cvc", "holder"]

MATCHER = Matcher(VALUES)


def hits_of(*items: str | bytes, matcher: Matcher = MATCHER) -> list[tuple[int, str, tuple[str, ...]]]:
    data = [i.encode() if isinstance(i, str) else i for i in items]
    return [(h.item, h.value, h.chain) for h in matcher.search(data)]


def found(item: str | bytes, matcher: Matcher = MATCHER) -> list[tuple[str, tuple[str, ...]]]:
    """(value, chain) of every hit in a single item."""
    return [(v, chain) for _, v, chain in hits_of(item, matcher=matcher)]


def card_set(*chain: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(name, chain) for name in CARD_SET]


def test_canary_card_is_luhn_valid_and_different_from_the_other() -> None:
    assert luhn_valid(CARD) and luhn_valid(OTHER_CARD) and CARD != OTHER_CARD


# ---------------------------------------------------------------------------------------------
# Must catch
# ---------------------------------------------------------------------------------------------


def test_plain_digits_in_a_query_string() -> None:
    url = f"https://collect.evil.test/c.gif?cc={CARD}&t=1"
    [hit] = MATCHER.search([url.encode()])
    assert hit == Hit(0, "card_number", (), url.index(CARD))


def test_digits_with_spaces_and_dashes() -> None:
    assert found("cc=4111 1128 3746 5922&t=1") == [("card_number", ("needle:digits-spaced",))]
    assert found("cc=4111-1128-3746-5922") == [("card_number", ("needle:digits-dashed",))]
    assert found("cc=4111%201128%203746%205922") == [("card_number", ("url", "needle:digits-spaced"))]
    assert found("cc=4111+1128+3746+5922") == [("card_number", ("needle:url-plus", "needle:digits-spaced"))]


def test_card_typed_with_spaces_is_found_as_digits() -> None:
    spaced = Matcher([CanaryValue("card_number", "4111 1128 3746 5922")])
    assert found(f"n={CARD}", spaced) == [("card_number", ("needle:digits",))]
    assert found("n=4111 1128 3746 5922", spaced) == [("card_number", ())]


def test_url_encoded_json_body() -> None:
    body = quote(json.dumps({"n": CARD, "c": "418", "e": "07/29"}, separators=(",", ":")), safe="")
    assert body.startswith("%7B%22n%22%3A%224111")
    # digits and the CVC are readable as they are; the expiry's "/" was percent-encoded
    assert found(body) == [("card_number", ()), ("expiry", ("url",)), ("cvc", ())]


def test_classic_magecart_base64_of_joined_fields() -> None:
    assert found(B64) == card_set("base64")
    offsets = {h.value: h.offset for h in MATCHER.search([B64.encode()])}
    assert offsets == {"card_number": 0, "expiry": 17, "cvc": 23, "holder": 27}


def test_reversed_base64() -> None:
    assert found(B64[::-1]) == card_set("reverse", "base64")


def test_hex_of_the_joined_string() -> None:
    assert found(JOINED.encode().hex()) == card_set("hex")
    assert found(JOINED.encode().hex().upper()) == card_set("hex")
    assert found(JOINED.encode().hex()[::-1]) == card_set("reverse", "hex")


def test_javascript_char_codes() -> None:
    codes = [str(ord(c)) for c in JOINED]
    assert found("String.fromCharCode(" + ",".join(codes) + ")") == card_set("charcodes")
    assert found(json.dumps([ord(c) for c in JOINED])) == card_set("charcodes")  # [52, 49, ...]


def test_three_nested_layers_base64_of_url_encoded_of_reversed() -> None:
    payload = base64.b64encode(quote(JOINED[::-1], safe="-_.!~*'()").encode()).decode()
    # digits survive URL encoding, so card and CVC need one step less than holder and expiry
    assert found(payload) == [
        ("card_number", ("base64", "reverse")),
        ("expiry", ("base64", "url", "reverse")),
        ("cvc", ("base64", "reverse")),
        ("holder", ("base64", "url", "reverse")),
    ]


@pytest.mark.parametrize("junk", ["", "x", "xx", "xxx"])
def test_base64_inside_longer_json_at_an_odd_offset(junk: str) -> None:
    body = '{"t":1,"d":"' + junk + B64 + '","v":"2.1"}'
    assert found(body) == card_set("base64")
    card = next(h for h in MATCHER.search([body.encode()]) if h.value == "card_number")
    assert card.offset <= 2  # best effort: junk characters may decode to noise before the payload


def test_base64url_without_padding() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"n": CARD, "k": "\u00ff\u00fe?>"}).encode()).decode().rstrip("=")
    assert "-" in payload or "_" in payload
    assert found("d=" + payload) == [("card_number", ("base64",))]


def test_gzip_compressed_json_body() -> None:
    body = gzip.compress(json.dumps({"n": CARD, "c": "418", "e": "07/29"}).encode())
    assert found(body) == [("card_number", ("gzip",)), ("expiry", ("gzip",)), ("cvc", ("gzip",))]


def test_zlib_raw_deflate_and_base64_of_gzip() -> None:
    assert found(zlib.compress(JOINED.encode())) == card_set("zlib")
    assert found(zlib.compress(JOINED.encode())[2:-4]) == card_set("deflate")  # raw deflate: by trial
    assert found("d=" + base64.b64encode(gzip.compress(JOINED.encode())).decode()) == card_set("base64", "gzip")


def test_sha256_of_the_email_in_a_pixel_url() -> None:
    digest = hashlib.sha256(EMAIL.encode()).hexdigest()
    assert found(f"https://px.test/tr?id=1&ud[em]={digest}&ev=Purchase") == [("email", ("needle:sha256",))]
    assert found(f"em={digest.upper()}") == [("email", ("needle:sha256",))]  # hex: any case
    assert found(hashlib.md5(EMAIL.upper().encode()).hexdigest()) == []  # hashed as typed upper: not ours
    assert found(hashlib.sha1(EMAIL.encode()).hexdigest()) == [("email", ("needle:sha1",))]


def test_password_hashes() -> None:
    assert found(hashlib.md5(b"sg-qmvzkd-5081!").hexdigest()) == [("password", ("needle:md5",))]
    assert found(hashlib.sha256(b"Sg-qmvzkd-5081!").hexdigest()) == [("password", ("needle:sha256",))]


def test_json_escaped_non_ascii_name() -> None:
    body = json.dumps({"name": "山田 qmvzkd"})  # ensure_ascii: \u5c71\u7530
    assert "\\u5c71\\u7530" in body
    assert found(body) == [("name", ("json",))]
    assert found(json.dumps({"name": "山田 qmvzkd"}, ensure_ascii=False)) == [("name", ())]


def test_javascript_hex_escapes() -> None:
    escaped = "".join(f"\\x{b:02x}" for b in JOINED.encode())
    assert found(f"var a='{escaped}';") == card_set("json")


def test_canary_inside_a_cookie_header() -> None:
    headers = (
        "Host: shop.test\r\nUser-Agent: Mozilla/5.0\r\n"
        f"Cookie: PHPSESSID=abc123; cc={CARD}; _ga=GA1.1.1.2\r\nAccept: */*\r\n"
    )
    [hit] = MATCHER.search([headers.encode()])
    assert hit == Hit(0, "card_number", (), headers.index(CARD))  # offset in the whole header block


def test_multipart_body() -> None:
    parts = {"cc": CARD, "exp": "07/29", "cvc": "418", "name": "TARO QMVZKD"}
    body = "".join(f'--b0undary\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in parts.items())
    body += "--b0undary--\r\n"
    # each field on its own line: the short values still count, next to the card in the same body
    assert found(body) == card_set()


def test_email_is_case_insensitive_and_url_encoded() -> None:
    assert found("u=TARO.QMVZKD@EXAMPLE.JP") == [("email", ())]
    assert found("u=taro.qmvzkd%40example.jp") == [("email", ("url",))]
    assert found(base64.b64encode(EMAIL.encode()).decode()) == [("email", ("base64",))]


def test_registration_values() -> None:
    assert found("tel=090-4417-2093&zip=101-0047") == [("phone", ()), ("postal_code", ())]
    assert found("a=" + quote("千代田区神田3-12 qmvzkdビル")) == [("address", ("url",))]
    assert found("pw=Sg-qmvzkd-5081%21") == [("password", ("url",))]


def test_double_url_encoding() -> None:
    body = quote(quote(json.dumps({"n": CARD, "e": "07/29"}), safe=""), safe="")
    assert found(body) == [("card_number", ()), ("expiry", ("url", "url"))]


# ---------------------------------------------------------------------------------------------
# Must not catch
# ---------------------------------------------------------------------------------------------


def test_analytics_bodies_with_page_urls_and_random_ids() -> None:
    rng = random.Random(3)
    jwt = ".".join(
        base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
        for p in ({"alg": "HS256", "typ": "JWT"}, {"sub": "guest-1f7cd5bb2e35", "exp": 1760000000})
    )
    items = [
        "v=2&tid=G-X7K2P9Q1RZ&cid=1234567890.1717000000&dl=https%3A%2F%2Fshop.test%2Fcheckout%2Fpayment"
        "&dt=%E3%81%8A%E6%94%AF%E6%89%95%E3%81%84&sid=1717000000&_p=1717000012345&en=page_view&_et=418",
        json.dumps(
            [
                {
                    "session": {"id": rng.randbytes(16).hex()},
                    "view": {"url": "https://shop.test/checkout/payment?step=2", "referrer": "https://shop.test/cart"},
                    "date": 1717000000000 + i,
                    "resource": {"duration": rng.randrange(10**9), "size": rng.randrange(10**6)},
                    "token": base64.b64encode(rng.randbytes(30)).decode(),
                }
                for i in range(20)
            ]
        ),
        f"Authorization: Bearer {jwt}.{base64.urlsafe_b64encode(rng.randbytes(32)).decode()}\r\n",
        ",".join(str(rng.randrange(32, 127)) for _ in range(64)),  # numbers that read as text, but not ours
    ]
    assert hits_of(*items) == []


def test_short_values_alone_do_not_count() -> None:
    assert found('{"cvc":"418","exp":"07/29","qty":418,"date":"07/29/2024"}') == []
    assert found(base64.b64encode(b"418|07/29|4111 and some more text").decode()) == []
    # the short values in one item, the card in another: only the card counts
    assert hits_of(f"cc={CARD}", "cvc=418&exp=07/29") == [(0, "card_number", ())]


def test_the_card_number_of_another_card() -> None:
    other = OTHER_CARD
    assert found(f"cc={other}&exp=07/29&cvc=418") == []
    assert found(base64.b64encode(f"{other}|07/29|418".encode()).decode()) == []
    assert found("4111 1190 4417 3025") == []


def test_one_mib_of_random_base64_noise_is_fast_and_empty() -> None:
    noise = base64.b64encode(random.Random(5).randbytes(786_432))
    assert len(noise) == 1 << 20
    start = time.perf_counter()
    assert MATCHER.search([noise]) == []
    assert time.perf_counter() - start < 2.0  # about 0.05 s here; generous for a loaded CI machine


def test_reversed_short_value_alone_is_not_searched() -> None:
    # a reversed short value counts only with a long value in the same text (a skimmer reverses a
    # whole payload): searching every short needle reversed everywhere is not worth its cost
    assert found("tel=3902-7144-090") == []
    assert found(f"x={CARD[::-1]}|3902-7144-090") == [("card_number", ("reverse",)), ("phone", ("reverse",))]


# ---------------------------------------------------------------------------------------------
# API, bounds
# ---------------------------------------------------------------------------------------------


def test_hits_are_ordered_by_item_then_value_and_identical_items_all_report() -> None:
    items = ["nothing here", B64, f"cc={CARD}", B64]
    assert hits_of(*items) == [
        *[(1, v, ("base64",)) for v in CARD_SET],
        (2, "card_number", ()),
        *[(3, v, ("base64",)) for v in CARD_SET],
    ]


def test_each_value_once_per_item_with_the_shortest_chain() -> None:
    body = f"a={B64}&b={CARD}&c={JOINED.encode().hex()}"
    assert found(body) == [("card_number", ()), ("expiry", ("base64",)), ("cvc", ("base64",)), ("holder", ("base64",))]


def test_max_depth_bounds_the_chain() -> None:
    shallow = Matcher(VALUES, max_depth=1)
    assert found(B64, shallow) == card_set("base64")
    # one step: reversed base64 is only found through the forward needles (base64 of a value,
    # reversed), for the values that sit at a multiple of 3 bytes in the payload (card 0, holder 27)
    assert found(B64[::-1], shallow) == [
        ("card_number", ("reverse", "needle:base64")),
        ("holder", ("reverse", "needle:base64")),
    ]
    flat = Matcher(VALUES, max_depth=0)
    assert found(B64, flat) == [("card_number", ("needle:base64",)), ("holder", ("needle:base64",))]
    assert found(f"cc={CARD}", flat) == [("card_number", ())]


def test_items_over_the_size_limit_keep_head_and_tail() -> None:
    small = Matcher(VALUES, max_item_bytes=4096)
    filler = "x" * 10_000
    assert hits_of(f"cc={CARD}&" + filler, filler + f"&cc={CARD}", filler + f"cc={CARD}" + filler, matcher=small) == [
        (0, "card_number", ()),
        (1, "card_number", ()),
    ]


def test_compression_bomb_is_capped() -> None:
    bomb = gzip.compress(b"A" * (64 << 20) + CARD.encode())  # 64 MiB of "A", the card at the very end
    start = time.perf_counter()
    assert MATCHER.search([bomb]) == []  # only the first DECOMPRESS_CAP bytes are inflated
    assert time.perf_counter() - start < 5.0
    assert DECOMPRESS_CAP == 4 << 20


def test_candidates_per_item_are_capped() -> None:
    # many distinct base64 texts in one item: at most MAX_CANDIDATES are decoded per layer
    texts = [base64.b64encode(f"harmless text number {i:04d} padding".encode()).decode() for i in range(200)]
    body = " ".join(texts) + " " + B64
    # the payload comes after the cap: not decoded; the forward needles still see the values that
    # base64 encodes on their own (at offsets that are multiples of 3)
    assert found(body) == [("card_number", ("needle:base64",)), ("holder", ("needle:base64",))]
    assert found(B64 + " " + " ".join(texts)) == card_set("base64")
    assert MAX_CANDIDATES == 64


def test_empty_inputs() -> None:
    assert MATCHER.search([]) == []
    assert MATCHER.search([b""]) == []
    assert Matcher([]).search([f"cc={CARD}".encode()]) == []
    assert Matcher([CanaryValue("cvc", "418", min_len=6)]).search([b"cvc=418"]) == []


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        Matcher(VALUES, max_depth=-1)
    with pytest.raises(ValueError):
        Matcher(VALUES, max_item_bytes=10)


def test_hostile_inputs_stay_bounded() -> None:
    rng = random.Random(9)
    hostile = [
        b"\\u0041" * 100_000,
        b"%41" * 200_000,
        b",".join(str(rng.randrange(32, 127)).encode() for _ in range(100_000)),
        b"12,34 " * 100_000,
        bytes(rng.choice(b"0123456789") for _ in range(500_000)),
        rng.randbytes(500_000),
    ]
    start = time.perf_counter()
    assert MATCHER.search(hostile) == []
    assert time.perf_counter() - start < 10.0  # about 0.3 s here


def test_url_encoded_base64_needs_both_steps() -> None:
    payload = base64.b64encode(b"\xfb\xef\xbe?" + JOINED.encode()).decode()
    assert payload.startswith("++++")  # and the card at byte 4: no base64 needle lines up with it
    # percent-encoded "+" break the base64 run: decoding it needs the URL step first
    assert found("d=" + quote(payload, safe="")) == card_set("url", "base64")
    # where the encoded characters come after a value, the base64 needle already sees it
    tail = base64.b64encode(f"{CARD}|07/29|418|TARO QMVZKD|?>?>".encode()).decode()
    assert found("d=" + quote(tail, safe="")) == [
        ("card_number", ("needle:base64",)),
        ("expiry", ("url", "base64")),
        ("cvc", ("url", "base64")),
        ("holder", ("needle:base64",)),  # at byte 27: a multiple of 3, lined up
    ]


def test_amex_grouping() -> None:
    amex = Matcher([CanaryValue("card_number", "378282246310005")])
    assert found("n=3782 822463 10005", amex) == [("card_number", ("needle:digits-spaced",))]
    assert found("n=3782-822463-10005", amex) == [("card_number", ("needle:digits-dashed",))]


def test_identical_header_blocks_each_report_with_their_own_offset() -> None:
    block = f"Host: shop.test\r\nReferer: https://shop.test/?cc={CARD}\r\nAccept: */*\r\n"
    other = f"Host: cdn.shop.test\r\nReferer: https://shop.test/?cc={CARD}\r\n"
    items = [block.encode(), b"plain", other.encode(), block.encode(), b"plain"]
    assert [(h.item, h.value, h.chain, h.offset) for h in MATCHER.search(items)] == [
        (0, "card_number", (), block.index(CARD)),
        (2, "card_number", (), other.index(CARD)),
        (3, "card_number", (), block.index(CARD)),
    ]


def test_lone_carriage_returns_are_not_line_breaks() -> None:
    # "\r" without "\n": searched as one text, so the short values count next to the card
    assert found(f"a=1\rcc={CARD}\rexp=07/29\rcvc=418\rname=TARO QMVZKD") == card_set()


def test_php_style_escaped_quotes_and_slashes_only() -> None:
    assert found(f'{{"u": "https:\\/\\/x.test\\/?cc={CARD}"}}') == [("card_number", ())]
    assert found(f'{{"q": "say \\"{JOINED}\\""}}') == card_set()
    assert found('{"a": "line\\nbreak", "b": "TARO\\"QMVZKD"}') == []  # escapes, but no value behind them
    assert found('{"h": "TARO\\/QMVZKD", "n": "TARO QMVZKD"}') == [("holder", ())]


def test_hex_escapes_after_unicode_escapes() -> None:
    escaped = "".join(f"\\x{b:02x}" for b in JOINED.encode())
    body = f'{{"t": "\\u5c71\\u7530", "d": "{escaped}", "p": "\\/x"}}'
    assert found(body) == card_set("json")


# ---------------------------------------------------------------------------------------------
# Fast paths give the same answers as the slow ones
# ---------------------------------------------------------------------------------------------


def test_a_needle_past_the_scan_cap_is_still_found_in_every_item() -> None:
    crowded = (f"{CARD} " * (MAX_MATCHES_PER_NEEDLE + 100)).encode()
    shouting = (EMAIL.upper() + " ") * (MAX_MATCHES_PER_NEEDLE + 100)  # caseless needle, past the cap too
    items = [crowded, f"late cc={CARD}".encode(), shouting.encode(), f"mail={EMAIL.upper()}".encode()]
    assert [(h.item, h.value, h.chain, h.offset) for h in MATCHER.search(items)] == [
        (0, "card_number", (), 0),
        (1, "card_number", (), 8),
        (2, "email", (), 0),
        (3, "email", (), 5),
    ]
    assert MAX_MATCHES_PER_NEEDLE == 4096


@pytest.mark.parametrize(
    "texts",
    [
        [b"a=%41%42", b"no escape", b"b=%E5%B1%B1+x", b"%3D%25%2541"],  # all well formed: one call
        [b"cc=%34%31", b"100% off", b"%4", b"tail%", b"x=%41"],  # malformed ones among them
        [b"a=%41%\nb", b"%\r\nc=%42", b"d=%43"],  # a line break after "%" (a soft line break to a2b_qp)
        [b"%=3D%41", b"==%41", b"%%41"],  # "=" next to escapes
        [b"a=%00%41", b"b=%41"],  # decoding makes a NUL: all one by one
        [b"bin\x00%41", b"\x1f\x8b\x08\x00%zz", b"c=%41"],  # a NUL of their own
    ],
)
def test_percent_decoding_all_texts_at_once_equals_one_by_one(texts: list[bytes]) -> None:
    assert _url_decode_all(texts) == [_url_decode(t) for t in texts]


def test_percent_encoded_card_next_to_malformed_escapes_in_other_items() -> None:
    items = ["50% off today", "cc=" + CARD.replace("4", "%34"), "a%\nb", "z=%4"]
    assert hits_of(*items) == [(1, "card_number", ("url",))]


def test_char_code_lists_inside_base64_and_nowhere_else() -> None:
    spelled = ", ".join(str(ord(c)) for c in JOINED)
    assert found(base64.b64encode(spelled.encode()).decode()) == card_set("base64", "charcodes")
    # numbers around commas that spell nothing: the gate opens, the decoder finds no canary
    assert found("[12, 34, 56, 78, 90, 11, 13]") == []
