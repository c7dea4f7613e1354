"""The skimmer matrix in real Chromium: each case walked as a journey, exactly the expected
findings (rule, severity, page, destination|channel), the encoding chain and the initiator script.

Channels x encodings x triggers come from ``skimguard.testing.skimmers``; benign look-alikes (a
token API, analytics, a validator reading the card field, session replay masking inputs, the
payment provider's own fields) must raise nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from skimguard.config import Site, config_from_dict
from skimguard.models import Capture, Category, Finding
from skimguard.monitor import browser_for, capture_site, detect
from skimguard.store import Store
from skimguard.testing.skimmers import CASES, SkimmerLab, site_config

pytestmark = pytest.mark.browser

EVIL = "collect.evil.test"
ALL4 = ["card_number", "cvc", "expiry", "holder"]
NO_HOLDER = ["card_number", "cvc", "expiry"]
SCRIPT = "{script}"

# case -> (exfil findings as (rule, severity, page, subject)), first encoding chain, values sent
EXPECTED: dict[str, tuple[list[tuple[str, str, str, str]], str | None, list[str] | None]] = {
    "image-b64-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64", ALL4),
    "fetch-b64-click": ([("SG501", "critical", "payment", f"{EVIL}|body")], "base64", ALL4),
    "xhr-b64-click": ([("SG501", "critical", "payment", f"{EVIL}|body")], None, ALL4),
    "beacon-b64-click": ([("SG501", "critical", "payment", f"{EVIL}|body")], "base64", ALL4),
    "websocket-b64-click": ([("SG501", "critical", "payment", f"{EVIL}|websocket")], "base64", ALL4),
    "form-b64-click": ([("SG501", "critical", "payment", f"{EVIL}|body")], None, ALL4),
    "navigation-b64-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], None, ALL4),
    # postMessage is not on the wire, but the runtime hooks record what the attacker's frame
    # received (an Outbound on the postMessage channel); the frame then forwards it, on the wire.
    "postmessage-b64-click": (
        [("SG501", "critical", "payment", f"{EVIL}|postMessage"), ("SG501", "critical", "payment", f"{EVIL}|url")],
        None,
        ALL4,
    ),
    "localstorage-b64-blur": (
        [("SG501", "critical", "payment", f"{EVIL}|url"), ("SG504", "high", "payment", "shop.test|localStorage")],
        None,
        None,
    ),
    "cookie-b64-click": (
        [("SG503", "high", "done", "shop.test|header"), ("SG504", "high", "done", "shop.test|cookie")],
        None,
        None,
    ),
    "first-party-b64-click": ([("SG503", "high", "payment", "shop.test|url")], "base64", ALL4),
    "image-plain-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], "plain", ALL4),
    "image-url-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], "plain", ALL4),
    "image-rb64-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], "reverse+base64", ALL4),
    "image-hex-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], "hex", ALL4),
    "image-json-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], "plain", ALL4),
    "image-charcodes-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], "charcodes", ALL4),
    "image-nested3-click": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64+reverse", ALL4),
    "image-b64-input": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64", ["card_number"]),
    "image-b64-blur": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64", NO_HOLDER),
    "image-b64-delay": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64", NO_HOLDER),
    "image-b64-urlgate": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64", ALL4),
    "image-b64-once": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64", ALL4),
    # Reading navigator.webdriver next to the card fields is itself a finding (SG511).
    "image-b64-webdriver": (
        [("SG501", "critical", "payment", f"{EVIL}|url"), ("SG511", "high", "payment", SCRIPT)],
        "base64",
        ALL4,
    ),
    # These spare the first identity (a Japanese desktop); the second pass as mobile-en sees them.
    "image-b64-mobile": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64", ALL4),
    "image-b64-english": ([("SG501", "critical", "payment", f"{EVIL}|url")], "base64", ALL4),
    # Encrypted on the wire: only runtime attribution (field read + send by the same script) convicts
    # it. SCRIPT stands for the case's own script URL (the lab's port is chosen at run time).
    "image-aes-click": ([("SG510", "high", "payment", f"{SCRIPT}|{EVIL}")], None, None),
    "benign-token": ([], None, None),
    "benign-analytics": ([], None, None),
    "benign-validator": ([], None, None),
    "benign-replay": ([], None, None),
    "benign-psp-fields": ([], None, None),
}


@pytest.fixture(scope="module")
def lab_findings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SkimmerLab, dict[str, list[Finding]]]]:
    db: Path = tmp_path_factory.mktemp("lab") / "lab.db"
    with SkimmerLab() as lab:
        store = Store.open(f"sqlite:///{db}")
        sites: dict[str, Site] = {
            case: config_from_dict({"sites": [site_config(lab, case)]}).sites[0] for case in EXPECTED
        }

        async def run() -> dict[str, list[Finding]]:
            found: dict[str, list[Finding]] = {}
            limit = asyncio.Semaphore(3)  # three journeys at once, each in its own context
            async with browser_for(list(sites.values())[:1]) as browser:

                async def one(case: str, site: Site) -> None:
                    async with limit:
                        captures = await capture_site(browser, site)
                    found[case] = detect(site, captures, store, datetime.now(UTC))

                await asyncio.gather(*(one(case, site) for case, site in sites.items()))
            return found

        try:
            yield lab, asyncio.run(run())
        finally:
            store.close()


def test_the_matrix_covers_every_case() -> None:
    assert set(EXPECTED) == set(CASES)
    assert {c for c, case in CASES.items() if not case.malicious} == {c for c in EXPECTED if c.startswith("benign")}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_case(lab_findings: tuple[SkimmerLab, dict[str, list[Finding]]], case: str) -> None:
    lab, found = lab_findings
    findings, chain, values = EXPECTED[case]
    exfil = [f for f in found[case] if f.category is Category.EXFIL]
    expected = [(r, sev, page, subject.replace(SCRIPT, lab.script_url(case))) for r, sev, page, subject in findings]
    assert sorted((f.rule_id, f.severity.label, f.page or "", f.subject) for f in exfil) == sorted(expected)
    if not CASES[case].malicious:
        assert found[case] == [] or all(f.severity.label in ("info", "low") for f in found[case])
        return
    main = exfil[0]
    if chain is not None:
        assert main.evidence["encoding_chains"][0] == chain
    if values is not None:
        assert main.evidence["values"] == values
    if main.rule_id == "SG501" and CASES[case].channel not in ("postmessage", "form", "navigation"):
        assert main.script_url == lab.script_url(case)  # the initiator: the skimmer's own script
    if CASES[case].channel == "postmessage":  # the sender: the script that took the frame's handle
        posted = next(f for f in exfil if f.subject.endswith("|postMessage"))
        assert posted.script_url == lab.script_url(case)
    if main.rule_id == "SG510":
        assert main.script_url == lab.script_url(case) and main.destination == EVIL
        assert {f["role"] for f in main.evidence["fields_read"]} == {"number", "expiry", "cvc", "holder"}
        assert main.evidence["sink_kinds"] == ["image"]


def test_a_skimmer_that_spares_the_first_identity_needs_the_second_pass(tmp_path: Path) -> None:
    with SkimmerLab() as lab:
        store = Store.open(f"sqlite:///{tmp_path / 'lab.db'}")
        one = config_from_dict({"sites": [site_config(lab, "image-b64-mobile", second_pass=False)]}).sites[0]
        two = config_from_dict({"sites": [site_config(lab, "image-b64-mobile")]}).sites[0]

        async def run() -> tuple[list[Capture], list[Capture]]:
            async with browser_for([one]) as browser:
                return await capture_site(browser, one), await capture_site(browser, two)

        try:
            single, double = asyncio.run(run())
            now = datetime.now(UTC)
            assert [f for f in detect(one, single, store, now) if f.category is Category.EXFIL] == []
            assert [(c.journey, c.identity) for c in double] == [
                ("checkout", "desktop-ja-JP"),
                ("checkout@mobile-en-US", "mobile-en-US"),
            ]
            exfil = [f for f in detect(two, double, store, now) if f.category is Category.EXFIL]
            assert [(f.rule_id, f.subject, f.evidence["journey"]) for f in exfil] == [
                ("SG501", f"{EVIL}|url", "checkout@mobile-en-US")
            ]
        finally:
            store.close()
