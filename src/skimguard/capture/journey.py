"""Walk one configured journey in a fresh browser context and return its :class:`Capture`.

Every step has a time limit, and so has the whole journey. A step that fails ends the journey
(the next steps would act on the wrong page) unless it is ``optional``. Whatever the page does —
never finish loading, loop on ``alert()``, open popups, close itself, spin the CPU — the journey
ends in time with what was seen so far and :class:`~skimguard.models.Problem` records that the
detectors turn into ``health`` findings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from playwright.async_api import Browser, BrowserContext, Dialog, FrameLocator, Page, Route
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from skimguard.canary import fill_placeholders
from skimguard.capture.browser import new_scan_context
from skimguard.capture.recorder import Recorder
from skimguard.config import Identity, Journey, Site, Step
from skimguard.models import CanaryIdentity, Capture, HookEvent, Problem, ScanStatus, host_of

StepCallback = Callable[[str, int, int, str], None]  # journey, step index, step count, description

UNREACHABLE_ERRORS = (
    "ERR_NAME_NOT_RESOLVED",
    "ERR_CONNECTION_REFUSED",
    "ERR_ADDRESS_UNREACHABLE",
    "ERR_CONNECTION_TIMED_OUT",
    "ERR_CONNECTION_RESET",
    "ERR_INTERNET_DISCONNECTED",
    "ERR_NAME_RESOLUTION_FAILED",
    "ERR_EMPTY_RESPONSE",
)
MAX_DIALOGS = 20
MAX_POPUPS = 10
TYPE_DELAY_MS = 15
# Steps after which the page may navigate or send data: wait for it to load and go quiet (dwell).
SETTLE_AFTER = frozenset({"goto", "click", "submit", "press", "fill_card"})
NAVIGATION_GRACE = 5.0  # seconds a labelled step waits for its navigation to start
MAX_INTERCEPTED = 20
INTERCEPTED_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>skimguard</title></head>
<body><h1 id="skimguard-intercepted">skimguard: payment submission intercepted</h1>
<p>This request was answered by the scanner, so no real transaction was attempted.</p></body></html>"""


def describe(step: Step) -> str:
    action = step.action
    value = getattr(step, action)
    if action in ("fill", "select") and isinstance(value, dict):
        return f"{action} {len(value)} field(s)"
    if action == "fill_card":
        return "fill_card (test card)"
    return f"{action} {value}"


class _StepFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JourneyRunner:
    """One run of one journey. Use :func:`run_journey`."""

    def __init__(
        self,
        site: Site,
        journey: Journey,
        canary: CanaryIdentity,
        on_step: StepCallback | None,
        user_agent: str,
        *,
        label: str | None = None,
        identity: str = "",
    ) -> None:
        self.site = site
        self.user_agent = user_agent
        self.journey = journey
        self.label = label or journey.name  # ``checkout@mobile-en-US`` on a second pass
        self.identity = identity
        self.intercepted: list[HookEvent] = []
        self.canary = canary
        self.on_step = on_step
        self.problems: list[Problem] = []
        self._dialogs = 0
        self._popups = 0
        self._closed = False
        self._crashed = False

    # ------------------------------------------------------------------ page behaviour we refuse

    def _problem(self, code: str, message: str, page: str | None = None, step: int | None = None) -> None:
        self.problems.append(Problem(code=code, message=message[:500], page=page, step=step))

    def _on_dialog(self, dialog: Dialog) -> None:
        self._dialogs += 1
        if self._dialogs == 1:
            self._problem("dialog", f"the page opened a {dialog.type} dialog (dismissed)")
        elif self._dialogs == MAX_DIALOGS:
            self._problem("dialog", f"the page opened {MAX_DIALOGS}+ dialogs (a dialog loop)")
        asyncio.get_running_loop().create_task(self._dismiss(dialog))

    @staticmethod
    async def _dismiss(dialog: Dialog) -> None:
        with contextlib.suppress(PlaywrightError):
            await dialog.dismiss()

    def _on_popup(self, page: Page) -> None:
        self._popups += 1
        if self._popups == 1:
            self._problem("popup", "the page opened a new window (closed)")
        elif self._popups == MAX_POPUPS:
            self._problem("popup", f"the page opened {MAX_POPUPS}+ windows")
        asyncio.get_running_loop().create_task(self._close_quietly(page))

    @staticmethod
    async def _close_quietly(page: Page) -> None:
        with contextlib.suppress(PlaywrightError):
            await asyncio.wait_for(page.close(), 5)

    def _on_close(self, _page: Page) -> None:
        self._closed = True

    def _on_crash(self, _page: Page) -> None:
        self._crashed = True

    # ------------------------------------------------------------------ no real transactions

    async def _intercept(self, context: BrowserContext, recorder: Recorder) -> None:
        """Answer the final submit to the payment provider ourselves, so a scan never attempts a
        real transaction. Patterns are Playwright globs; a payment host's glob also admits ports
        and look-alike suffixes, so the handler checks the host again and lets the rest through."""
        for pattern in self.site.intercept:
            await context.route(pattern, lambda route: self._answer(route, recorder))
        if self.site.intercept_payment_submit:
            for host in self.site.payment_hosts:
                await context.route(f"*://{host}*/**", lambda route: self._payment_submit(route, recorder))

    async def _payment_submit(self, route: Route, recorder: Recorder) -> None:
        request = route.request
        try:
            is_submit = request.method == "POST" and request.is_navigation_request()
            if not is_submit or not self.site.is_payment_host(host_of(request.url)):
                await route.fallback()
                return
        except PlaywrightError:
            return
        await self._answer(route, recorder)

    async def _answer(self, route: Route, recorder: Recorder) -> None:
        request = route.request
        try:
            if len(self.intercepted) < MAX_INTERCEPTED:
                self.intercepted.append(
                    HookEvent(
                        kind="intercepted",
                        script_url="",
                        page=recorder.current_name or "",
                        step=recorder.current_step,
                        detail={"url": request.url[:2000], "method": request.method},
                        target_host=host_of(request.url),
                    )
                )
            if request.is_navigation_request():
                await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=INTERCEPTED_PAGE)
            else:
                await route.fulfill(status=204, body="")
        except PlaywrightError:
            return  # the page or context went away meanwhile

    # ------------------------------------------------------------------ the run

    async def run(self, context: BrowserContext) -> Capture:
        started = datetime.now(UTC)
        page = await context.new_page()
        context.on("page", lambda p: self._on_popup(p) if p != page else None)
        page.on("dialog", self._on_dialog)
        page.on("close", self._on_close)
        page.on("crash", self._on_crash)
        page.set_default_timeout(self.site.step_timeout * 1000)
        page.set_default_navigation_timeout(self.site.step_timeout * 1000)
        cdp = await context.new_cdp_session(page)
        recorder = Recorder(cdp, max_script_bytes=self.site.max_script_bytes)
        await recorder.start()
        await self._intercept(context, recorder)
        try:
            await asyncio.wait_for(self._steps(page, recorder), self.site.journey_timeout)
        except TimeoutError:
            self._problem(
                "journey-timeout",
                f"journey {self.label} hit its {self.site.journey_timeout:.0f}s limit",
            )
        if not self._closed and not self._crashed:
            await recorder.record_cookies(timeout=3.0)
        await recorder.settle(timeout=5.0)
        pages = recorder.pages()
        problems = self.problems + recorder.problems
        if recorder.committed_pages == 0:
            status = ScanStatus.FAILED
        elif problems:
            status = ScanStatus.PARTIAL
        else:
            status = ScanStatus.OK
        return Capture(
            site=self.site.name,
            journey=self.label,
            started_at=started,
            finished_at=datetime.now(UTC),
            status=status,
            pages=tuple(pages),
            problems=tuple(problems),
            bodies=dict(recorder.bodies),
            user_agent=self.user_agent,
            outbound=tuple(recorder.outbound),
            events=tuple(recorder.events) + tuple(self.intercepted),
            canary=self.canary,
            identity=self.identity,
        )

    async def _steps(self, page: Page, recorder: Recorder) -> None:
        steps = self.journey.steps
        for index, step in enumerate(steps):
            if self.on_step:
                self.on_step(self.label, index, len(steps), describe(step))
            if self._closed or self._crashed:
                code = "crash" if self._crashed else "page-closed"
                self._problem(
                    code,
                    f"the page {'crashed' if self._crashed else 'closed itself'}; journey stopped",
                    recorder.current_name,
                    index,
                )
                return
            recorder.begin_step(step.page, index)
            limit = step.timeout or self.site.step_timeout
            try:
                await asyncio.wait_for(self._do(page, recorder, step, limit), limit + NAVIGATION_GRACE + 2)
            except _StepFailed as err:
                code = "unreachable" if index == 0 and recorder.committed_pages == 0 else err.code
                self._problem(code, f"step {index + 1} ({describe(step)}): {err}", recorder.current_name, index)
                if not step.optional:
                    await self._snapshot(page, recorder)
                    return
            except TimeoutError:
                self._problem(
                    "step-timeout",
                    f"step {index + 1} ({describe(step)}) exceeded {limit:.0f}s",
                    recorder.current_name,
                    index,
                )
                if not step.optional:
                    await self._snapshot(page, recorder)
                    return
            if step.page and not recorder.navigated_in_step:
                recorder.label_current(step.page)
            # Forms and frames are read after steps that can change the document, and at the end.
            if step.action in SETTLE_AFTER or index == len(steps) - 1:
                await self._snapshot(page, recorder)

    async def _snapshot(self, page: Page, recorder: Recorder) -> None:
        if self._closed or self._crashed:
            return
        await recorder.snapshot_dom(timeout=min(5.0, self.site.step_timeout))

    async def _do(self, page: Page, recorder: Recorder, step: Step, limit: float) -> None:
        ms = limit * 1000
        try:
            if step.goto is not None:
                await page.goto(self.site.absolute(step.goto), wait_until="load", timeout=ms)
            elif step.click is not None:
                await page.click(step.click, timeout=ms)
            elif step.fill is not None:
                for selector, value in step.fill.items():
                    await page.fill(selector, fill_placeholders(value, self.canary), timeout=ms)
            elif step.select is not None:
                for selector, value in step.select.items():
                    await self._select(page, selector, value, ms)
            elif step.fill_card is not None:
                await self._fill_card(page, step, ms)
            elif step.submit is not None:
                await self._submit(page, step.submit, ms)
            elif step.wait_for is not None:
                await page.locator(step.wait_for).first.wait_for(state="attached", timeout=ms)
            elif step.wait is not None:
                await asyncio.sleep(step.wait)
            elif step.press is not None:
                await page.keyboard.press(step.press)
            if step.page and step.goto is None:
                await self._await_navigation(recorder, min(limit, NAVIGATION_GRACE))
            if step.action in SETTLE_AFTER:
                await self._settle(page)
        except PlaywrightTimeout as err:
            raise _StepFailed("step-timeout", _first_line(err)) from None
        except PlaywrightError as err:
            message = _first_line(err)
            code = "navigation-error" if step.goto is not None else "step-failed"
            if any(e in message for e in UNREACHABLE_ERRORS):
                code = "unreachable"
            raise _StepFailed(code, message) from None

    @staticmethod
    async def _await_navigation(recorder: Recorder, timeout: float) -> None:
        """A step with ``page:`` leads somewhere: give a late navigation (a pay button that first
        fetches a token, then submits) a bounded chance to start, so the page gets its name."""
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(recorder.navigation_started.wait(), timeout)

    @staticmethod
    async def _submit(page: Page, selector: str, ms: float) -> None:
        """Implicit submission, as a shopper does it: Enter in the form's first field."""
        target = page.locator(selector).first
        inner = target.locator("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea")
        if await inner.count() > 0:
            target = inner.first
        await target.press("Enter", timeout=ms)

    async def _settle(self, page: Page) -> None:
        """Let the page finish what the step started (navigation, late scripts), bounded by dwell."""
        with contextlib.suppress(PlaywrightError, PlaywrightTimeout):
            await page.wait_for_load_state("load", timeout=self.site.step_timeout * 1000)
        with contextlib.suppress(PlaywrightError, PlaywrightTimeout):
            await page.wait_for_load_state("networkidle", timeout=self.site.dwell * 1000)

    @staticmethod
    async def _select(scope: Page | FrameLocator, selector: str, value: str, ms: float) -> None:
        field = scope.locator(selector).first
        try:
            await field.select_option(value=value, timeout=ms)
        except PlaywrightError:
            await field.select_option(label=value, timeout=ms)

    async def _fill_card(self, page: Page, step: Step, ms: float) -> None:
        sel = step.fill_card
        assert sel is not None
        canary = self.canary
        scope: Page | FrameLocator = page.frame_locator(sel.frame) if sel.frame else page
        boxes = sel.number if isinstance(sel.number, list) else [sel.number]
        for selector, part in zip(boxes, split_digits(canary.card_number, len(boxes)), strict=True):
            await self._type(scope, selector, part, ms)
        if sel.expiry:
            await self._type(scope, sel.expiry, canary.expiry, ms)
        if sel.expiry_month and sel.expiry_year:
            await self._select(scope, sel.expiry_month, f"{canary.exp_month:02d}", ms)
            await self._select(scope, sel.expiry_year, str(canary.exp_year), ms)
        if sel.cvc:
            await self._type(scope, sel.cvc, canary.cvc, ms)
        if sel.name:
            await self._type(scope, sel.name, canary.holder, ms)

    @staticmethod
    async def _type(scope: Page | FrameLocator, selector: str, value: str, ms: float) -> None:
        """Type like a person: focus by click, real key events with small delays, then leave."""
        field = scope.locator(selector).first
        await field.click(timeout=ms)
        await field.press_sequentially(value, delay=TYPE_DELAY_MS, timeout=ms)
        await field.blur(timeout=ms)


def split_digits(number: str, boxes: int) -> list[str]:
    """A card number spread over ``boxes`` fields: 4 boxes of 4, or the last box takes the rest."""
    if boxes == 1:
        return [number]
    size = -(-len(number) // boxes)
    return [number[i * size : (i + 1) * size] if i < boxes - 1 else number[i * size :] for i in range(boxes)]


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


async def run_journey(
    browser: Browser,
    site: Site,
    journey: Journey,
    canary: CanaryIdentity,
    on_step: StepCallback | None = None,
    *,
    identity: Identity | None = None,
    label: str | None = None,
) -> Capture:
    """Run ``journey`` in a fresh context of ``browser`` as ``identity`` (default: the site's);
    ``label`` names the run (``checkout@mobile-en-US`` for a second pass). The context is always
    closed."""
    identity = identity or site.identity
    context, user_agent = await new_scan_context(browser, identity)
    try:
        runner = JourneyRunner(site, journey, canary, on_step, user_agent, label=label, identity=identity.label)
        return await runner.run(context)
    finally:
        with contextlib.suppress(PlaywrightError, TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(context.close(), 15)
