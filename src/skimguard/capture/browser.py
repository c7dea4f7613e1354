"""Launching the system Chromium and making scan contexts that look like a shopper's browser."""

from __future__ import annotations

import os
from collections.abc import Mapping

from playwright.async_api import Browser, BrowserContext, Playwright
from playwright.async_api import Error as PlaywrightError

from skimguard.config import Identity
from skimguard.errors import CaptureError

CHROMIUM_PATH = os.environ.get("SKIMGUARD_CHROMIUM", "/usr/bin/chromium")

BASE_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--disable-quic",
    # Hide the automation flag that sets navigator.webdriver.
    "--disable-blink-features=AutomationControlled",
    # One renderer for all frames, so one CDP session sees every script, also in
    # cross-origin iframes (the payment form of a PSP lives there).
    "--disable-site-isolation-trials",
    "--disable-features=IsolateOrigins,site-per-process",
)


def host_resolver_rules(hosts: Mapping[str, str], *, block_unmapped: bool = False) -> str:
    """Chromium ``--host-resolver-rules`` for a hostname -> address map.

    With ``block_unmapped`` every other name fails to resolve, so a test or staging scan can never
    reach the internet by accident.
    """
    rules = [f"MAP {name} {address}" for name, address in sorted(hosts.items())]
    if block_unmapped:
        rules.append("MAP * ~NOTFOUND")
        rules.append("EXCLUDE localhost")
    return ", ".join(rules)


def launch_args(hosts: Mapping[str, str] | None = None, *, block_unmapped: bool = False) -> list[str]:
    args = list(BASE_ARGS)
    if hosts or block_unmapped:
        args.append("--host-resolver-rules=" + host_resolver_rules(hosts or {}, block_unmapped=block_unmapped))
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
    return args


async def launch_browser(
    playwright: Playwright,
    hosts: Mapping[str, str] | None = None,
    *,
    block_unmapped: bool = False,
    headless: bool = True,
) -> Browser:
    if not os.path.exists(CHROMIUM_PATH):
        raise CaptureError(
            f"Chromium not found at {CHROMIUM_PATH}",
            hint="install it with `apt-get install chromium`, or set SKIMGUARD_CHROMIUM",
        )
    try:
        return await playwright.chromium.launch(
            executable_path=CHROMIUM_PATH,
            headless=headless,
            args=launch_args(hosts, block_unmapped=block_unmapped),
            timeout=60_000,
        )
    except PlaywrightError as err:
        raise CaptureError(f"could not start Chromium: {str(err).splitlines()[0]}") from None


def shopper_user_agent(browser_version: str, *, mobile: bool = False) -> str:
    """A normal Chrome user agent (no ``HeadlessChrome``), in the reduced UA format."""
    major = browser_version.split(".", 1)[0]
    if mobile:
        return (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Mobile Safari/537.36"
        )
    return f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"


async def new_scan_context(browser: Browser, identity: Identity) -> tuple[BrowserContext, str]:
    """A fresh context (no cookies, no storage) per scan: every scan is a first-time shopper.

    Returns the context and the user agent it presents."""
    user_agent = identity.user_agent or shopper_user_agent(browser.version, mobile=identity.mobile)
    lang = identity.locale
    accept = f"{lang},{lang.split('-')[0]};q=0.9" + (",en;q=0.8" if not lang.startswith("en") else "")
    width, height = identity.viewport
    context = await browser.new_context(
        user_agent=user_agent,
        locale=identity.locale,
        timezone_id=identity.timezone,
        viewport={"width": width, "height": height},
        screen={"width": width, "height": height},
        is_mobile=identity.mobile,
        has_touch=identity.mobile,
        device_scale_factor=3 if identity.mobile else 1,
        extra_http_headers={"Accept-Language": accept},
        java_script_enabled=True,
        ignore_https_errors=False,
    )
    return context, user_agent
