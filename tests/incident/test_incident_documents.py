"""Drafts of the regulator report, the notices and the acquirer summary.

Snapshots: ``tests/incident/snapshots/<case>/`` hold every file :func:`render_all` writes for the two
founding incidents; they are compared byte for byte. After a deliberate wording change, regenerate
them with ``SKIMGUARD_UPDATE_SNAPSHOTS=1 pytest tests/incident/test_incident_documents.py`` and
read the diff before committing.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from skimguard.incident.documents import (
    Cause,
    CauseKind,
    Counts,
    DataItem,
    Deadline,
    DocKind,
    DraftContext,
    Enquiry,
    ExposureWindow,
    FindingRef,
    Fmt,
    Identifier,
    IdentifierCount,
    Lang,
    Localized,
    MaskedCard,
    NonCardImpact,
    NoticeStats,
    Recipient,
    ReportStage,
    TimelineEvent,
    cards_csv,
    guard_value,
    md_escape,
    remask,
    render,
    render_all,
)

JST = timezone(timedelta(hours=9))
SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("SKIMGUARD_UPDATE_SNAPSHOTS") == "1"
ALL = [(k, lang, fmt) for k in DocKind for lang in Lang for fmt in Fmt]


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=JST)


def incident1() -> DraftContext:
    """Founding incident 1: a vendor's form-assist script altered at the vendor; 10 days; 427 cards
    of 424 people; store pickup and cash on delivery not affected. A preliminary report: the
    enquiry desk, prevention measures and the police report are not settled yet (placeholders)."""
    start, end = jst(2022, 7, 19, 19, 4, 12), jst(2022, 7, 28, 10, 15, 45)
    return DraftContext(
        incident_id="INC-2022-0001",
        known_at=jst(2022, 9, 2, 15, 30),
        windows=(
            ExposureWindow(
                variant="cdn.vendor.test/assist/convert.js (sha256 3f9a0c…)",
                pages=("/shopping/payment",),
                start=start,
                end=end,
                start_basis=Localized("最後の正常なスキャン（scan-0712）", "last clean scan (scan-0712)"),
                end_basis=Localized(
                    "ベンダー修正後の最初の正常なスキャン（scan-0733）",
                    "first clean scan after the vendor fix (scan-0733)",
                ),
            ),
        ),
        operator="株式会社サンプル書房",
        shop_name="サンプルブックス",
        site_url="https://books.shop.test/",
        issued_on=date(2022, 9, 5),
        detected_how=Localized(
            "クレジットカード会社から、本件サイトで利用されたカードの漏えい懸念について連絡を受けたため。",
            "A card company told us that cards used on the Site might have been compromised.",
        ),
        card_items=(DataItem.CARD_NUMBER, DataItem.CARD_EXPIRY, DataItem.CARD_CVC),
        counts=Counts(
            people=424,
            cards=427,
            card_orders=427,
            people_by=(IdentifierCount(Identifier.CUSTOMER_ID, 391), IdentifierCount(Identifier.EMAIL, 33)),
            cards_by=(IdentifierCount(Identifier.TOKEN, 427),),
        ),
        pickup=NonCardImpact.NOT_AFFECTED,
        cash_on_delivery=NonCardImpact.NOT_AFFECTED,
        causes=(
            Cause(
                CauseKind.THIRD_PARTY_SCRIPT,
                vendor="株式会社ベンダーテスト（画面表示変換サービス）",
                script_url="https://cdn.vendor.test/assist/convert.js",
            ),
        ),
        fraud_reports=0,
        timeline=(
            TimelineEvent(
                jst(2022, 9, 2, 15, 30),
                Localized("クレジットカード会社から漏えい懸念の連絡を受領", "a card company reported a suspected leak"),
            ),
            TimelineEvent(
                jst(2022, 9, 2, 16, 5),
                Localized("skimguard の記録から対象期間を特定", "exposure window scoped from the skimguard record"),
                public=False,
            ),
            TimelineEvent(
                date(2022, 9, 6), Localized("第三者調査機関による調査を開始", "forensic investigation started")
            ),
        ),
        notices=NoticeStats(email=402, letter=19, substitute=3, started_on=date(2022, 11, 21)),
        card_payment_stopped_at=jst(2022, 9, 2, 17, 0),
        regulator_reported_on=date(2022, 9, 5),
        deadlines=(
            Deadline(
                Localized("速報", "preliminary report"),
                date(2022, 9, 7),
                Localized("発覚から5日以内（設定値）", "5 days from discovery (configured)"),
                done_on=date(2022, 9, 5),
            ),
            Deadline(
                Localized("確報", "final report"),
                date(2022, 11, 1),
                Localized("不正の目的による漏えい等: 発覚から60日以内", "wrongful purpose: 60 days from discovery"),
            ),
        ),
        masked_cards=tuple(
            MaskedCard(
                f"4111 11{n:02d} 0000 {1000 + n}",
                f"{(n % 12) + 1:02d}/2{n % 6}",
                start + timedelta(hours=9 * n),
                start + timedelta(hours=9 * n),
            )
            for n in range(8)
        ),
        findings=(
            FindingRef("F-0193", "SG301", "card data sent to an unapproved host"),
            FindingRef("F-0194", "SG102", "approved script changed (same URL, new bytes)"),
        ),
    )


def incident2() -> DraftContext:
    """Founding incident 2: the checkout altered through a vulnerability to show a fake card form,
    and the registration page altered too; 7 weeks; card orders, abandoned card-page sessions and
    registrations. A final report with every value given: no placeholder left in the public notice."""
    end = jst(2023, 3, 14, 16, 41, 30)
    return DraftContext(
        incident_id="INC-2023-0007",
        known_at=jst(2023, 3, 17, 11, 20),
        windows=(
            ExposureWindow(
                variant="fake card form (checkout)",
                pages=("/shopping/confirm", "/shopping/payment"),
                start=jst(2023, 1, 24, 2, 13, 7),
                end=end,
                start_basis=Localized(
                    "改ざんされたテンプレートの更新日時（ウェブルート）",
                    "modification time of the altered template (web root)",
                ),
                end_basis=Localized("除去後の最初の正常なスキャン", "first clean scan after removal"),
            ),
            ExposureWindow(
                variant="registration page form copy",
                pages=("/entry",),
                start=jst(2023, 1, 31, 23, 58, 1),
                end=end,
                start_basis=Localized(
                    "アクセスログ上の攻撃者の最初のリクエスト", "attacker's first request in the access log"
                ),
                end_basis=Localized("除去後の最初の正常なスキャン", "first clean scan after removal"),
            ),
        ),
        stage=ReportStage.FINAL,
        operator="株式会社テスト商会",
        shop_name="テスト商会オンラインストア",
        site_url="https://store.shop.test/",
        issued_on=date(2023, 5, 12),
        detected_how=Localized(
            "お客様から、決済時の画面遷移が不自然であるとのお問い合わせを受け、調査したため。",
            "A customer asked about an odd page transition during payment, and we investigated.",
        ),
        card_items=(DataItem.CARDHOLDER_NAME, DataItem.CARD_NUMBER, DataItem.CARD_EXPIRY, DataItem.CARD_CVC),
        registration_items=(
            DataItem.NAME,
            DataItem.ADDRESS,
            DataItem.PHONE,
            DataItem.EMAIL,
            DataItem.BIRTH_DATE,
            DataItem.PASSWORD,
        ),
        counts=Counts(
            people=5212,
            cards=4509,
            card_orders=4078,
            sessions_card_no_order=431,
            sessions_page_reached=1260,
            registrations=1318,
            people_by=(
                IdentifierCount(Identifier.CUSTOMER_ID, 3904),
                IdentifierCount(Identifier.EMAIL, 1187),
                IdentifierCount(Identifier.SESSION, 121),
            ),
            cards_by=(
                IdentifierCount(Identifier.TOKEN, 4102),
                IdentifierCount(Identifier.MASKED_EXPIRY, 386),
                IdentifierCount(Identifier.NONE, 21),
            ),
        ),
        pickup=NonCardImpact.IF_CARD_ENTERED,
        cash_on_delivery=NonCardImpact.IF_CARD_ENTERED,
        causes=(
            Cause(
                CauseKind.FAKE_CARD_FORM,
                detail=Localized(
                    "決済プラグインの脆弱性を利用したテンプレートの改ざん",
                    "template altered through a payment plug-in vulnerability",
                ),
            ),
            Cause(CauseKind.REGISTRATION_PAGE),
        ),
        fraud_reports=37,
        timeline=(
            TimelineEvent(
                jst(2023, 3, 14, 10, 2),
                Localized(
                    "お客様から決済画面の遷移に関するお問い合わせを受領",
                    "a customer asked about an odd page transition at payment",
                ),
            ),
            TimelineEvent(jst(2023, 3, 14, 15, 2), Localized("クレジットカード決済を停止", "card payment stopped")),
            TimelineEvent(jst(2023, 3, 14, 16, 41), Localized("不正なプログラムを除去", "malicious program removed")),
            TimelineEvent(
                jst(2023, 3, 15, 9, 0),
                Localized("検知 F-2201（SG310）を確認", "finding F-2201 (SG310) reviewed"),
                public=False,
            ),
            TimelineEvent(
                date(2023, 3, 20), Localized("個人情報保護委員会に報告（速報）", "preliminary report to the PPC")
            ),
            TimelineEvent(
                date(2023, 4, 28), Localized("第三者調査機関による調査が完了", "forensic investigation completed")
            ),
        ),
        notices=NoticeStats(email=4870, letter=301, substitute=41, started_on=date(2023, 5, 12)),
        published_on=date(2023, 5, 12),
        publication_delay_reason=Localized(
            "不確定な情報の公表はかえって混乱を招くおそれがあるため、"
            "第三者調査機関の調査結果を得て、クレジットカード会社との連携を整えたうえで公表することといたしました。",
            "Publishing unconfirmed information could have caused confusion, "
            "so we waited for the forensic findings and for arrangements with the card companies.",
        ),
        card_payment_stopped_at=jst(2023, 3, 14, 15, 2),
        skimmer_removed_at=jst(2023, 3, 14, 16, 41),
        card_payment_restart=Localized(
            "決済代行会社の決済画面へ移動する方式に変更したうえで、再開日を本件サイトにてお知らせいたします。",
            "card payment will move to the payment provider's hosted page; we will announce the date on the Site.",
        ),
        prevention=(
            Localized(
                "クレジットカード情報を本件サイトで入力しない方式（決済代行会社の画面）への変更",
                "card entry moved to the payment provider's hosted page",
            ),
            Localized(
                "決済画面・会員登録画面の改ざん監視（skimguard）の常時実施",
                "continuous monitoring of the payment and registration pages (skimguard)",
            ),
            Localized(
                "脆弱性診断の定期実施とソフトウェアの更新", "regular vulnerability assessment and software updates"
            ),
        ),
        regulator_reported_on=date(2023, 3, 20),
        police_reported_on=date(2023, 3, 22),
        police_station="テスト県警察本部",
        investigator="株式会社フォレンジックテスト",
        deadlines=(
            Deadline(
                Localized("速報", "preliminary report"),
                date(2023, 3, 22),
                Localized("発覚から5日以内（設定値）", "5 days from discovery (configured)"),
                done_on=date(2023, 3, 20),
            ),
            Deadline(
                Localized("確報", "final report"),
                date(2023, 5, 16),
                Localized("不正の目的による漏えい等: 発覚から60日以内", "wrongful purpose: 60 days from discovery"),
            ),
        ),
        enquiry=Enquiry(
            name="株式会社テスト商会 お客様相談窓口",
            phone="0120-000-000",
            email="support@store.shop.test",
            hours=Localized("10時～18時（土日祝日を除く）", "10:00-18:00 JST, weekdays"),
        ),
        masked_cards=(
            MaskedCard("453201******0366", "04/26", jst(2023, 1, 24, 9, 15, 2), jst(2023, 2, 2, 20, 1, 44), uses=2),
            MaskedCard("540599******1234", "11/25", jst(2023, 2, 1, 12, 0, 0), jst(2023, 2, 1, 12, 0, 0)),
            MaskedCard("356600******5566", "07/27", jst(2023, 2, 14, 23, 59, 59), jst(2023, 2, 14, 23, 59, 59)),
            MaskedCard("9876", None, jst(2023, 3, 1, 8, 30, 0), jst(2023, 3, 1, 8, 30, 0)),
        ),
        findings=(
            FindingRef("F-2201", "SG310", "card form on an unapproved page"),
            FindingRef("F-2202", "SG301", "card data sent to an unapproved host"),
            FindingRef("F-2203", "SG320", "registration form copied to an outside host"),
        ),
    )


CASES = {"incident1": incident1, "incident2": incident2}


# --------------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("case", sorted(CASES))
def test_drafts_match_snapshots(case: str, tmp_path: Path) -> None:
    written = render_all(CASES[case](), tmp_path)
    names = sorted(p.name for p in written)
    assert len(names) == 18  # 4 documents x 2 languages x 2 formats + cards CSV + manifest
    snap = SNAPSHOTS / case
    if UPDATE:
        snap.mkdir(parents=True, exist_ok=True)
        for old in snap.iterdir():
            old.unlink()
        for p in written:
            (snap / p.name).write_bytes(p.read_bytes())
    assert sorted(p.name for p in snap.iterdir()) == names
    for name in names:
        assert (tmp_path / name).read_bytes() == (snap / name).read_bytes(), f"{case}/{name} differs from its snapshot"


def test_rendering_is_deterministic_and_order_free() -> None:
    a, b = incident1(), incident2()
    first = [render(k, lang, fmt, a).text for k, lang, fmt in ALL]
    render("public-notice", "en", "html", b)
    second = [render(k, lang, fmt, a).text for k, lang, fmt in reversed(ALL)][::-1]
    assert first == second


def test_manifest_lists_placeholders_per_file(tmp_path: Path) -> None:
    render_all(incident1(), tmp_path)
    doc = json.loads((tmp_path / "drafts.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "skimguard.drafts/1"
    assert len(doc["documents"]) == 16
    entry = next(d for d in doc["documents"] if d["file"] == "public-notice.ja.md")
    assert [p["key"] for p in entry["placeholders"]] == [
        "published_on",
        "publication_delay_reason",
        "prevention",
        "card_payment_restart",
        "police_station",
        "police_reported_on",
        "enquiry_desk",
    ]
    assert entry["placeholders"][-1]["label"] == "問い合わせ窓口"


# --------------------------------------------------------------------------- structure


def _headings(text: str, level: int) -> list[str]:
    mark = "#" * level + " "
    return [ln[len(mark) :] for ln in text.splitlines() if ln.startswith(mark)]


def test_regulator_report_has_the_nine_items_in_order() -> None:
    ja = render("regulator-report", "ja", "md", incident2()).text
    assert [h for h in _headings(ja, 2) if h[0].isdigit()] == [
        "1. 概要",
        "2. 漏えい等が発生し、又は発生したおそれがある個人データの項目",
        "3. 漏えい等が発生し、又は発生したおそれがある個人データに係る本人の数",
        "4. 原因",
        "5. 二次被害又はそのおそれの有無及びその内容",
        "6. 本人への対応の実施状況",
        "7. 公表の実施状況",
        "8. 再発防止のための措置",
        "9. その他参考となる事項",
    ]
    assert _headings(ja, 1) == ["個人データの漏えい等の事案に関する報告（確報）"]
    en = render("regulator-report", "en", "html", incident2()).text
    found = re.findall(r"<h2>(\d)\. ", en)
    assert found == [str(i) for i in range(1, 10)]
    assert "<h1>Report on a leak of personal data (final report)</h1>" in en


def test_public_notice_structure_and_non_card_statement() -> None:
    one = render("public-notice", "ja", "md", incident1()).text
    assert _headings(one, 1) == [
        "弊社が運営する「サンプルブックス」への不正アクセスによる個人情報漏えいに関するお詫びとお知らせ"
    ]
    assert _headings(one, 2) == [
        "1. 経緯",
        "2. 個人情報漏えいの状況",
        "3. お客様へのお願い",
        "4. 公表が遅れた経緯について",
        "5. 再発防止策ならびに今後の対応について",
        "6. 監督官庁・警察への報告",
        "7. 本件に関するお問い合わせ窓口",
    ]
    assert _headings(one, 3)[:4] == [
        "(1) 原因",
        "(2) 対象期間",
        "(3) 対象となるお客様",
        "(4) 漏えいした可能性のある情報",
    ]
    assert (
        "なお、店頭受取及び代金引換でのご注文は、クレジットカード情報の入力がないため対象外です。" in one.splitlines()
    )
    # the window is shown to the minute, start rounded down and end rounded up
    assert "2022年7月19日 19時04分～2022年7月28日 10時16分" in one.splitlines()
    assert "- 上記期間中に本件サイトでクレジットカード情報を入力されたお客様（クレジットカード427件）" in one
    assert "- 対象となるお客様は合計424名です。" in one
    # internal timeline entries stay out of the public notice
    assert "skimguard" not in one.split("記", 1)[1]
    two = render("public-notice", "ja", "md", incident2()).text
    assert (
        "なお、店頭受取及び代金引換でのご注文であっても、期間中に決済画面でクレジットカード情報を入力された場合は対象となります。"
        in two.splitlines()
    )
    assert "### (3) パスワード変更のお願い" in two
    en = render("public-notice", "en", "md", incident1()).text
    assert "Store pickup and cash-on-delivery orders are not affected: no card data was entered for them." in en


def test_complete_context_leaves_no_placeholder_in_public_notice() -> None:
    for lang in Lang:
        for fmt in Fmt:
            draft = render("public-notice", lang, fmt, incident2())
            assert draft.placeholders == ()
            assert "【要記入:" not in draft.text and "TO COMPLETE:" not in draft.text


def test_placeholders_are_visible_and_listed() -> None:
    ctx = dataclasses.replace(incident1(), operator=None, enquiry=Enquiry(name="窓口", hours=None))
    md = render("individual-notice", "ja", "md", ctx)
    assert [p.key for p in md.placeholders] == ["operator", "enquiry_contact", "enquiry_hours"]
    assert "- **連絡先**: **【要記入: 問い合わせ窓口の連絡先】**" in md.text
    html = render("individual-notice", "ja", "html", ctx)
    assert html.placeholders == md.placeholders
    assert '<mark class="todo" data-todo="operator">【要記入: 事業者名】</mark>' in html.text
    en = render("individual-notice", "en", "md", ctx)
    assert [p.label for p in en.placeholders] == ["operator name", "enquiry desk contact", "enquiry desk hours"]
    assert "**\\[TO COMPLETE: operator name\\]**" in en.text
    # per-variant window edges carry the variant's index
    open_end = dataclasses.replace(
        incident2(),
        windows=(incident2().windows[0], dataclasses.replace(incident2().windows[1], start=None, end=None)),
    )
    keys = [p.key for p in render("acquirer-summary", "en", "md", open_end).placeholders]
    assert keys == ["window_start", "window_end", "window_start.2", "window_end.2"]


# --------------------------------------------------------------------------- dates and zones


def test_dates_in_shop_zone_with_zone_named() -> None:
    ctx = incident1()
    # 15:00:00 UTC is midnight in Tokyo: the JST date turns over
    midnight = datetime(2022, 7, 19, 15, 0, 0, tzinfo=UTC)
    w = dataclasses.replace(ctx.windows[0], start=midnight, end=midnight + timedelta(days=9, seconds=1))
    ctx = dataclasses.replace(ctx, windows=(w,))
    ja = render("acquirer-summary", "ja", "md", ctx).text
    assert "全体: 2022年7月20日 00時00分00秒～2022年7月29日 00時00分01秒" in ja
    assert "日時はすべて日本時間（UTC+09:00）で表記しています。" in ja
    assert "2022年7月20日 00時00分～2022年7月29日 00時01分" in render("public-notice", "ja", "md", ctx).text
    en = render("acquirer-summary", "en", "md", ctx).text
    assert "Overall: from 2022-07-20 00:00:00 +09:00 to 2022-07-29 00:00:01 +09:00" in en
    assert "All times are in Asia/Tokyo (JST, UTC offset shown with each time)." in en


def test_dates_in_a_zone_with_daylight_saving() -> None:
    ctx = dataclasses.replace(incident1(), zone="America/New_York")
    ja = render("acquirer-summary", "ja", "md", ctx).text
    # 2022-07-19 19:04:12 JST = 06:04:12 EDT (UTC-04:00)
    assert "全体: 2022年7月19日 06時04分12秒（UTC-04:00）～2022年7月27日 21時15分45秒（UTC-04:00）" in ja
    assert "日時はすべて America/New\\_York の現地時刻で表記しています（UTCとの時差を併記）。" in ja
    en = render("acquirer-summary", "en", "html", ctx).text
    assert "Overall: from 2022-07-19 06:04:12 -04:00 to 2022-07-27 21:15:45 -04:00" in en
    utc = render("acquirer-summary", "en", "md", dataclasses.replace(incident1(), zone="UTC")).text
    assert "Overall: from 2022-07-19 10:04:12 +00:00 to 2022-07-28 01:15:45 +00:00" in utc


def test_ongoing_window_and_refused_inputs() -> None:
    w = dataclasses.replace(incident1().windows[0], end=None, ongoing=True)
    ctx = dataclasses.replace(incident1(), windows=(w,))
    assert "2022年7月19日 19時04分～現在（継続中）" in render("public-notice", "ja", "md", ctx).text
    assert "from 2022-07-19 19:04 +09:00 to now (ongoing)" in render("public-notice", "en", "md", ctx).text
    with pytest.raises(ValueError, match="has no zone"):
        dataclasses.replace(incident1(), known_at=datetime(2022, 9, 2, 15, 30))
    with pytest.raises(ValueError, match="unknown time zone"):
        dataclasses.replace(incident1(), zone="Mars/Olympus")


# --------------------------------------------------------------------------- hostile values

SCRIPT = "<script>alert(1)</script>"
MDLINK = "[x](javascript:alert(1))"
PIPES = "| pipes | `tick` **b**"
HEADING = "# 見出し\n- list"
FORMULA = "=cmd|' /C calc'!A0"
PLAIN_TAGS = {"h1", "h2", "h3", "p", "ul", "li", "strong", "blockquote", "table", "thead", "tbody", "tr", "th", "td"}


def test_guard_and_md_escape_exact() -> None:
    assert md_escape(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md_escape(MDLINK) == "\\[x\\](javascript:alert(1))"
    assert md_escape(PIPES) == "\\| pipes \\| \\`tick\\` \\*\\*b\\*\\*"
    assert md_escape("www.evil.test a@b.test") == "www\\.evil\\.test a\\@b\\.test"
    assert md_escape("# h - a + b") == "\\# h - a + b"
    assert md_escape("- item") == "\\- item" and md_escape("+ item") == "\\+ item"
    assert (
        md_escape("1. one") == "1\\. one"
        and md_escape("==mark== ~~del~~ $x$") == "\\=\\=mark\\=\\= \\~\\~del\\~\\~ \\$x\\$"
    )
    assert md_escape("12) x (y) 3)") == "12\\) x (y) 3)"
    assert md_escape("St. James 10:00, https://a.test/x") == "St. James 10:00, https\\://a\\.test/x"
    assert remask("453201******0366") == "453201******0366"
    assert remask("4532 0151 1283 0366") == "453201******0366"
    assert remask("4532-01xx-xxxx-0366") == "453201******0366"
    assert remask("0366") == "0366" and remask("") is None
    assert guard_value(HEADING) == "# 見出し - list"
    assert guard_value(FORMULA) == "'=cmd|' /C calc'!A0"
    assert guard_value("+81 3-1234-5678") == "+81 3-1234-5678"  # a phone number is not a formula
    assert guard_value("@SUM(A1)") == "'@SUM(A1)"
    assert guard_value("abc\u202egnp.exe\u200b\x00") == "abcgnp.exe"  # bidi override, zero-width, NUL
    assert guard_value("x" * 500) == "x" * 399 + "…"


def hostile() -> DraftContext:
    base = incident2()
    return dataclasses.replace(
        base,
        operator=MDLINK,
        shop_name=SCRIPT,
        site_url="javascript:alert(1)",
        causes=(
            Cause(
                CauseKind.THIRD_PARTY_SCRIPT,
                vendor=PIPES,
                script_url="https://x.test/a.js?<img src=x onerror=alert(1)>",
                detail=HEADING,
            ),
        ),
        recipient=Recipient(
            name=FORMULA,
            postal_code="100-0001",
            address="<b>東京都</b> [千代田区](http://evil.test)",
            card_last4=("453201******0366",),
        ),
        enquiry=Enquiry(
            name="`rm -rf /`", phone="+81 3-1234-5678", email="<a href=x>help</a>@shop.test", hours="# 24h"
        ),
        masked_cards=(MaskedCard("4532015112830366", FORMULA),),
    )


def test_hostile_values_escaped_exactly_in_markdown() -> None:
    ctx = hostile()
    pub = render("public-notice", "ja", "md", ctx).text.splitlines()
    assert pub[0] == (
        "# 弊社が運営する「&lt;script&gt;alert(1)&lt;/script&gt;」"
        "への不正アクセスによる個人情報漏えいに関するお詫びとお知らせ"
    )
    assert "\\[x\\](javascript:alert(1))" in pub
    assert any(
        ln.startswith(
            "本件サイトのクレジットカード情報入力画面で利用していた"
            "外部事業者（\\| pipes \\| \\`tick\\` \\*\\*b\\*\\*）提供"
        )
        for ln in pub
    )
    ind = render("individual-notice", "ja", "md", ctx).text.splitlines()
    assert "'\\=cmd\\|' /C calc'\\!A0 様" in ind
    assert "〒100-0001 &lt;b&gt;東京都&lt;/b&gt; \\[千代田区\\](http\\://evil\\.test)" in ind
    assert "- **窓口**: \\`rm -rf /\\`" in ind
    assert "- **電話番号**: \\+81 3-1234-5678" in ind
    assert "- **受付時間**: \\# 24h" in ind
    reg = render("regulator-report", "en", "md", ctx).text
    assert (
        "(altered script: https\\://x\\.test/a\\.js?&lt;img src\\=x onerror\\=alert(1)&gt;) (detail: \\# 見出し - list)"
        in reg
    )
    acq = render("acquirer-summary", "en", "md", ctx).text.splitlines()
    assert "| 1 | 453201\\*\\*\\*\\*\\*\\*0366 | '\\=cmd\\|' /C calc'\\!A0 | — | — | 1 |" in acq


def test_hostile_values_escaped_exactly_in_html() -> None:
    ctx = hostile()
    pub = render("public-notice", "en", "html", ctx).text
    assert (
        "<h1>Our apology and notice concerning a leak of personal information through unauthorized access to "
        "“&lt;script&gt;alert(1)&lt;/script&gt;”</h1>"
    ) in pub
    assert (
        "<title>Our apology and notice concerning a leak of personal information through unauthorized access to "
        "“&lt;script&gt;alert(1)&lt;/script&gt;”</title>" in pub
    )
    assert '<p class="right">[x](javascript:alert(1))</p>' in pub
    ind = render("individual-notice", "ja", "html", ctx).text
    assert "<p>&#39;=cmd|&#39; /C calc&#39;!A0 様</p>" in ind
    assert "<p>〒100-0001 &lt;b&gt;東京都&lt;/b&gt; [千代田区](http://evil.test)</p>" in ind
    assert "<li><strong>メールアドレス</strong>: &lt;a href=x&gt;help&lt;/a&gt;@shop.test</li>" in ind
    for k, lang, fmt in ALL:
        if fmt is Fmt.HTML:
            text = render(k, lang, fmt, ctx).text
            assert "<script" not in text and "<img" not in text and "<a " not in text and "<b>" not in text
            assert "default-src 'none'" in text


@pytest.mark.parametrize(("kind", "lang"), [(k, lang) for k in DocKind for lang in Lang])
def test_hostile_markdown_renders_as_plain_text(kind: DocKind, lang: Lang) -> None:
    """Render the Markdown drafts with a real CommonMark parser (raw HTML allowed, tables on):
    no tag or link may come out of a value."""
    md = MarkdownIt("commonmark").enable("table")
    html = md.render(render(kind, lang, "md", hostile()).text)
    tags = set(re.findall(r"<([a-z0-9]+)", html))
    assert tags <= PLAIN_TAGS
    assert not re.search(r'<a\b|href="|src="', html)  # "href=x" may appear, as escaped text
    if kind is not DocKind.ACQUIRER_SUMMARY:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the shop name, shown as text


def test_cards_csv_masks_and_defuses() -> None:
    ctx = hostile()
    rows = list(csv.reader(io.StringIO(cards_csv(ctx))))
    assert rows == [
        ["no", "card_masked", "expiry", "first_at", "last_at", "uses"],
        ["1", "453201******0366", "'=cmd|' /C calc'!A0", "", "", "1"],
    ]
    one = list(csv.reader(io.StringIO(cards_csv(incident1()))))
    assert len(one) == 9
    assert one[1] == ["1", "411111******1000", "01/20", "2022-07-19T19:04:12+09:00", "2022-07-19T19:04:12+09:00", "1"]


# --------------------------------------------------------------------------- what each document may show


def test_public_notice_has_no_card_and_no_person() -> None:
    ctx = dataclasses.replace(
        incident2(),
        recipient=Recipient(
            name="山田 花子",
            postal_code="150-0001",
            address="東京都渋谷区神宮前9-9-9",
            card_last4=("0366",),
            entered_at=(jst(2023, 2, 2, 20, 1, 44),),
        ),
    )
    for lang in Lang:
        for fmt in Fmt:
            text = render("public-notice", lang, fmt, ctx).text
            for card in ctx.masked_cards:
                assert card.masked[-4:] not in text
                assert card.masked[:6] not in text
            assert "******" not in text and "\\*\\*\\*" not in text
            assert "山田" not in text and "神宮前" not in text and "150-0001" not in text and "150\\-0001" not in text
            assert "F-2201" not in text and "F\\-2201" not in text  # internal finding IDs stay internal


def test_individual_notice_shows_only_the_recipients_own_card() -> None:
    ctx = dataclasses.replace(
        incident2(),
        recipient=Recipient(name="山田 花子", card_last4=("5566",), entered_at=(jst(2023, 2, 14, 23, 59, 59),)),
    )
    for lang in Lang:
        for fmt in Fmt:
            text = render("individual-notice", lang, fmt, ctx).text
            assert "5566" in text and "山田 花子" in text
            for other in ("0366", "1234", "9876", "453201", "540599", "356600"):
                assert other not in text
    ja = render("individual-notice", "ja", "md", ctx).text
    assert "- **カード情報を入力された日時**: 2023年2月14日 23時59分" in ja
    assert "- **対象となるカード**: 末尾 5566" in ja
    generic = render("individual-notice", "en", "md", incident2()).text
    assert "Dear customer," in generic


def test_acquirer_summary_lists_masked_cards_only() -> None:
    leaky = dataclasses.replace(incident1(), masked_cards=(MaskedCard("4111 1111 1111 1111", "12/25"),))
    for lang in Lang:
        text = render("acquirer-summary", lang, "html", leaky).text
        assert "4111111111111111" not in text and "4111 1111 1111 1111" not in text
        assert "<td>411111******1111</td>" in text
    ja = render("acquirer-summary", "ja", "md", incident1()).text
    assert "記載したカードは8件で、対象カード427件との差はマスク済み番号の記録がないカードです。" in ja
    assert ja.count("| 411111\\*\\*\\*\\*\\*\\*") == 8


def test_minimal_context_renders_every_draft_with_placeholders() -> None:
    ctx = DraftContext(incident_id="INC-0", known_at=datetime(2024, 1, 1, tzinfo=UTC), windows=())
    for kind, lang, fmt in ALL:
        assert render(kind, lang, fmt, ctx).placeholders  # renders, and says what is missing
    pub = render("public-notice", "ja", "md", ctx)
    assert [p.key for p in pub.placeholders] == [
        "shop_name",
        "published_on",
        "operator",
        "site_url",
        "notices_started_on",
        "timeline",
        "cause",
        "window_start",
        "window_end",
        "people",
        "pickup",
        "cash_on_delivery",
        "data_items",
        "publication_delay_reason",
        "prevention",
        "regulator_reported_on",
        "police_station",
        "police_reported_on",
        "enquiry_desk",
    ]
    assert (
        "なお、店頭受取でのご注文への影響: **【要記入: 店頭受取の影響の有無】**。"
        "代金引換でのご注文への影響: **【要記入: 代金引換の影響の有無】**。"
    ) in pub.text.splitlines()
    en = render("public-notice", "en", "md", ctx).text
    assert "Effect on store pickup orders: **\\[TO COMPLETE: whether store pickup is affected\\]**." in en
