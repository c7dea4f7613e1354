"""``skimguard.config``: loading ``skimguard.yaml``, its defaults and every way it can be wrong.

Every malformed file must raise :class:`ConfigError` whose message starts with the file name and
names the field path (``sites[0].journeys[0].steps[1]``) before saying what is wrong.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from skimguard.config import (
    MAX_CONFIG_BYTES,
    CardSelectors,
    Config,
    ConsoleSink,
    EmailSink,
    Site,
    WebhookSink,
    config_from_dict,
    load_config,
    parse_duration,
)
from skimguard.errors import ConfigError, SkimguardError
from skimguard.models import Severity

FULL = """\
version: 1
alerts:
  min_severity: medium
  sinks:
    - type: console
    - type: webhook
      url: https://chat.example.jp/hooks/abc
      headers: {Authorization: "Bearer t0ken"}
      timeout: 5s
    - type: email
      smtp_host: smtp.example.jp
      smtp_port: 465
      from: skimguard@example.jp
      to: [security@example.jp, ops@example.jp]
      username: skimguard
      password_env: SKIMGUARD_SMTP_PASSWORD
      starttls: false
sites:
  - name: shop
    base_url: https://shop.test
    payment_hosts: [" Pay.PSP.test ", "*.tokens.psp.test"]
    hosts:
      shop.test: 127.0.0.1
      CDN.Vendor.test: 127.0.0.2
    block_unmapped_hosts: true
    schedule: {every: 15m}
    identity:
      user_agent: Mozilla/5.0 (test)
      locale: en-US
      timezone: UTC
      viewport_width: 390
      viewport_height: 844
    step_timeout: 15s
    journey_timeout: 2m
    dwell: 500ms
    max_script_bytes: 2048
    journeys:
      - name: checkout
        steps:
          - goto: /products/1
            page: product
          - click: "#add-to-cart"
            page: cart
            timeout: 90
          - fill:
              "#name": 山田 太郎
              "#email": taro@example.jp
          - select: {"#prefecture": 東京都}
          - fill_card:
              number: "#card-number"
              expiry: "#card-expiry"
              cvc: "#card-cvc"
              name: "#card-name"
          - submit: "form#payment"
            page: confirm
          - wait_for: "#done"
          - wait: 2
          - press: Enter
            optional: true
      - name: two-selects
        steps:
          - goto: https://shop.test/pay
          - fill_card: {number: "#n", expiry_month: "#m", expiry_year: "#y", cvc: "#c"}
          - wait: "1.5m"
"""

MINIMAL = """\
sites:
  - name: shop
    base_url: https://shop.test/
    journeys:
      - name: checkout
        steps:
          - goto: /
"""


def write(tmp_path: Path, text: str | bytes, name: str = "skimguard.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def minimal(**site: Any) -> dict[str, Any]:
    """A valid config as a dict, with ``site`` merged into its only site."""
    return {
        "sites": [
            {
                "name": "shop",
                "base_url": "https://shop.test/",
                "journeys": [{"name": "checkout", "steps": [{"goto": "/"}]}],
                **site,
            }
        ]
    }


def with_steps(*steps: dict[str, Any]) -> dict[str, Any]:
    return minimal(journeys=[{"name": "checkout", "steps": [{"goto": "/"}, *steps]}])


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


# ------------------------------------------------------------------------------ a valid file


def test_full_config_loads_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path)

    assert config.version == 1
    assert config.path == path.resolve()
    (site,) = config.sites
    assert site.name == "shop"
    assert site.base_url == "https://shop.test/"  # a bare host gets its slash
    assert site.host == "shop.test"
    assert site.payment_hosts == ["pay.psp.test", "*.tokens.psp.test"]  # stripped, lower-cased
    assert site.hosts == {"shop.test": "127.0.0.1", "cdn.vendor.test": "127.0.0.2"}
    assert site.block_unmapped_hosts is True
    assert site.schedule.every == 900.0
    assert site.identity.user_agent == "Mozilla/5.0 (test)"
    assert (site.identity.locale, site.identity.timezone) == ("en-US", "UTC")
    assert (site.identity.viewport_width, site.identity.viewport_height) == (390, 844)
    assert (site.step_timeout, site.journey_timeout, site.dwell) == (15.0, 120.0, 0.5)
    assert site.max_script_bytes == 2048

    checkout, two = site.journeys
    assert checkout.name == "checkout"
    assert [s.action for s in checkout.steps] == [
        "goto", "click", "fill", "select", "fill_card", "submit", "wait_for", "wait", "press",
    ]
    steps = checkout.steps
    assert (steps[0].goto, steps[0].page) == ("/products/1", "product")
    assert (steps[1].click, steps[1].page, steps[1].timeout) == ("#add-to-cart", "cart", 90.0)
    assert steps[2].fill == {"#name": "山田 太郎", "#email": "taro@example.jp"}
    assert steps[3].select == {"#prefecture": "東京都"}
    assert steps[4].fill_card == CardSelectors(
        number="#card-number", expiry="#card-expiry", cvc="#card-cvc", name="#card-name"
    )
    assert (steps[5].submit, steps[5].page) == ("form#payment", "confirm")
    assert steps[6].wait_for == "#done"
    assert steps[7].wait == 2.0
    assert (steps[8].press, steps[8].optional) == ("Enter", True)
    assert steps[0].optional is False
    assert steps[0].timeout is None

    assert two.name == "two-selects"
    card = two.steps[1].fill_card
    assert card is not None
    assert (card.number, card.expiry, card.expiry_month, card.expiry_year, card.cvc, card.name) == (
        "#n", None, "#m", "#y", "#c", None,
    )
    assert two.steps[2].wait == 90.0

    alerts = config.alerts
    assert alerts.min_severity is Severity.MEDIUM
    console, webhook, email = alerts.sinks
    assert isinstance(console, ConsoleSink)
    assert isinstance(webhook, WebhookSink)
    assert webhook.url == "https://chat.example.jp/hooks/abc"
    assert webhook.headers == {"Authorization": "Bearer t0ken"}
    assert webhook.timeout == 5.0
    assert isinstance(email, EmailSink)
    assert (email.smtp_host, email.smtp_port, email.sender) == ("smtp.example.jp", 465, "skimguard@example.jp")
    assert email.to == ["security@example.jp", "ops@example.jp"]
    assert (email.username, email.password_env, email.starttls) == (
        "skimguard", "SKIMGUARD_SMTP_PASSWORD", False,
    )
    assert email.timeout == 15.0


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))

    assert config.version == 1
    assert config.database is None
    assert config.database_url == f"sqlite:///{(tmp_path / 'skimguard.db').resolve()}"
    assert config.alerts.min_severity is Severity.HIGH
    assert config.alerts.sinks == [ConsoleSink(type="console")]
    site = config.sites[0]
    assert site.identity.locale == "ja-JP"
    assert site.identity.timezone == "Asia/Tokyo"
    assert site.identity.user_agent is None
    assert site.identity.viewport == (1366, 900)
    assert (site.identity.device, site.identity.label) == ("desktop", "desktop-ja-JP")
    assert site.second_pass is None
    assert site.intercept_payment_submit is True
    assert site.schedule.every == 3600.0
    assert (site.step_timeout, site.journey_timeout, site.dwell) == (20.0, 180.0, 1.0)
    assert site.max_script_bytes == 5 * 1024 * 1024
    assert (site.payment_hosts, site.hosts, site.block_unmapped_hosts) == ([], {}, False)


def test_default_database_is_beside_the_config_even_when_loaded_by_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    write(tmp_path / "etc", MINIMAL)
    monkeypatch.chdir(tmp_path)
    config = load_config("etc/skimguard.yaml")
    monkeypatch.chdir("/")  # the URL must not depend on the working directory any more
    assert config.database_url == f"sqlite:///{(tmp_path / 'etc' / 'skimguard.db').resolve()}"


def test_explicit_database_url_is_used_verbatim(tmp_path: Path) -> None:
    url = "postgresql+psycopg://skimguard@db.internal/skimguard"
    config = load_config(write(tmp_path, f"database: {url}\n" + MINIMAL))
    assert config.database_url == url


def test_email_sink_accepts_sender_by_field_name() -> None:
    sink_data = {"type": "email", "smtp_host": "h", "sender": "a@b.jp", "to": ["c@d.jp"]}
    data = {**minimal(), "alerts": {"sinks": [sink_data]}}
    (sink,) = config_from_dict(data).alerts.sinks
    assert isinstance(sink, EmailSink)
    assert (sink.sender, sink.smtp_port, sink.starttls) == ("a@b.jp", 587, True)


def test_severity_is_case_insensitive() -> None:
    config = config_from_dict({**minimal(), "alerts": {"min_severity": " Critical "}})
    assert config.alerts.min_severity is Severity.CRITICAL


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL.encode("utf-8-sig")))
    assert config.sites[0].name == "shop"


def test_file_of_exactly_the_size_limit_loads(tmp_path: Path) -> None:
    text = MINIMAL.encode() + b"#" * (MAX_CONFIG_BYTES - len(MINIMAL.encode()) - 1) + b"\n"
    assert len(text) == MAX_CONFIG_BYTES
    assert load_config(write(tmp_path, text)).sites[0].name == "shop"


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ValueError, match="frozen"):
        config.sites[0].name = "other"  # type: ignore[misc]


def test_site_lookup(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.site("shop") is config.sites[0]
    with pytest.raises(ConfigError, match=r"^no site named 'nope' in the config \(sites: shop\)$"):
        config.site("nope")


# ------------------------------------------------------------------------------ malformed files

# (config as a dict, field path, fragment of what is wrong)
MALFORMED: list[Any] = [
    pytest.param({"version": 1}, "sites", "Field required", id="missing-sites"),
    pytest.param({"sites": []}, "sites", "at least 1 item", id="empty-sites"),
    pytest.param(
        minimal(payment_host=["pay.psp.test"]), "sites[0].payment_host", "Extra inputs are not permitted",
        id="unknown-key-typo",
    ),
    pytest.param(
        with_steps({"click": "#buy", "fill": {"#q": "1"}}),
        "sites[0].journeys[0].steps[1]",
        "a step needs exactly one action of goto, click, fill, select, fill_card, submit, wait_for, wait, "
        "press (got click, fill)",
        id="two-actions",
    ),
    pytest.param(
        with_steps({"page": "cart"}), "sites[0].journeys[0].steps[1]", "a step needs exactly one action",
        id="no-action",
    ),
    pytest.param(
        with_steps({"goto": None}), "sites[0].journeys[0].steps[1]", "(got none)", id="null-action",
    ),
    pytest.param(
        minimal(journeys=[{"name": "checkout", "steps": [{"click": "#buy"}, {"goto": "/"}]}]),
        "sites[0].journeys[0].steps",
        "the first step of a journey must be a goto",
        id="first-step-not-goto",
    ),
    pytest.param(
        minimal(journeys=[{"name": "checkout", "steps": []}]), "sites[0].journeys[0].steps", "at least 1 item",
        id="no-steps",
    ),
    pytest.param(minimal(journeys=[]), "sites[0].journeys", "at least 1 item", id="no-journeys"),
    pytest.param(
        minimal(step_timeout="fast"),
        "sites[0].step_timeout",
        "expected a duration such as 15s, 2m or 1h, got 'fast'",
        id="bad-duration",
    ),
    pytest.param(
        with_steps({"wait": "soon"}), "sites[0].journeys[0].steps[1].wait", "got 'soon'", id="bad-wait",
    ),
    pytest.param(
        with_steps({"click": "#x", "timeout": "15 seconds"}),
        "sites[0].journeys[0].steps[1].timeout",
        "got '15 seconds'",
        id="bad-step-timeout",
    ),
    pytest.param(
        minimal(journey_timeout=-5), "sites[0].journey_timeout", "a duration must be greater than zero",
        id="negative-duration",
    ),
    pytest.param(minimal(dwell="-5s"), "sites[0].dwell", "got '-5s'", id="negative-duration-string"),
    pytest.param(
        minimal(schedule={"every": "0s"}), "sites[0].schedule.every", "a duration must be greater than zero",
        id="zero-duration",
    ),
    pytest.param(
        with_steps({"wait": True}), "sites[0].journeys[0].steps[1].wait", "expected a duration", id="bool-duration",
    ),
    pytest.param(
        minimal(base_url="ftp://shop.test/"),
        "sites[0].base_url",
        "must be an http(s) URL with a host, got 'ftp://shop.test/'",
        id="ftp-base-url",
    ),
    pytest.param(
        minimal(base_url="shop.test"), "sites[0].base_url", "got 'shop.test'", id="base-url-without-scheme",
    ),
    pytest.param(minimal(base_url="https:///x"), "sites[0].base_url", "with a host", id="base-url-without-host"),
    pytest.param(
        minimal(payment_hosts=["pay.psp.test", "pay psp"]),
        "sites[0].payment_hosts",
        "'pay psp' is not a host name (use pay.example.com or *.example.com)",
        id="bad-payment-host",
    ),
    pytest.param(
        minimal(payment_hosts=["https://pay.psp.test"]), "sites[0].payment_hosts",
        "'https://pay.psp.test' is not a host name", id="payment-host-is-url",
    ),
    pytest.param(
        minimal(payment_hosts=["pay.*.test"]), "sites[0].payment_hosts", "'pay.*.test' is not a host name",
        id="payment-host-inner-wildcard",
    ),
    pytest.param(
        minimal(hosts={"*.shop.test": "127.0.0.1"}), "sites[0].hosts", "'*.shop.test' is not a host name",
        id="wildcard-in-hosts-map",
    ),
    pytest.param(
        minimal(hosts={"shop.test": "127.0.0.1, 10.0.0.2"}),
        "sites[0].hosts",
        "address for 'shop.test' must be an IP or host, got '127.0.0.1, 10.0.0.2'",
        id="hosts-map-two-addresses",
    ),
    pytest.param(
        minimal(name="my shop"), "sites[0].name", "String should match pattern", id="site-name-with-space",
    ),
    pytest.param(
        minimal(identity="tablet-fr"), "sites[0].identity", "unknown identity 'tablet-fr' (presets: desktop-ja",
        id="unknown-identity-preset",
    ),
    pytest.param(
        minimal(identity={"device": "watch"}), "sites[0].identity.device", "Input should be 'desktop' or 'mobile'",
        id="unknown-device",
    ),
    pytest.param(
        minimal(second_pass="desktop-ja"), "sites[0]", "second_pass must differ from identity",
        id="second-pass-same-identity",
    ),
    pytest.param(
        minimal(intercept=[" "]), "sites[0].intercept", "is not a URL pattern", id="blank-intercept-pattern",
    ),
    pytest.param(
        minimal(identity={"viewport_width": 50}), "sites[0].identity.viewport_width", "greater than or equal to 200",
        id="tiny-viewport",
    ),
    pytest.param(
        with_steps({"fill_card": {"number": "#n", "expiry": "#e", "expiry_month": "#m"}}),
        "sites[0].journeys[0].steps[1].fill_card",
        "give either expiry or expiry_month/expiry_year, not both",
        id="fill-card-both-expiries",
    ),
    pytest.param(
        with_steps({"fill_card": {"number": "#n", "expiry_month": "#m"}}),
        "sites[0].journeys[0].steps[1].fill_card",
        "expiry_month and expiry_year go together",
        id="fill-card-month-without-year",
    ),
    pytest.param(
        with_steps({"fill_card": {"expiry": "#e"}}),
        "sites[0].journeys[0].steps[1].fill_card.number",
        "Field required",
        id="fill-card-without-number",
    ),
    pytest.param(
        {**minimal(), "alerts": {"min_severity": "urgent"}},
        "alerts.min_severity",
        "unknown severity 'urgent' (expected info|low|medium|high|critical)",
        id="bad-severity",
    ),
    pytest.param(
        {**minimal(), "alerts": {"min_severity": 3}},
        "alerts.min_severity",
        "expected one of info|low|medium|high|critical",
        id="numeric-severity",
    ),
    pytest.param(
        {**minimal(), "alerts": {"sinks": [{"type": "webhook", "url": "ftp://hooks.example.jp/x"}]}},
        "alerts.sinks[0].url",
        "must be an http(s) URL",
        id="webhook-not-http",
    ),
    pytest.param(
        {**minimal(), "alerts": {"sinks": [
            {"type": "console"}, {"type": "email", "smtp_host": "smtp.example.jp", "from": "a@example.jp"},
        ]}},
        "alerts.sinks[1].to",
        "Field required",
        id="email-without-to",
    ),
    pytest.param(
        {**minimal(), "alerts": {"sinks": [
            {"type": "email", "smtp_host": "smtp.example.jp", "from": "a@example.jp", "to": []},
        ]}},
        "alerts.sinks[0].to",
        "at least 1 item",
        id="email-empty-to",
    ),
    pytest.param(
        {**minimal(), "alerts": {"sinks": [{"type": "slack"}]}}, "alerts.sinks[0]", "'slack'", id="unknown-sink",
    ),
    pytest.param({**minimal(), "version": 2}, "version", "Input should be 1", id="future-version"),
    pytest.param(
        minimal(base_url="ftp://x/", dwell="fast"), "sites[0].base_url", "(and 1 more problem(s))",
        id="several-problems",
    ),
]


@pytest.mark.parametrize(("data", "where", "what"), MALFORMED)
def test_malformed_config_names_file_and_field(tmp_path: Path, data: Any, where: str, what: str) -> None:
    path = write(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    message = load_error(path)
    assert message.startswith(f"{path}: {where}: "), message
    assert what in message


DUPLICATES = [
    pytest.param({"sites": minimal()["sites"] * 2}, "sites", "site names must be unique: shop", id="sites"),
    pytest.param(
        minimal(journeys=[{"name": "checkout", "steps": [{"goto": "/"}]}] * 2),
        "sites[0].journeys",
        "journey names must be unique: checkout",
        id="journeys",
    ),
]


@pytest.mark.parametrize(("data", "where", "what"), DUPLICATES)
def test_duplicate_names_are_rejected(tmp_path: Path, data: Any, where: str, what: str) -> None:
    path = write(tmp_path, yaml.safe_dump(data))
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert message.endswith(f": {what}")


@pytest.mark.parametrize(("data", "where", "what"), DUPLICATES)
def test_duplicate_names_point_at_the_list(tmp_path: Path, data: Any, where: str, what: str) -> None:
    path = write(tmp_path, yaml.safe_dump(data))
    assert load_error(path) == f"{path}: {where}: {what}"


def test_webhook_url_needs_a_host(tmp_path: Path) -> None:
    data = {**minimal(), "alerts": {"sinks": [{"type": "webhook", "url": "https:/chat.example.jp/hooks/abc"}]}}
    path = write(tmp_path, yaml.safe_dump(data))
    assert load_error(path).startswith(f"{path}: alerts.sinks[0].url: ")


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "sites:\n  - name: shop\n   base_url: https://shop.test/\n")
    message = load_error(path)
    assert message.startswith(f"{path}: line 3, column 4: invalid YAML: "), message
    assert "expected <block end>" in message


def test_unclosed_flow_sequence(tmp_path: Path) -> None:
    path = write(tmp_path, "sites:\n  - name: [shop\n")
    assert load_error(path).startswith(f"{path}: line 3, column 1: invalid YAML: expected ',' or ']'")


def test_python_tags_are_not_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write(tmp_path, f"sites: !!python/object/apply:os.system ['touch {marker}']\n")
    message = load_error(path)
    assert message.startswith(f"{path}: line 1, column 8: invalid YAML: ")
    assert "could not determine a constructor" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "text", ["- a\n- b\n", "just a string\n", "", "# only a comment\n", "42\n"],
    ids=["list", "string", "empty", "comment", "number"],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert load_error(path) == f"{path}: (top level): expected a mapping with a `sites:` list"


def test_missing_file_suggests_init(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    assert load_error(path) == f"{path}: no such file (create one with `skimguard init`)"


def test_directory_is_not_readable(tmp_path: Path) -> None:
    assert load_error(tmp_path) == f"{tmp_path}: cannot read: Is a directory"


def test_shift_jis_file_is_rejected(tmp_path: Path) -> None:
    text = MINIMAL.replace("name: shop", "name: shop  # 本店")
    path = write(tmp_path, text.encode("shift_jis"))
    assert load_error(path) == f"{path}: not UTF-8 text"


def test_file_over_one_mebibyte_is_rejected_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.encode() + b"#" * MAX_CONFIG_BYTES)
    assert load_error(path) == f"{path}: larger than 1048576 bytes"


def test_config_error_is_a_skimguard_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml")
    assert isinstance(info.value, SkimguardError)
    assert info.value.hint is not None
    assert "skimguard init" in info.value.hint
    assert info.value.__cause__ is None


def test_config_from_dict_uses_the_source_name() -> None:
    with pytest.raises(ConfigError, match=r"^inline: sites: Field required$"):
        config_from_dict({}, source="inline")


# ------------------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("15s", 15.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        ("1.5m", 90.0),
        (" 15 s ", 15.0),
        ("15", 15.0),
        (90, 90.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fast", "expected a duration such as 15s, 2m or 1h, got 'fast'"),
        ("15sec", "got '15sec'"),
        ("1h30m", "got '1h30m'"),
        ("", "got ''"),
        (None, "got None"),
        ([15], "got [15]"),
        (True, "expected a duration such as 15s, 2m or 1h"),
        (False, "expected a duration such as 15s, 2m or 1h"),
        (0, "a duration must be greater than zero"),
        ("0s", "a duration must be greater than zero"),
        (-1, "a duration must be greater than zero"),
        (-0.5, "a duration must be greater than zero"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert message in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
def test_parse_duration_rejects_non_finite(value: float) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


# ------------------------------------------------------------------------------ site helpers


def site(**kw: Any) -> Site:
    config: Config = config_from_dict(minimal(**kw))
    return config.sites[0]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("pay.psp.test", True),
        ("PAY.PSP.TEST", True),
        ("a.tokens.psp.test", True),
        ("x.y.tokens.psp.test", True),
        ("tokens.psp.test", False),  # "*.tokens.psp.test" means a subdomain, not the domain itself
        ("eviltokens.psp.test", False),
        ("pay.psp.test.evil.test", False),
        ("psp.test", False),
        ("x.pay.psp.test", False),  # an exact entry does not cover subdomains
        ("shop.test", False),
        ("", False),
    ],
)
def test_is_payment_host(host: str, expected: bool) -> None:
    s = site(payment_hosts=["Pay.PSP.test", "*.tokens.psp.test"])
    assert s.is_payment_host(host) is expected


def test_star_pattern_does_not_match_a_longer_label() -> None:
    s = site(payment_hosts=["*.psp.test"])
    assert s.is_payment_host("a.psp.test") is True
    assert s.is_payment_host("evilpsp.test") is False
    assert s.is_payment_host("psp.test") is False


def test_no_payment_hosts_matches_nothing() -> None:
    assert site().is_payment_host("pay.psp.test") is False


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("shop.test", True),
        ("SHOP.test", True),
        ("cdn.shop.test", True),
        ("a.b.shop.test", True),
        ("evilshop.test", False),
        ("shop.test.evil.test", False),
        ("test", False),
        ("", False),
    ],
)
def test_is_own_host(host: str, expected: bool) -> None:
    assert site(base_url="https://Shop.Test/jp/").is_own_host(host) is expected


@pytest.mark.parametrize(
    ("base", "url", "expected"),
    [
        ("https://shop.test", "/products/1", "https://shop.test/products/1"),
        ("https://shop.test/", "products/1", "https://shop.test/products/1"),
        ("https://shop.test/jp/", "cart", "https://shop.test/jp/cart"),
        ("https://shop.test/jp/", "/cart", "https://shop.test/cart"),
        ("https://shop.test/", "https://pay.psp.test/form", "https://pay.psp.test/form"),
        ("https://shop.test/", "//cdn.vendor.test/a.js", "https://cdn.vendor.test/a.js"),
        ("http://shop.test:8080/", "/x?y=1#z", "http://shop.test:8080/x?y=1#z"),
        ("https://shop.test/", "", "https://shop.test/"),
    ],
)
def test_absolute(base: str, url: str, expected: str) -> None:
    assert site(base_url=base).absolute(url) == expected


def test_host_of_a_base_url_with_port() -> None:
    s = site(base_url="http://Shop.Test:8080/jp")
    assert s.host == "shop.test"
    assert s.base_url == "http://Shop.Test:8080/jp"  # a path is kept as given


def test_identity_presets_and_second_pass() -> None:
    config = config_from_dict(minimal(identity="desktop-en", second_pass={"device": "mobile", "locale": "ja-JP"}))
    (site,) = config.sites
    assert (site.identity.label, site.identity.timezone, site.identity.viewport) == (
        "desktop-en-US",
        "America/New_York",
        (1366, 900),
    )
    assert site.second_pass is not None
    assert (site.second_pass.label, site.second_pass.mobile, site.second_pass.viewport) == (
        "mobile-ja-JP",
        True,
        (390, 844),
    )


def test_mobile_viewport_can_be_overridden() -> None:
    config = config_from_dict(minimal(identity={"device": "mobile", "viewport_width": 412}))
    assert config.sites[0].identity.viewport == (412, 844)
