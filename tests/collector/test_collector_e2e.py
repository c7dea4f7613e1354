"""End to end: shoppers' real Chromium reports the demo shop's attacks to the collector.

The bundled demo shop is scanned clean in Chromium, its baseline accepted and every script of the
clean shop approved (URL pinned to its bytes for files, exact hash for inline code), the way an
operator would. Then the shop serves the report-only policy that :func:`skimguard.policy.build_policy`
makes of that approved state, with ``report-uri`` pointing at the collector (uvicorn in a thread on
loopback, the same app and uvicorn settings as ``skimguard serve``). A fresh Chromium walks each attack
scenario like a shopper (types the address and the card, clicks pay, signs up); the CSP reports the
browser itself sends reach the collector, and ``telemetry check`` (the pure evaluation plus the store,
:func:`skimguard.cli_telemetry.check_site`) must raise exactly the expected findings within 5 seconds
of the page load. The clean shop must raise none.

Two deployments, one harness:

* **http** (the demo shop as it is): the generated policy has no ``report-to`` (Chromium would then
  send nothing at all, see :mod:`skimguard.policy`), so Chromium sends legacy
  ``application/csp-report`` bodies to ``report-uri``, one per violation, at once. Every scenario.
* **https** (the shop behind a TLS front, the collector on uvicorn with TLS, a throwaway
  self-signed certificate): the policy names ``report-to`` and a ``Reporting-Endpoints`` URL, and
  Chromium sends ``application/reports+json`` batches (``--short-reporting-delay``; the
  ``background-sync`` permission): violations, ``'report-sha256'`` script hashes and
  Integrity-Policy reports. The clean shop and the two checkout attacks.

The shop's own app (:class:`skimguard.demo.shop.ShopApp`, unchanged) is served by :class:`ShopFront`,
which adds the policy headers to the shop's HTML pages as the shop's web server or proxy would (the
demo's own server has no hook for extra headers). Each scenario gets a copy of the scanned and
approved database, so reports of one attack never show up in the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.async_api import Page, async_playwright

from skimguard.baseline.snapshot import SiteSnapshot
from skimguard.capture.browser import CHROMIUM_PATH, launch_args
from skimguard.cli_telemetry import check_site
from skimguard.collector.app import Limits, bind, create_app, report_endpoint, server_config
from skimguard.config import Config, Site, config_from_dict
from skimguard.demo.journeys import demo_site_config
from skimguard.demo.shop import CDN, EVIL, MAX_READ, PSP, SHOP, DemoShop, ShopApp
from skimguard.demo.shop import Request as ShopRequest
from skimguard.loopback import LoopbackHandler, LoopbackServer
from skimguard.models import ChangeRule, MatchType, ScanStatus, ScriptKind
from skimguard.monitor import accept_baseline, scan_site
from skimguard.policy import Policy, PolicyMode, build_policy
from skimguard.store import Store
from skimguard.telemetry import HeartbeatPolicy

pytestmark = pytest.mark.browser

SITE = "demo-shop"
DEADLINE = 5.0  # seconds from the page load to the finding
QUIET = 3.0  # seconds the clean shop is watched for a late report
COLLECTOR = "collector.test"  # the shopper's Chromium maps every name it knows and refuses the rest, IPs too
CARD = ("4111 1111 1111 1111", "12/30", "123", "TARO YAMADA")


# --------------------------------------------------------------------------------------------
# The shop, served with the policy headers
# --------------------------------------------------------------------------------------------


class ShopFront(LoopbackServer):
    """The demo shop's app on a loopback server that adds ``policy_headers`` to shop.test's HTML.

    With ``tls`` it speaks https only, like a TLS-terminating proxy that also upgrades the shop's
    absolute ``http://`` links to its own hosts (as CDNs' "automatic https rewrites" do), so no
    script is blocked as mixed content; the Origin and Referer it passes on are turned back to
    http, which is what the shop's own checks expect.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.app = ShopApp("clean")
        self.policy_headers: tuple[tuple[str, str], ...] = ()
        super().__init__(0, _FrontHandler)
        self.app.port = self.port
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self._origins = [(f"http://{h}:{self.port}", f"https://{h}:{self.port}") for h in (SHOP, CDN, PSP, EVIL)]

    def url(self, host: str = SHOP, path: str = "/") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def hosts(self) -> dict[str, str]:
        return dict.fromkeys((SHOP, CDN, PSP, EVIL), "127.0.0.1")

    def upgrade(self, text: str) -> str:
        if self.scheme == "https":
            for plain, secure in self._origins:
                text = text.replace(plain, secure)
        return text

    def downgrade(self, text: str) -> str:
        if self.scheme == "https":
            for plain, secure in self._origins:
                text = text.replace(secure, plain)
        return text


class _FrontHandler(LoopbackHandler):
    server: ShopFront

    def _dispatch(self) -> None:  # as the demo's own handler, plus the policy headers
        front = self.server
        host = self.headers.get("Host", "").strip().lower().rsplit(":", 1)[0]
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_READ)) if length > 0 else b""
        headers = {k.lower(): front.downgrade(v) for k, v in self.headers.items()}
        resp = front.app.handle(ShopRequest(self.command, host, path, query, headers, body))
        out = resp.body
        if front.scheme == "https" and resp.ctype.startswith(("text/", "application/javascript")):
            out = front.upgrade(out.decode("utf-8")).encode("utf-8")
        extra = [(name, front.upgrade(value)) for name, value in resp.headers]
        if host == SHOP and resp.ctype.startswith("text/html"):
            extra += front.policy_headers
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD" and out:
            self.wfile.write(out)


# --------------------------------------------------------------------------------------------
# The collector, in a thread
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_collector(store: Store, keys: dict[str, str], **ssl_files: str) -> Iterator[tuple[int, Any]]:
    """``skimguard serve``'s app and uvicorn settings on a loopback port: (port, app)."""
    sock = bind("127.0.0.1", 0)
    app = create_app(store, keys, Limits())
    config = server_config(app, graceful_timeout=2)
    for name, value in ssl_files.items():
        setattr(config, name, value)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the collector did not start"
            time.sleep(0.02)
        yield sock.getsockname()[1], app
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


# --------------------------------------------------------------------------------------------
# The lab: scanned, baselined and approved once; each scenario gets a copy of the database
# --------------------------------------------------------------------------------------------


@dataclass
class Lab:
    front: ShopFront
    data: dict[str, Any]  # the config, YAML-shaped
    template: Path  # the database after scan, baseline and approvals
    workdir: Path
    tls_files: tuple[str, str] | None = None  # (key, certificate) of the https variant

    @property
    def https(self) -> bool:
        return self.tls_files is not None

    @property
    def chromium_args(self) -> tuple[str, ...]:
        # the Reporting API needs an https page and endpoint; its batches wait a minute without the flag
        return ("--ignore-certificate-errors", "--short-reporting-delay") if self.https else ()

    def config(self, name: str) -> Config:
        db = self.workdir / f"{name}.db"
        shutil.copyfile(self.template, db)
        data = {**self.data, "database": f"sqlite:///{db}"}
        return config_from_dict(data, source="e2e", path=self.workdir / "skimguard.yaml")


def approve_clean_shop(store: Store, site: str) -> int:
    """Approve every script of the clean shop as an operator would (`skimguard inventory approve`)."""
    count = 0
    for item in store.inventory(site):
        if item.kind is ScriptKind.EXTERNAL and item.url:
            store.add_decision(
                site, MatchType.URL, item.key, "demo shop script, reviewed", "shop", "e2e", ChangeRule.PIN, item.sha256
            )
        else:
            assert item.sha256, item.key
            store.add_decision(
                site, MatchType.HASH, item.sha256, "demo inline script, reviewed", "shop", "e2e", ChangeRule.PIN, None
            )
        count += 1
    return count


def make_lab(workdir: Path, tls_files: tuple[str, str] | None = None) -> Lab:
    """Serve the shop, scan it clean in Chromium, accept the baseline, approve its scripts."""
    tls = None
    if tls_files is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(tls_files[1], tls_files[0])
    front = ShopFront(tls)
    front.serve_in_background("shop-front")
    lab = Lab(front, {}, workdir / "template.db", workdir, tls_files)
    lab.data = {
        "database": f"sqlite:///{lab.template}",
        "alerts": {"min_severity": "high", "sinks": []},
        "sites": [demo_site_config(cast(DemoShop, front))],
    }
    config = config_from_dict(lab.data, source="e2e", path=workdir / "skimguard.yaml")
    site = config.sites[0]
    with Store.open(config.database_url) as store:

        async def scan() -> Any:
            async with async_playwright() as pw:
                args = [*launch_args(site.hosts, block_unmapped=True), *lab.chromium_args]
                browser = await pw.chromium.launch(executable_path=CHROMIUM_PATH, args=args)
                try:
                    return (await scan_site(config, site, store, browser, alert=False)).result
                finally:
                    await browser.close()

        clean = asyncio.run(scan())
        assert clean.status is ScanStatus.OK, clean
        accept_baseline(store, site, scan_id=clean.scan_id, actor="e2e", note="clean demo shop")
        assert approve_clean_shop(store, SITE) >= 8
        store.collector_key(SITE)  # created once; every copy of the database keeps it
    return lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    made = make_lab(tmp_path_factory.mktemp("e2e-http"))
    try:
        yield made
    finally:
        made.front.stop()


@pytest.fixture(scope="module")
def https_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if shutil.which("openssl") is None:
        pytest.skip("the https variant needs the openssl command for a throwaway certificate")
    workdir = tmp_path_factory.mktemp("e2e-https")
    made = make_lab(workdir, _tls_files(workdir))
    try:
        yield made
    finally:
        made.front.stop()


def telemetry_policy(store: Store, site: Site, endpoint_template: str) -> Policy:
    row = store.baseline(site.name)
    assert row is not None
    return build_policy(
        site,
        SiteSnapshot.from_json(row.snapshot),
        store.inventory(site.name),
        store.decisions(site.name),
        store.body,
        mode=PolicyMode.REPORT_ONLY,
        endpoint_url=report_endpoint(store, site.name, endpoint_template),
    )


# --------------------------------------------------------------------------------------------
# Shoppers
# --------------------------------------------------------------------------------------------


async def to_payment(page: Page, base: str) -> None:
    await page.goto(f"{base}/product/1")
    await page.click("#add-to-cart")
    await page.wait_for_url("**/cart")
    await page.click("#checkout")
    await page.wait_for_url("**/checkout/address")
    for selector, value in (
        ("#name", "山田 太郎"),
        ("#postal", "100-0001"),
        ("#address", "千代田区千代田1-1"),
        ("#phone", "03-1234-5678"),
        ("#email", "taro@example.test"),
    ):
        await page.locator(selector).press_sequentially(value, delay=5)
    await page.select_option("#prefecture", "東京都")
    await page.click("#to-payment")
    await page.wait_for_url("**/checkout/payment")


async def pay(page: Page) -> None:
    for selector, value in zip(("#card-number", "#card-expiry", "#card-cvc", "#card-name"), CARD, strict=True):
        await page.locator(selector).press_sequentially(value, delay=5)
    await page.click("#pay")


async def buy(page: Page, base: str) -> None:
    await to_payment(page, base)
    await pay(page)
    await page.wait_for_url("**/checkout/thanks")
    await page.wait_for_selector("#thanks")


async def buy_through_the_fake_form(page: Page, base: str) -> None:
    await to_payment(page, base)
    await pay(page)  # the planted form posts to the attacker, who sends the shopper back
    await page.wait_for_url("**/checkout/payment?retry=1")


async def sign_up(page: Page, base: str) -> None:
    await page.goto(f"{base}/member/register")
    for selector, value in (
        ("#reg-name", "山田 太郎"),
        ("#reg-address", "千代田区千代田1-1"),
        ("#reg-phone", "03-1234-5678"),
        ("#reg-email", "taro@example.test"),
        ("#reg-password", "correct horse battery"),
    ):
        await page.locator(selector).press_sequentially(value, delay=5)
    await page.click("#register")
    await page.wait_for_url("**/member/welcome")


async def buy_and_sign_up(page: Page, base: str) -> None:
    await buy(page, base)
    await sign_up(page, base)


Shopper = Callable[[Page, str], Awaitable[None]]


async def shop_as(shopper: Shopper, lab: Lab, hosts: dict[str, str]) -> float:
    """Run ``shopper`` in a fresh Chromium; the monotonic time when its last page had loaded."""
    async with async_playwright() as pw:
        args = [*launch_args(hosts, block_unmapped=True), *lab.chromium_args]
        browser = await pw.chromium.launch(executable_path=CHROMIUM_PATH, args=args)
        try:
            options: dict[str, Any] = {"locale": "ja-JP"}
            if lab.https:  # Chromium uploads Reporting API batches only with this permission
                options.update(ignore_https_errors=True, permissions=["background-sync"])
            context = await browser.new_context(**options)
            page = await context.new_page()
            await shopper(page, lab.front.url().rstrip("/"))
            loaded = time.monotonic()
            await context.close()
            return loaded
        finally:
            await browser.close()


# --------------------------------------------------------------------------------------------
# The scenarios
# --------------------------------------------------------------------------------------------

Summary = tuple[str, str, str | None, str]


def short(url: str) -> str:
    """``host/path`` of a URL (no scheme, port or query); keywords such as ``inline`` as they are."""
    parts = urlsplit(url)
    return f"{parts.hostname}{parts.path}" if parts.hostname else url


def summary(findings: Any) -> list[Summary]:
    return sorted((f.rule_id, f.severity.label, f.page, f.subject) for f in findings)


@dataclass(frozen=True)
class Outcome:
    findings: list[Summary]
    elapsed: float  # seconds from the last page load to the check that raised them
    reports: list[tuple[str, str, str, str, int]]  # (kind, directive, blocked host+path, page path, count)
    stored: int  # reports the collector committed
    scan_id: str | None
    evidence: dict[str, Any]
    attacker_hits: int  # requests the attacker's host received meanwhile
    kinds: list[tuple[str, str, str, str, bool]]  # (kind, directive or detail, blocked, page, hashed): no counts


def run_scenario(lab: Lab, scenario: str, shopper: Shopper, expected: list[Summary]) -> Outcome:
    config = lab.config(scenario)
    site = config.sites[0]
    with Store.open(config.database_url) as store, Store.open(config.database_url) as collector_store:
        keys = {store.collector_key(SITE): SITE}
        ssl_files = {"ssl_keyfile": lab.tls_files[0], "ssl_certfile": lab.tls_files[1]} if lab.tls_files else {}
        with running_collector(collector_store, keys, **ssl_files) as (collector_port, app):
            scheme = "https" if lab.https else "http"
            policy = telemetry_policy(store, site, f"{scheme}://{COLLECTOR}:{collector_port}/r/{{site}}")
            assert ("report-to skimguard" in policy.csp) is lab.https
            assert f"report-uri {scheme}://{COLLECTOR}:{collector_port}/r/" in policy.csp
            lab.front.policy_headers = policy.headers
            lab.front.app.scenario = scenario
            with lab.front.app.lock:
                hits_before = len(lab.front.app.collected)
            try:
                loaded = asyncio.run(shop_as(shopper, lab, {**lab.front.hosts, COLLECTOR: "127.0.0.1"}))
                findings: list[Summary] = []
                outcome = None
                while True:
                    outcome = check_site(
                        config, site, store, now=datetime.now(UTC), policy=HeartbeatPolicy(), alert=True
                    )
                    findings = summary(outcome.findings)
                    elapsed = time.monotonic() - loaded
                    if (expected and findings == expected) or elapsed > (QUIET if not expected else DEADLINE):
                        break
                    time.sleep(0.1)
                # Each request that reached the attacker was one violation: wait for its report too.
                with lab.front.app.lock:
                    hits = len([h for h in lab.front.app.collected[hits_before:] if h.host == EVIL])
                settle = time.monotonic() + 3
                while (
                    time.monotonic() < settle
                    and sum(r.count for r in store.reports(SITE, limit=1000) if short(r.blocked).startswith(EVIL))
                    < hits
                ):
                    time.sleep(0.1)
            finally:
                lab.front.policy_headers = ()
                lab.front.app.scenario = "clean"
            stored = app.state.collector.writer.stats().reports
        rows = store.reports(SITE, limit=1000)
        texts = " ".join(" ".join((r.blocked, r.document, *r.samples, *r.pages)) for r in rows)
        assert "4111" not in texts and "taro" not in texts.lower()  # never any card or personal data
        assert all(r.user_agents and "Chrome/" in r.user_agents[0] for r in rows)  # sent by the browser
        evidence = {f.rule_id: f.evidence for f in outcome.findings} if outcome else {}
        return Outcome(
            findings,
            elapsed,
            sorted((r.kind, r.directive, short(r.blocked), short(r.document), r.count) for r in rows),
            stored,
            outcome.scan_id if outcome else None,
            evidence,
            hits,
            sorted(
                {(r.kind, r.directive or r.detail, short(r.blocked), short(r.document), bool(r.hash)) for r in rows}
            ),
        )


def test_the_clean_shop_raises_no_telemetry_finding(lab: Lab) -> None:
    outcome = run_scenario(lab, "clean", buy_and_sign_up, [])
    assert outcome.findings == []
    assert outcome.elapsed >= QUIET  # watched for late reports
    # every script and destination of the clean shop is approved: the browser has nothing to report
    assert (outcome.reports, outcome.stored, outcome.scan_id) == ([], 0, None)


def test_vendor_script_tampered(lab: Lab) -> None:
    # Same URL, new bytes: CSP allows the URL; the stolen card goes out as an image, which it reports.
    outcome = run_scenario(
        lab,
        "vendor-script-tampered",
        buy,
        [("SG603", "critical", "/checkout/payment", EVIL)],
    )
    assert outcome.findings == [("SG603", "critical", "/checkout/payment", EVIL)]
    assert outcome.elapsed < DEADLINE
    # the skimmer sent the card twice (on leaving the CVC field, and with the name on "pay"): two reports
    assert outcome.attacker_hits == 2
    assert outcome.reports == [("csp-violation", "img-src", f"{EVIL}/i.gif", "shop.test/checkout/payment", 2)]
    assert outcome.evidence["SG603"]["card_page"] is True and outcome.evidence["SG603"]["baseline_page"] == "payment"
    assert outcome.evidence["SG603"]["disposition"] == ["report"]
    assert outcome.scan_id is not None and outcome.scan_id.startswith("telemetry-")


def test_fake_payment_form(lab: Lab) -> None:
    # The planted card form: its inline loader and its post to the attacker.
    expected = [
        ("SG603", "critical", "/checkout/payment", EVIL),
        ("SG604", "medium", "/checkout/payment", "inline"),
    ]
    outcome = run_scenario(lab, "fake-payment-form", buy_through_the_fake_form, expected)
    assert outcome.findings == expected
    assert outcome.elapsed < DEADLINE
    assert outcome.attacker_hits == 1
    assert outcome.reports == [
        ("csp-violation", "form-action", f"{EVIL}/pay", "shop.test/checkout/payment", 1),
        ("csp-violation", "script-src-elem", "inline", "shop.test/checkout/payment", 1),
    ]
    assert outcome.evidence["SG604"]["samples"] == ['(function(d){var r=d.getElementById("pay']  # 40 chars


def test_registration_tampered(lab: Lab) -> None:
    expected = [
        ("SG603", "high", "/member/register", EVIL),
        ("SG604", "medium", "/member/register", "inline"),
    ]
    outcome = run_scenario(lab, "registration-tampered", sign_up, expected)
    assert outcome.findings == expected
    assert outcome.elapsed < DEADLINE
    assert outcome.attacker_hits == 1
    assert outcome.reports == [
        ("csp-violation", "img-src", f"{EVIL}/r.gif", "shop.test/member/register", 1),
        ("csp-violation", "script-src-elem", "inline", "shop.test/member/register", 1),
    ]


def test_header_weakened(lab: Lab) -> None:
    # The shop's own enforced CSP is dropped; the telemetry policy (deployed with it) still reports, and
    # nothing unapproved loads: telemetry sees no change (the scanner's SG201 does; if the attacker also
    # drops the report-only header, the silence is SG605, tested in test_telemetry.py).
    outcome = run_scenario(lab, "header-weakened", buy, [])
    assert (outcome.findings, outcome.reports, outcome.stored) == ([], [], 0)


# --------------------------------------------------------------------------------------------
# The Reporting API path (application/reports+json): the shop and the collector over https
# --------------------------------------------------------------------------------------------


PAY_PAGE, PRODUCT_PAGE = "shop.test/checkout/payment", "shop.test/product/1"
FORMASSIST, ANALYTICS, CHECKOUT = (
    "cdn.formassist.test/v2/formassist.js",
    "shop.test/static/analytics.js",
    "shop.test/static/checkout.js",
)
# What Chromium reports through the Reporting API on the clean shop's checkout, all of it harmless:
# 'report-sha256' hashes of its scripts (none for the vendor's, fetched without CORS), and the
# report-only Integrity-Policy noting scripts without integrity metadata.
CLEAN_CHECKOUT_ROWS = [
    ("csp-hash", "script", FORMASSIST, PAY_PAGE, False),
    ("csp-hash", "script", ANALYTICS, PRODUCT_PAGE, True),
    ("csp-hash", "script", CHECKOUT, PAY_PAGE, True),
    ("integrity-violation", "script", FORMASSIST, PAY_PAGE, False),
    ("integrity-violation", "script", ANALYTICS, PAY_PAGE, False),
    ("integrity-violation", "script", ANALYTICS, PRODUCT_PAGE, False),
    ("integrity-violation", "script", CHECKOUT, PAY_PAGE, False),
]


@pytest.mark.parametrize(
    ("scenario", "shopper", "expected", "attack_rows"),
    [
        ("clean", buy_and_sign_up, [], []),
        (
            "vendor-script-tampered",
            buy,
            [("SG603", "critical", "/checkout/payment", EVIL)],
            [("csp-violation", "img-src", f"{EVIL}/i.gif", PAY_PAGE, False)],
        ),
        (
            "fake-payment-form",
            buy_through_the_fake_form,
            [("SG603", "critical", "/checkout/payment", EVIL), ("SG604", "medium", "/checkout/payment", "inline")],
            [
                ("csp-violation", "form-action", f"{EVIL}/pay", PAY_PAGE, False),
                ("csp-violation", "script-src-elem", "inline", PAY_PAGE, False),
            ],
        ),
    ],
)
def test_reports_json_over_https(
    https_lab: Lab,
    scenario: str,
    shopper: Shopper,
    expected: list[Summary],
    attack_rows: list[tuple[str, str, str, str, bool]],
) -> None:
    """The same shop over https: report-to is in the policy, Chromium sends application/reports+json
    (violations, script hashes, integrity reports) and no longer report-uri."""
    outcome = run_scenario(https_lab, scenario, shopper, expected)
    assert outcome.findings == expected
    assert outcome.elapsed < (DEADLINE if expected else QUIET + 1)
    # the approved scripts' hashes and the integrity reports arrived, and none of them is a finding
    assert outcome.kinds == sorted(CLEAN_CHECKOUT_ROWS + attack_rows)
    assert outcome.stored >= len(outcome.kinds)


def _tls_files(directory: Path) -> tuple[str, str]:
    """A throwaway self-signed certificate for the shop's hosts and the collector: (key, cert)."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    names = ",".join(f"DNS:{h}" for h in (SHOP, CDN, PSP, EVIL, COLLECTOR))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", f"/CN={SHOP}", "-addext", f"subjectAltName={names}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return str(key), str(cert)
