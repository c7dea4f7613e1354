"""``scan_source``: skimmers planted in real shop databases (SQLite always, PostgreSQL and MariaDB
when their URLs are set) and in dump files made by the real ``mysqldump`` and ``pg_dump``."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from test_db_shops import (
    LOADER,
    SKIMMER,
    backend_url,
    build_eccube4,
    build_magento2,
    build_woocommerce,
    fresh_database,
    server_url,
)

from skimguard.models import Category, MatchType, Severity
from skimguard.testing.factories import make_decision, make_site
from skimguard.webroot.database import (
    ColumnSpec,
    DbScanOptions,
    DbScanResult,
    LiveDatabase,
    scan_source,
)

__all__ = ["backend_url"]  # the fixture, imported

FIXTURES = Path(__file__).parent / "db_fixtures"
MAGENTO_FOOTER = ("SG720", "critical", "core_config_data:config_id=4:value")
WIDGET = ("SG720", "critical", "wp_options:option_id=5:option_value[2][text]")


def brief(result: DbScanResult) -> list[tuple[str, str, str]]:
    return [(f.rule_id, f.severity.label, f.subject) for f in result.findings]


def tables(result: DbScanResult) -> dict[str, tuple[int, int, bool]]:
    return {t.table: (t.rows_read, t.values_analysed, t.complete) for t in result.tables}


# ---------------------------------------------------------------------------------------------
# live databases
# ---------------------------------------------------------------------------------------------


def test_magento2_footer_skimmer(backend_url: str) -> None:
    build_magento2(backend_url, footer=SKIMMER)
    result = scan_source(backend_url, DbScanOptions())
    assert result.platform == "magento2" and result.kind == "database" and result.status == "ok"
    assert brief(result) == [MAGENTO_FOOTER]
    # design/* rows are always analysed (3); other rows only with markup or code
    assert tables(result) == {"core_config_data": (6, 3, True), "cms_block": (1, 1, True), "cms_page": (1, 1, True)}
    (finding,) = result.findings
    assert finding.category is Category.SERVER and finding.site == ""
    ev = finding.evidence
    assert (ev["table"], ev["primary_key"], ev["column"], ev["label"]) == (
        "core_config_data",
        {"config_id": "4"},
        "value",
        "design/footer/absolute_footer",
    )
    assert ev["verdict"] == "malicious" and "SG440" in ev["rules"]
    assert "collect.evil.test" in ev["hits"][0]["excerpt"] or "card-number" in str(ev["hits"])
    assert ev["location"] == "core_config_data[config_id=4].value"
    assert "password" not in ev["_source"].lower() or "***" in ev["_source"]


def test_magento2_clean_shop_has_no_findings(backend_url: str) -> None:
    build_magento2(backend_url)
    result = scan_source(backend_url, DbScanOptions())
    assert brief(result) == []
    assert result.status == "ok"


def test_woocommerce_widget_skimmer_in_a_serialized_option(backend_url: str) -> None:
    build_woocommerce(backend_url, widget=SKIMMER)
    result = scan_source(backend_url, DbScanOptions())
    assert result.platform == "woocommerce"
    assert brief(result) == [WIDGET]
    assert result.findings[0].evidence["label"] == "widget_text"
    # the post with an analytics snippet was analysed and is clean
    assert tables(result) == {"wp_options": (6, 1, True), "wp_posts": (2, 2, True)}


def test_woocommerce_with_a_custom_table_prefix(backend_url: str) -> None:
    build_woocommerce(backend_url, widget=SKIMMER, prefix="shop7_")
    result = scan_source(backend_url, DbScanOptions(platform="woocommerce"))
    assert brief(result) == [("SG720", "critical", "shop7_options:option_id=5:option_value[2][text]")]


def test_eccube4_payment_page_meta_tags(backend_url: str) -> None:
    build_eccube4(backend_url, payment_meta='<meta name="robots" content="noindex">' + SKIMMER)
    result = scan_source(backend_url, DbScanOptions())
    assert result.platform == "eccube4"
    assert brief(result) == [("SG720", "critical", "dtb_page:id=12:meta_tags")]
    assert result.findings[0].evidence["label"] == "shopping"
    assert result.referenced_files == (
        "app/template/default/Block/cart.twig",
        "app/template/default/Block/footer.twig",
    )
    assert result.plugins == ("Recommend42",)


def test_suspicious_loader_is_sg721_medium(backend_url: str) -> None:
    build_magento2(backend_url, head=LOADER)
    result = scan_source(backend_url, DbScanOptions())
    assert brief(result) == [("SG721", "medium", "core_config_data:config_id=3:value")]
    assert result.findings[0].evidence["verdict"] == "suspicious"


def test_named_table_columns_missing_table_and_column(backend_url: str) -> None:
    build_magento2(backend_url)
    engine = create_engine(backend_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE custom_banner (banner_id INTEGER PRIMARY KEY, html TEXT, note TEXT)"))
        conn.execute(text("INSERT INTO custom_banner VALUES (1, :h, 'x'), (2, '<b>sale</b>', 'y')"), {"h": SKIMMER})
    engine.dispose()
    named = (ColumnSpec("custom_banner", "html"), ColumnSpec("custom_banner", "nope"), ColumnSpec("gone", None))
    result = scan_source(backend_url, DbScanOptions(platform="magento2", named=named))
    assert brief(result) == [
        ("SG720", "critical", "custom_banner:banner_id=1:html"),
        ("SG723", "medium", "custom_banner:missing-column:nope"),
        ("SG723", "medium", "gone:missing-table"),
    ]
    assert result.status == "partial"
    assert tables(result)["custom_banner"] == (2, 2, False)


def test_row_limit_cuts_a_table_short_and_says_so(backend_url: str) -> None:
    build_magento2(backend_url, footer=SKIMMER)
    result = scan_source(backend_url, DbScanOptions(max_rows=3))
    # rows are read in key order: the skimmer in config_id 4 is past the limit
    assert brief(result) == [("SG723", "medium", "core_config_data:row-limit")]
    assert tables(result)["core_config_data"] == (3, 1, False)


def test_statement_timeout_is_reported_not_waited_for(backend_url: str) -> None:
    backend = make_url(backend_url).get_backend_name()
    slow = {
        "sqlite": "CREATE VIEW slow_view AS SELECT (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "LIMIT 300000000) SELECT count(*) FROM c) AS html",
        "postgresql": "CREATE VIEW slow_view AS SELECT pg_sleep(5)::text AS html",
        "mysql": "CREATE VIEW slow_view AS SELECT CAST(SLEEP(5) AS CHAR) AS html",
    }[backend]
    engine = create_engine(backend_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(slow))
    engine.dispose()
    started = time.monotonic()
    result = scan_source(backend_url, DbScanOptions(named=(ColumnSpec("slow_view", "html"),), timeout=0.5))
    assert time.monotonic() - started < 4.5
    assert brief(result) == [("SG723", "medium", "slow_view:timeout")]


def test_the_scanner_connection_cannot_write(backend_url: str) -> None:
    build_magento2(backend_url)
    db = LiveDatabase(backend_url, timeout=5)
    with db.session() as conn, pytest.raises(SQLAlchemyError):
        conn.exec_driver_sql("UPDATE core_config_data SET value = 'x' WHERE config_id = 4")
    with db.session() as conn, pytest.raises(SQLAlchemyError):
        conn.exec_driver_sql("CREATE TABLE planted (id INTEGER)")
    engine = create_engine(backend_url, poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM core_config_data WHERE config_id = 4")).scalar() != "x"
    engine.dispose()


def test_script_hosts_checked_against_the_sites_inventory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    head = (
        '<script src="https://cdn.unknown.test/jquery.min.js"></script>'
        '<script src="https://cdn.vendor.test/v2/formassist.js"></script>'
        '<script src="//shop.test/static/app.js"></script><script src="/static/local.js"></script>'
        '<iframe src="https://pay.psp.test/fields"></iframe>'
    )
    build_magento2(url, head=head)
    site = make_site()  # shop.test, payment host pay.psp.test
    approved = make_decision("https://cdn.vendor.test/v2/formassist.js", match=MatchType.URL)
    checked = scan_source(url, DbScanOptions(site=site, decisions=(approved,)))
    assert brief(checked) == [("SG722", "high", "core_config_data:config_id=3:value:cdn.unknown.test")]
    finding = checked.findings[0]
    assert finding.script_url == "https://cdn.unknown.test/jquery.min.js" and finding.site == "shop"
    assert finding.evidence["checked_against_inventory"] is True
    # revoked: the vendor host is no longer approved
    revoked = make_decision("https://cdn.vendor.test/v2/formassist.js", match=MatchType.URL, revoked=True)
    assert [
        f.subject.rsplit(":", 1)[1] for f in scan_source(url, DbScanOptions(site=site, decisions=(revoked,))).findings
    ] == [
        "cdn.unknown.test",
        "cdn.vendor.test",
    ]
    # without a site nothing can be checked: every outside host is listed, at low
    unchecked = scan_source(url, DbScanOptions())
    assert [(f.rule_id, f.severity, f.subject.rsplit(":", 1)[1]) for f in unchecked.findings] == [
        ("SG722", Severity.LOW, "cdn.unknown.test"),
        ("SG722", Severity.LOW, "cdn.vendor.test"),
        ("SG722", Severity.LOW, "pay.psp.test"),
        ("SG722", Severity.LOW, "shop.test"),
    ]


def test_no_shop_tables_is_a_clear_partial_result(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)"))
    engine.dispose()
    result = scan_source(url, DbScanOptions())
    assert brief(result) == [("SG723", "medium", "-:no-tables")]
    assert result.platform is None and result.status == "partial"


# ---------------------------------------------------------------------------------------------
# dumps
# ---------------------------------------------------------------------------------------------


def test_committed_mysqldump_fixture() -> None:
    result = scan_source(str(FIXTURES / "magento2-footer-skimmer.mysqldump.sql"), DbScanOptions())
    assert (result.kind, result.dialect, result.platform) == ("dump", "mysql", "magento2")
    assert brief(result) == [MAGENTO_FOOTER]
    assert tables(result) == {"cms_block": (1, 1, True), "cms_page": (1, 1, True), "core_config_data": (6, 3, True)}


def test_committed_pg_dump_fixture() -> None:
    result = scan_source(str(FIXTURES / "woocommerce-widget-skimmer.pg_dump.sql"), DbScanOptions())
    assert (result.kind, result.dialect, result.platform) == ("dump", "postgresql", "woocommerce")
    assert brief(result) == [WIDGET]
    assert tables(result) == {"wp_options": (6, 1, True), "wp_posts": (2, 2, True)}


def _tool(name: str, env: str) -> tuple[str, str]:
    base = server_url(env)
    if not base:
        pytest.skip(f"{'SKIMGUARD_TEST_MARIADB_URL' if env == 'mariadb' else 'SKIMGUARD_TEST_POSTGRES_URL'} is not set")
    binary = shutil.which(name)
    if binary is None:
        pytest.skip(f"{name} is not installed")
    return base, binary


@pytest.mark.parametrize(
    "flags", [(), ("--skip-extended-insert", "--complete-insert"), ("--hex-blob", "--compact")], ids=str
)
def test_mysqldump_generated_in_the_test(tmp_path: Path, flags: tuple[str, ...]) -> None:
    base, mysqldump = _tool("mysqldump", "mariadb")
    with fresh_database(base) as url:
        build_magento2(url, footer=SKIMMER)
        live = scan_source(url, DbScanOptions())
        u = make_url(url)
        dump = tmp_path / "magento.sql"
        args = [mysqldump, "-h", u.host or "127.0.0.1", "-P", str(u.port or 3306), "-u", u.username or "root"]
        with dump.open("wb") as out:
            subprocess.run([*args, *flags, u.database or ""], check=True, stdout=out, timeout=60)
    assert brief(live) == [MAGENTO_FOOTER]
    assert brief(scan_source(str(dump), DbScanOptions())) == [MAGENTO_FOOTER]
    packed = tmp_path / "magento.sql.gz"
    packed.write_bytes(gzip.compress(dump.read_bytes()))
    assert brief(scan_source(str(packed), DbScanOptions())) == [MAGENTO_FOOTER]


@pytest.mark.parametrize("flags", [(), ("--inserts",), ("--column-inserts",)], ids=str)
def test_pg_dump_generated_in_the_test(tmp_path: Path, flags: tuple[str, ...]) -> None:
    base, pg_dump = _tool("pg_dump", "postgresql")
    with fresh_database(base) as url:
        build_woocommerce(url, widget=SKIMMER)
        build_eccube4(url, payment_meta=SKIMMER)
        u = make_url(url)
        dump = tmp_path / "shop.sql"
        args = [pg_dump, "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
        with dump.open("wb") as out:
            subprocess.run([*args, *flags, u.database or ""], check=True, stdout=out, timeout=60)
    result = scan_source(str(dump), DbScanOptions())
    assert brief(result) == [("SG720", "critical", "dtb_page:id=12:meta_tags"), WIDGET]
    assert result.plugins == ("Recommend42",)


def test_gone_findings_are_those_of_this_source_and_a_wholly_read_table_not_seen_again() -> None:
    from datetime import UTC, datetime

    from skimguard.webroot.database import DbScanResult, TableReport, gone_findings
    from skimguard.webroot.db_rules import SG720, SG721, SG722, SG723

    def found(rule: Any, subject: str, table: str | None, source: str = "sqlite:///shop.db") -> Any:
        return rule.finding("shop", page=None, subject=subject, evidence={"table": table, "_source": source})

    cleaned = found(SG720, "core_config_data:config_id=4:value", "core_config_data")
    still = found(SG722, "core_config_data:config_id=3:value:cdn.test", "core_config_data")
    cut_table = found(SG721, "cms_block:block_id=1:content", "cms_block")  # cms_block read in part this time
    unread = found(SG720, "wp_options:option_id=9:option_value", "wp_options")  # not read this time
    elsewhere = found(SG720, "cms_page:page_id=1:content", "cms_page", source="/backups/staging.sql")
    source_problem = found(SG723, "-:timeout", None)
    table_problem = found(SG723, "cms_page:denied", "cms_page")
    not_ours = SG720.finding("shop", page="/checkout", subject="x", evidence={"_source": "sqlite:///shop.db"})
    now = datetime(2026, 11, 22, tzinfo=UTC)
    result = DbScanResult(
        source="sqlite:///shop.db",
        kind="database",
        dialect="sqlite",
        platform="magento2",
        site="shop",
        started_at=now,
        finished_at=now,
        tables=(
            TableReport("core_config_data", "magento2", ("value",), 6, 2, True),
            TableReport("cms_block", "magento2", ("content",), 1, 1, False, "row limit"),
            TableReport("cms_page", "magento2", ("content",), 1, 1, True),
        ),
        findings=(still,),
    )
    stored = [cleaned, still, cut_table, unread, elsewhere, source_problem, table_problem]
    gone = gone_findings(result, stored)
    assert gone == [cleaned.fingerprint, source_problem.fingerprint, table_problem.fingerprint]
    assert gone_findings(result, [replace(not_ours, rule_id="SG501")]) == []
