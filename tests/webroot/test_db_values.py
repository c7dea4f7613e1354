"""The pure parts of the database scan: stored values taken apart (serialized PHP, JSON), the
catalog's table matching and platform detection, named columns, URL redaction."""

from __future__ import annotations

import json

import pytest
from test_db_shops import php_serialize

from skimguard.webroot.database import (
    CATALOG,
    ColumnSpec,
    DbError,
    candidate_targets,
    detect_platform,
    expand_value,
    parse_named,
    redact_url,
)
from skimguard.webroot.db_rules import DB_RULES


def test_serialized_php_strings_with_their_key_paths() -> None:
    value = php_serialize(
        {2: {"title": "カード", "text": "<script>x()</script>", "n": 3, "on": True}, "_multiwidget": 1}
    )
    assert expand_value(value) == [("[2][title]", "カード"), ("[2][text]", "<script>x()</script>")]
    obj = 'O:8:"stdClass":2:{s:4:"html";s:13:"<b>bold</b>!!";s:1:"n";N;}'
    assert expand_value(obj) == [("[html]", "<b>bold</b>!!")]
    assert expand_value("a:1:{i:0;d:0.5;}") == []


def test_serialized_php_with_broken_lengths_is_read_leniently() -> None:
    # a charset conversion changed the byte lengths: PHP's unserialize() would fail, we still read
    broken = 'a:1:{s:4:"text";s:5:"<script>steal()</script>";}'
    assert expand_value(broken) == [("[@5]", "text"), ("[@16]", "<script>steal()</script>")]


def test_json_strings_and_plain_values() -> None:
    value = json.dumps({"a": {"b": "<script>x</script>"}, "c": [1, "<b>"]})
    assert expand_value(value) == [("[a][b]", "<script>x</script>"), ("[c][1]", "<b>")]
    assert expand_value("<p>plain</p>") == [("", "<p>plain</p>")]
    assert expand_value("[not json") == [("", "[not json")]
    deep = "[" * 100_000 + "]" * 100_000
    assert expand_value(deep) == [("", deep)]  # too deep to parse: the value itself


def test_catalog_matching_prefixes_and_platforms() -> None:
    assert [t.platform for t in candidate_targets("wp_options", "auto")] == ["woocommerce"]
    assert [t.platform for t in candidate_targets("wp_2_options", "woocommerce")] == ["woocommerce"]
    assert candidate_targets("my-shop_options", "auto") == []  # not a table prefix
    assert candidate_targets("wp_options", "magento2") == []
    assert [t.platform for t in candidate_targets("mage_core_config_data", "auto")] == ["magento2", "magento1"]
    assert [t.key for t in candidate_targets("dtb_block", "auto")] == [("id",), ("block_id",)]
    assert detect_platform(["core_config_data", "setup_module"]) == "magento2"
    assert detect_platform(["mage_core_config_data", "mage_core_resource"]) == "magento1"
    assert detect_platform(["shop_options", "shop_posts"]) == "woocommerce"
    assert detect_platform(["dtb_page", "dtb_layout"]) == "eccube4"
    assert detect_platform(["dtb_page_layout", "dtb_block"]) == "eccube3"
    assert detect_platform(["dtb_pagelayout", "dtb_bloc"]) == "eccube2"
    assert detect_platform(["orders"]) is None
    assert {t.platform for t in CATALOG} == {"magento2", "magento1", "woocommerce", "eccube4", "eccube3", "eccube2"}


def test_named_tables_and_columns() -> None:
    assert parse_named(["banner"], []) == (ColumnSpec("banner", None),)
    assert parse_named(["a", "b"], ["html"]) == (ColumnSpec("a", "html"), ColumnSpec("b", "html"))
    assert parse_named([], ["banner.html", "banner.css"]) == (
        ColumnSpec("banner", "html"),
        ColumnSpec("banner", "css"),
    )
    assert parse_named(["x"], ["y.z"]) == (ColumnSpec("y", "z"), ColumnSpec("x", None))
    with pytest.raises(DbError, match="needs a --table"):
        parse_named([], ["html"])
    with pytest.raises(DbError, match=r"TABLE\.COLUMN"):
        parse_named([], ["banner."])


def test_redact_url_and_rule_ids() -> None:
    assert (
        redact_url("mysql+pymysql://scan:pa55@db.internal:3306/shop")
        == "mysql+pymysql://scan:***@db.internal:3306/shop"
    )
    assert redact_url("/var/backups/shop.sql.gz") == "/var/backups/shop.sql.gz"
    assert [r.id for r in DB_RULES] == ["SG720", "SG721", "SG722", "SG723"]
    assert {r.category.value for r in DB_RULES} == {"server"}
    for r in DB_RULES:
        assert "Why:" in r.doc and "How to fix:" in r.doc and "false positives" in r.doc.lower()
