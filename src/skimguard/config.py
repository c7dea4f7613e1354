"""Load and validate ``skimguard.yaml``.

The file is parsed with PyYAML's safe loader and validated with pydantic. Any problem raises
:class:`ConfigError` whose message names the file, the field path and what is wrong, e.g.
``skimguard.yaml: sites[0].journeys[0].steps[2]: a step needs exactly one action``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from skimguard.errors import ConfigError
from skimguard.models import Severity

CONFIG_FILENAME = "skimguard.yaml"
ACTIONS = ("goto", "click", "fill", "select", "fill_card", "submit", "wait_for", "wait", "press")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def parse_duration(value: object) -> float:
    """``"15s"``, ``"2m"``, ``"1h"``, ``"500ms"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 2m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as 15s, 2m or 1h, got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError("a duration must be a finite number")
    if seconds <= 0:
        raise ValueError("a duration must be greater than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# Journeys
# --------------------------------------------------------------------------------------------


class CardSelectors(_Strict):
    """Where ``fill_card`` types the test card. Give ``expiry`` or ``expiry_month``+``expiry_year``.

    ``number`` is one selector, or a list of selectors for a number split over several boxes (the
    digits are spread evenly, e.g. 4 boxes of 4). ``frame`` is the selector of the iframe that
    holds the fields (a payment provider's hosted fields), when they are not in the page itself.
    """

    number: str | list[str]
    frame: str | None = None
    expiry: str | None = None
    expiry_month: str | None = None
    expiry_year: str | None = None
    cvc: str | None = None
    name: str | None = None

    @field_validator("number")
    @classmethod
    def _boxes(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not 1 <= len(value) <= 8:
            raise ValueError("a split card number has 1 to 8 boxes")
        return value

    @model_validator(mode="after")
    def _expiry_shape(self) -> CardSelectors:
        if self.expiry and (self.expiry_month or self.expiry_year):
            raise ValueError("give either expiry or expiry_month/expiry_year, not both")
        if bool(self.expiry_month) != bool(self.expiry_year):
            raise ValueError("expiry_month and expiry_year go together")
        return self


class Step(_Strict):
    """One journey step: exactly one action, an optional page name and timeout.

    ``page`` names the page this step leads to (the document shown after it); pages are compared
    with the baseline by name, so name them (``cart``, ``payment``) rather than rely on URL paths.
    """

    goto: str | None = None
    click: str | None = None
    fill: dict[str, str] | None = None
    select: dict[str, str] | None = None
    fill_card: CardSelectors | None = None
    submit: str | None = None
    wait_for: str | None = None
    wait: Duration | None = None
    press: str | None = None
    page: str | None = Field(default=None, max_length=80)
    timeout: Duration | None = None
    optional: bool = False

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        present = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(present) != 1:
            got = ", ".join(present) if present else "none"
            raise ValueError(f"a step needs exactly one action of {', '.join(ACTIONS)} (got {got})")
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)


class Journey(_Strict):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    steps: list[Step] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _starts_with_goto(cls, steps: list[Step]) -> list[Step]:
        if steps[0].goto is None:
            raise ValueError("the first step of a journey must be a goto")
        return steps


# --------------------------------------------------------------------------------------------
# Sites
# --------------------------------------------------------------------------------------------


DESKTOP_VIEWPORT = (1366, 900)
MOBILE_VIEWPORT = (390, 844)
# Named identities: ``identity: mobile-en`` in the config is short for the mapping it names.
IDENTITY_PRESETS: dict[str, dict[str, Any]] = {
    "desktop-ja": {"device": "desktop", "locale": "ja-JP", "timezone": "Asia/Tokyo"},
    "desktop-en": {"device": "desktop", "locale": "en-US", "timezone": "America/New_York"},
    "mobile-ja": {"device": "mobile", "locale": "ja-JP", "timezone": "Asia/Tokyo"},
    "mobile-en": {"device": "mobile", "locale": "en-US", "timezone": "America/New_York"},
}


def _identity_preset(value: object) -> object:
    if isinstance(value, str):
        preset = IDENTITY_PRESETS.get(value.strip().lower())
        if preset is None:
            raise ValueError(f"unknown identity {value!r} (presets: {', '.join(IDENTITY_PRESETS)})")
        return dict(preset)
    return value


class Identity(_Strict):
    """The browser a scan pretends to be: a device class, a language and a time zone.

    Skimmers skip visitors by language or device, so a site can add a ``second_pass`` with
    another identity. ``desktop`` is a Chrome on Linux; ``mobile`` a Chrome on Android with touch,
    a phone viewport and device pixel ratio 3. Viewport and user agent follow the device unless
    given."""

    device: Literal["desktop", "mobile"] = "desktop"
    user_agent: str | None = Field(default=None, max_length=400)  # None: the real Chromium UA, not "Headless"
    locale: str = Field(default="ja-JP", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    timezone: str = Field(default="Asia/Tokyo", max_length=64)
    viewport_width: int | None = Field(default=None, ge=200, le=4000)
    viewport_height: int | None = Field(default=None, ge=200, le=4000)

    @property
    def mobile(self) -> bool:
        return self.device == "mobile"

    @property
    def viewport(self) -> tuple[int, int]:
        width, height = MOBILE_VIEWPORT if self.mobile else DESKTOP_VIEWPORT
        return self.viewport_width or width, self.viewport_height or height

    @property
    def label(self) -> str:
        """``mobile-en-US``: how captures and findings name the identity."""
        return f"{self.device}-{self.locale}"


IdentityField = Annotated[Identity, BeforeValidator(_identity_preset)]


class Schedule(_Strict):
    every: Duration = 3600.0


class Site(_Strict):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    base_url: str
    payment_hosts: list[str] = Field(default_factory=list)
    # URL prefixes on the shop's own host that receive card data on purpose (server-side payment
    # integrations); anywhere else on the own host, card data is a finding.
    card_endpoints: list[str] = Field(default_factory=list)
    hosts: dict[str, str] = Field(default_factory=dict)
    block_unmapped_hosts: bool = False
    journeys: list[Journey] = Field(min_length=1)
    schedule: Schedule = Field(default_factory=Schedule)
    identity: IdentityField = Field(default_factory=Identity)
    # Run every journey once more as another identity (device, language): skimmers that only
    # show themselves to some visitors are caught by one of the two passes.
    second_pass: IdentityField | None = None
    # The final submit to the payment provider (a POST that navigates to a payment host) is
    # answered by skimguard itself, so no real transaction is attempted; ``intercept`` adds URL
    # patterns (globs such as ``*/checkout/complete*``) whose requests are answered the same way.
    intercept_payment_submit: bool = True
    intercept: list[str] = Field(default_factory=list, max_length=50)
    step_timeout: Duration = 20.0
    journey_timeout: Duration = 180.0
    dwell: Duration = 1.0  # time to wait after a step that navigates, for late scripts
    max_script_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return value if value.endswith("/") or parts.path else value + "/"

    @field_validator("payment_hosts")
    @classmethod
    def _hostnames(cls, hosts: list[str]) -> list[str]:
        out = []
        for h in hosts:
            h = h.strip().lower()
            if not _HOSTNAME.match(h):
                raise ValueError(f"{h!r} is not a host name (use pay.example.com or *.example.com)")
            out.append(h)
        return out

    @field_validator("hosts")
    @classmethod
    def _host_map(cls, hosts: dict[str, str]) -> dict[str, str]:
        for name, address in hosts.items():
            if not _HOSTNAME.match(name.lower()) or name.startswith("*"):
                raise ValueError(f"{name!r} is not a host name")
            if not address or any(c in address for c in ", "):
                raise ValueError(f"address for {name!r} must be an IP or host, got {address!r}")
        return {k.lower(): v for k, v in hosts.items()}

    @field_validator("intercept")
    @classmethod
    def _globs(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            if not p.strip() or len(p) > 500:
                raise ValueError(f"{p!r} is not a URL pattern (use globs such as */checkout/complete*)")
        return patterns

    @model_validator(mode="after")
    def _distinct_passes(self) -> Site:
        if self.second_pass is not None and self.second_pass.label == self.identity.label:
            raise ValueError(
                f"second_pass must differ from identity in device or locale (both are {self.identity.label})"
            )
        return self

    @field_validator("journeys")
    @classmethod
    def _unique_journeys(cls, journeys: list[Journey]) -> list[Journey]:
        names = [j.name for j in journeys]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"journey names must be unique: {', '.join(dupes)}")
        return journeys

    @property
    def host(self) -> str:
        return (urlsplit(self.base_url).hostname or "").lower()

    def absolute(self, url: str) -> str:
        return urljoin(self.base_url, url)

    def is_payment_host(self, host: str) -> bool:
        host = host.lower()
        for pattern in self.payment_hosts:
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]):
                    return True
            elif host == pattern:
                return True
        return False

    def is_own_host(self, host: str) -> bool:
        host = host.lower()
        return host == self.host or host.endswith("." + self.host)


# --------------------------------------------------------------------------------------------
# Alerts
# --------------------------------------------------------------------------------------------


class ConsoleSink(_Strict):
    type: Literal["console"]


class WebhookSink(_Strict):
    type: Literal["webhook"]
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return value


class EmailSink(_Strict):
    type: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password_env: str | None = None  # name of the environment variable holding the password
    starttls: bool = True
    timeout: Duration = 15.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Sink = Annotated[ConsoleSink | WebhookSink | EmailSink, Field(discriminator="type")]


class Alerts(_Strict):
    min_severity: Severity = Severity.HIGH
    sinks: list[Sink] = Field(default_factory=lambda: list[Sink]([ConsoleSink(type="console")]))

    @field_validator("min_severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> Severity:
        if isinstance(value, str | Severity):
            return Severity.parse(value)
        raise ValueError("expected one of info|low|medium|high|critical")


# --------------------------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------------------------


class Deadlines(_Strict):
    """The regulatory clocks ``skimguard incident status`` shows (defaults: Japan's APPI as the
    founding incidents met it). Days are calendar days in the shop's zone."""

    preliminary_target_days: tuple[int, int] = (3, 5)  # "promptly": aim for day 3, due by day 5
    final_days: int = Field(default=30, ge=1, le=3650)
    final_days_wrongful_purpose: int = Field(default=60, ge=1, le=3650)  # skimming is an attack
    people_threshold: int = Field(default=1000, ge=0)  # reportable on its own above this many people
    known_day_is_day_one: bool = True
    notice_days: int | None = Field(default=None, ge=1, le=3650)  # None: "promptly", no fixed day

    @field_validator("preliminary_target_days")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 < value[0] <= value[1]:
            raise ValueError("must be [from, to] with 0 < from <= to")
        return value


class IncidentSettings(_Strict):
    """Facts about the shop the incident drafts need, and the deadlines."""

    zone: str = Field(default="Asia/Tokyo", max_length=64)  # how times are shown and days counted
    operator: str | None = Field(default=None, max_length=200)  # the company running the shop
    shop_name: str | None = Field(default=None, max_length=200)
    deadlines: Deadlines = Field(default_factory=Deadlines)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Tokyo)") from None
        return value


class Config(_Strict):
    version: Literal[1] = 1
    database: str | None = None  # SQLAlchemy URL; default: sqlite file beside the config
    sites: list[Site] = Field(min_length=1)
    alerts: Alerts = Field(default_factory=Alerts)
    incident: IncidentSettings = Field(default_factory=IncidentSettings)
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("sites")
    @classmethod
    def _unique_sites(cls, sites: list[Site]) -> list[Site]:
        names = [s.name for s in sites]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"site names must be unique: {', '.join(dupes)}")
        return sites

    def site(self, name: str) -> Site:
        for s in self.sites:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sites)
        raise ConfigError(f"no site named {name!r} in the config (sites: {known})")

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        base = self.path.parent if self.path else Path.cwd()
        return f"sqlite:///{(base / 'skimguard.db').resolve()}"


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (
            part in ("function-after[_one_action()]",)
            or part.startswith(("function-", "tagged-"))
            or part in ("console", "webhook", "email")
        ):
            continue
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    where = _loc(tuple(first["loc"]))
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    return f"{source}: {where}: {msg}{more}"


def config_from_dict(data: Mapping[str, Any], source: str = "<config>", path: Path | None = None) -> Config:
    try:
        return Config.model_validate({**data, "path": path})
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from None


MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: Path | str) -> Config:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (create one with `skimguard init`)",
            hint="run `skimguard init` here, or point --config / SKIMGUARD_CONFIG at your file",
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping with a `sites:` list")
    return config_from_dict(data, source=str(path), path=path.resolve())
