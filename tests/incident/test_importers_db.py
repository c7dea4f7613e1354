"""Database presets against real databases built from the platforms' published schemas.

The DDL in ``import_fixtures/{eccube4,magento2,woocommerce}.sql`` is written from each platform's
own schema (Doctrine entities, db_schema.xml, WordPress/WooCommerce table definitions), only the
tables and columns the presets read. Every database gets the same rows; the presets must give the
same exact records on SQLite always, and on PostgreSQL (``SKIMGUARD_TEST_POSTGRES_URL``) and
MariaDB/MySQL (``SKIMGUARD_TEST_MARIADB_URL``, ``mysql+pymysql://root@127.0.0.1:3306/test``) when
those are set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from skimguard.incident.importers import (
    ImporterError,
    Problem,
    TimeRange,
    load_orders,
    load_registrations,
    load_sessions,
)
from skimguard.incident.importers_db import PresetOptions, import_database, readonly_connection
from skimguard.incident.records import CheckoutSession, Contact, Order, PaymentMethod, Registration, SessionSource

FIXTURES = Path(__file__).parent / "import_fixtures"
PG_ENV = "SKIMGUARD_TEST_POSTGRES_URL"
MARIADB_ENV = "SKIMGUARD_TEST_MARIADB_URL"
JST = timezone(timedelta(hours=9))
# the exposure window of the tests: 19 July 00:00:00 JST to 28 July 23:59:59 JST
WINDOW = TimeRange(datetime(2022, 7, 19, 0, 0, 0, tzinfo=JST), datetime(2022, 7, 28, 23, 59, 59, tzinfo=JST))
START = datetime(2022, 7, 18, 15, 0, 0, tzinfo=UTC)
END = datetime(2022, 7, 28, 14, 59, 59, tzinfo=UTC)
SECOND = timedelta(seconds=1)

TYPES: dict[str, dict[str, str]] = {
    "sqlite": {
        "DTZ": "DATETIME",
        "TS": "TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "DT": "DATETIME",
        "UINT": "INTEGER",
        "UBIGINT": "INTEGER",
        "TEXT": "TEXT",
        "LONGTEXT": "TEXT",
        "BOOL": "BOOLEAN",
        "ID": "ID",
    },
    "postgresql": {
        "DTZ": "TIMESTAMP(0) WITH TIME ZONE",
        "TS": "TIMESTAMP(0) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "DT": "TIMESTAMP(0)",
        "UINT": "INTEGER",
        "UBIGINT": "BIGINT",
        "TEXT": "TEXT",
        "LONGTEXT": "TEXT",
        "BOOL": "BOOLEAN",
        "ID": '"ID"',
    },
    "mysql": {
        "DTZ": "DATETIME",
        "TS": "TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "DT": "DATETIME",
        "UINT": "INT UNSIGNED",
        "UBIGINT": "BIGINT UNSIGNED",
        "TEXT": "TEXT",
        "LONGTEXT": "LONGTEXT",
        "BOOL": "TINYINT(1)",
        "ID": "ID",
    },
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@dataclass(frozen=True)
class Shop:
    url: str  # what the importer gets
    dialect: str  # sqlite | postgresql | mysql
    engine: sa.Engine  # writable, for building the shop


def _ddl(name: str, dialect: str, prefix: str = "") -> list[str]:
    text = (FIXTURES / f"{name}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    for key, value in TYPES[dialect].items():
        body = body.replace("{" + key + "}", value)
    body = body.replace("{P}", prefix)
    return [s.strip() for s in body.split(";") if s.strip()]


def _time(shop: Shop, value: datetime, tz: bool) -> Any:
    """A UTC instant as the platform writes it on this database (see the .sql headers)."""
    if shop.dialect == "sqlite":
        return value.strftime("%Y-%m-%d %H:%M:%S") + ("+0000" if tz else "")
    if shop.dialect == "postgresql" and tz:
        return value
    return value.replace(tzinfo=None)


def _insert(conn: sa.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = sorted({k for row in rows for k in row})
    t = sa.table(table, *(sa.column(c) for c in columns))
    conn.execute(sa.insert(t), [{c: row.get(c) for c in columns} for row in rows])


# --------------------------------------------------------------------------------------------
# The shop data, the same on every database
# --------------------------------------------------------------------------------------------


def build_eccube(shop: Shop, conn: sa.Connection) -> None:
    for statement in _ddl("eccube4", shop.dialect):
        conn.exec_driver_sql(statement)

    def t(value: datetime) -> Any:
        return _time(shop, value, tz=True)

    _insert(
        conn,
        "mtb_pref",
        [
            {"id": 13, "name": "東京都", "sort_no": 13, "discriminator_type": "pref"},
            {"id": 27, "name": "大阪府", "sort_no": 27, "discriminator_type": "pref"},
        ],
    )
    cash = "Eccube\\Service\\Payment\\Method\\Cash"
    payments = [
        (1, "郵便振替", cash),
        (4, "代金引換", cash),
        (5, "クレジットカード決済", "Plugin\\GmoPaymentGateway42\\Service\\Method\\CreditCard"),
        (6, "店頭受取", cash),
        (7, "スマート決済", "Plugin\\SmartPay\\Service\\Method\\CreditCard"),
        (8, "謎の決済", cash),
    ]
    _insert(
        conn,
        "dtb_payment",
        [
            {
                "id": i,
                "payment_method": name,
                "method_class": cls,
                "visible": True,
                "create_date": t(utc(2020, 1, 1)),
                "update_date": t(utc(2020, 1, 1)),
                "discriminator_type": "payment",
            }
            for i, name, cls in payments
        ],
    )
    common = {"discriminator_type": "order", "payment_total": 1000}
    orders: list[dict[str, Any]] = [
        # exactly at the window start (00:00:00 JST): in
        {
            "id": 1,
            "order_no": "1",
            "customer_id": 11,
            "payment_id": 5,
            "payment_method": "クレジットカード決済",
            "order_date": START,
            "order_status_id": 5,
            "name01": "山田",
            "name02": "太郎",
            "pref_id": 13,
            "addr01": "千代田区千代田1-1",
            "addr02": "ビル1F",
            "postal_code": "1000001",
            "phone_number": "0312345678",
            "email": "taro@example.jp",
        },
        # one second before: read (the SQL bound has a day of slack) but outside
        {
            "id": 2,
            "order_no": "2",
            "customer_id": 11,
            "payment_id": 5,
            "payment_method": "クレジットカード決済",
            "order_date": START - SECOND,
            "order_status_id": 5,
            "name01": "山田",
            "name02": "太郎",
            "email": "taro@example.jp",
        },
        # a guest paying cash on delivery
        {
            "id": 3,
            "order_no": "3",
            "customer_id": None,
            "payment_id": 4,
            "payment_method": "代金引換",
            "order_date": utc(2022, 7, 20, 3, 0),
            "order_status_id": 1,
            "name01": "髙橋",
            "name02": "花子",
            "pref_id": 27,
            "addr01": "大阪市北区梅田1-1",
            "email": "hanako@example.jp",
        },
        {
            "id": 4,
            "order_no": "4",
            "customer_id": 12,
            "payment_id": 6,
            "payment_method": "店頭受取",
            "order_date": utc(2022, 7, 21, 5, 0),
            "order_status_id": 3,
            "name01": "佐藤",
            "name02": "次郎",
            "email": "jiro@example.jp",
        },
        # the last second of the window; a card plugin's method class tells what the label does not
        {
            "id": 5,
            "order_no": "5",
            "customer_id": 13,
            "payment_id": 7,
            "payment_method": "スマート決済",
            "order_date": END,
            "order_status_id": 6,
            "name01": "鈴木",
            "name02": "健",
            "email": "ken@example.net",
        },
        # abandoned checkouts: 購入処理中 (reached /shopping) and 決済処理中 (payment started)
        {
            "id": 6,
            "pre_order_id": "pre-6",
            "customer_id": 14,
            "payment_id": 5,
            "order_status_id": 8,
            "name01": "田中",
            "name02": "美香",
            "email": "mika@example.org",
            "update": utc(2022, 7, 22, 10, 0),
        },
        {
            "id": 7,
            "pre_order_id": "pre-7",
            "customer_id": None,
            "payment_id": 5,
            "order_status_id": 7,
            "name01": "伊藤",
            "name02": "二郎",
            "email": "niro@example.jp",
            "update": utc(2022, 7, 23, 11, 0),
        },
        # long before: never read
        {
            "id": 8,
            "order_no": "8",
            "customer_id": 11,
            "payment_id": 5,
            "payment_method": "クレジットカード決済",
            "order_date": utc(2022, 6, 1),
            "order_status_id": 5,
            "name01": "山田",
            "name02": "太郎",
        },
        # a card number typed into the address: masked
        {
            "id": 9,
            "order_no": "9",
            "customer_id": 15,
            "payment_id": 1,
            "payment_method": "郵便振替",
            "order_date": utc(2022, 7, 25, 0, 0),
            "order_status_id": 1,
            "name01": "渡辺",
            "name02": "恵",
            "addr01": "札幌市",
            "addr02": "4242424242424242",
            "email": "megumi@example.jp",
        },
        {
            "id": 10,
            "order_no": "10",
            "customer_id": 16,
            "payment_id": 8,
            "payment_method": "謎の決済",
            "order_date": utc(2022, 7, 26, 0, 0),
            "order_status_id": 1,
            "name01": "小林",
            "name02": "誠",
        },
    ]
    rows = []
    for order in orders:
        row = {**common, **order}
        row.setdefault("pre_order_id", f"pre-{row['id']}")
        update = row.pop("update", None) or row.get("order_date") or utc(2022, 7, 1)
        row["create_date"] = t(update - timedelta(minutes=5))
        row["update_date"] = t(update)
        if row.get("order_date") is not None:
            row["order_date"] = t(row["order_date"])
        rows.append(row)
    _insert(conn, "dtb_order", rows)
    customer = {"password": "x", "secret_key": "k", "discriminator_type": "customer", "name02": "x"}
    _insert(
        conn,
        "dtb_customer",
        [
            {
                **customer,
                "id": 11,
                "name01": "山田",
                "email": "taro@example.jp",
                "create_date": t(utc(2022, 7, 1)),
                "update_date": t(utc(2022, 7, 1)),
            },
            {
                **customer,
                "id": 12,
                "name01": "佐藤",
                "email": "jiro@example.jp",
                "create_date": t(START - SECOND),
                "update_date": t(START),
            },
            {
                **customer,
                "id": 13,
                "name01": "鈴木",
                "name02": "健",
                "email": "ken@example.net",
                "pref_id": 13,
                "postal_code": "1000001",
                "addr01": "千代田区",
                "addr02": "1-1",
                "phone_number": "0300000000",
                "create_date": t(utc(2022, 7, 19, 0, 0)),
                "update_date": t(utc(2022, 7, 19, 0, 0)),
            },
        ],
    )


def build_magento(shop: Shop, conn: sa.Connection) -> None:
    for statement in _ddl("magento2", shop.dialect):
        conn.exec_driver_sql(statement)

    def t(value: datetime) -> Any:
        return _time(shop, value, tz=False)

    orders = [
        (1, "000000001", 21, 0, "taro@example.jp", "太郎", "山田", START, "complete"),
        (2, "000000002", None, 1, "hanako@example.jp", None, None, utc(2022, 7, 20), "pending"),
        (3, "000000003", 21, 0, "taro@example.jp", "太郎", "山田", START - SECOND, "complete"),
        (4, "000000004", 22, 0, "ken@example.net", "健", "鈴木", utc(2022, 7, 21), "processing"),
        (5, "000000005", 23, 0, "mika@example.org", "美香", "田中", utc(2022, 7, 22), "processing"),
        (6, "000000006", 24, 0, "niro@example.jp", "二郎", "伊藤", END, "canceled"),
        (7, "000000007", 21, 0, "taro@example.jp", "太郎", "山田", utc(2022, 5, 1), "complete"),
    ]
    _insert(
        conn,
        "sales_order",
        [
            {
                "entity_id": i,
                "increment_id": inc,
                "customer_id": cid,
                "customer_is_guest": guest,
                "customer_email": mail,
                "customer_firstname": first,
                "customer_lastname": last,
                "created_at": t(at),
                "updated_at": t(at),
                "status": status,
            }
            for i, inc, cid, guest, mail, first, last, at, status in orders
        ],
    )
    _insert(
        conn,
        "sales_order_payment",
        [
            {
                "entity_id": 1,
                "parent_id": 1,
                "method": "braintree",
                "cc_type": "VI",
                "cc_last_4": "1111",
                "cc_exp_month": "12",
                "cc_exp_year": "2025",
            },
            {"entity_id": 2, "parent_id": 2, "method": "cashondelivery", "cc_exp_month": "0", "cc_exp_year": "0"},
            {"entity_id": 3, "parent_id": 3, "method": "braintree", "cc_last_4": "1111"},
            {"entity_id": 4, "parent_id": 4, "method": "veritrans_cc"},
            {"entity_id": 5, "parent_id": 5, "method": "mystery_pay"},
            {"entity_id": 6, "parent_id": 5, "method": "mystery_pay"},  # a second payment row: one order
            {"entity_id": 7, "parent_id": 6, "method": "checkmo"},
            {"entity_id": 8, "parent_id": 7, "method": "braintree"},
        ],
    )
    _insert(
        conn,
        "sales_order_address",
        [
            {
                "entity_id": 1,
                "parent_id": 1,
                "address_type": "billing",
                "firstname": "太郎",
                "lastname": "山田",
                "postcode": "100-0001",
                "region": "東京都",
                "city": "千代田区",
                "street": "千代田1-1\nビル1F",
                "telephone": "03-1234-5678",
                "email": "taro@example.jp",
                "country_id": "JP",
            },
            {
                "entity_id": 2,
                "parent_id": 1,
                "address_type": "shipping",
                "firstname": "別",
                "lastname": "人",
                "postcode": "999-9999",
                "city": "x",
                "street": "y",
                "telephone": "0",
            },
            {
                "entity_id": 3,
                "parent_id": 2,
                "address_type": "billing",
                "firstname": "花子",
                "lastname": "髙橋",
                "postcode": "530-0001",
                "region": "大阪府",
                "city": "大阪市北区",
                "street": "梅田1-1",
                "telephone": "06-1234-5678",
                "email": "hanako@example.jp",
            },
        ],
    )
    quotes = [
        (31, 1, None, "abandon@example.jp", None, None, utc(2022, 7, 22)),
        (32, 1, 22, "ken@example.net", "000000099", "203.0.113.5", utc(2022, 7, 23)),
        (33, 0, 21, "taro@example.jp", "000000001", None, utc(2022, 7, 24)),  # converted: an order
        (34, 1, None, None, None, None, utc(2022, 7, 24)),  # a cart that never reached checkout
    ]
    _insert(
        conn,
        "quote",
        [
            {
                "entity_id": i,
                "is_active": active,
                "customer_id": cid,
                "customer_email": mail,
                "reserved_order_id": res,
                "remote_ip": ip,
                "created_at": t(at - timedelta(hours=1)),
                "updated_at": t(at),
            }
            for i, active, cid, mail, res, ip, at in quotes
        ],
    )
    _insert(
        conn,
        "customer_entity",
        [
            {
                "entity_id": 41,
                "email": "new@example.jp",
                "firstname": "恵",
                "lastname": "渡辺",
                "created_at": t(utc(2022, 7, 19, 3, 0)),
                "updated_at": t(utc(2022, 7, 19, 3, 0)),
                "default_billing": 51,
            },
            {
                "entity_id": 42,
                "email": "late@example.jp",
                "firstname": "a",
                "lastname": "b",
                "created_at": t(utc(2022, 8, 30)),
                "updated_at": t(utc(2022, 8, 30)),
            },
        ],
    )
    _insert(
        conn,
        "customer_address_entity",
        [
            {
                "entity_id": 51,
                "parent_id": 41,
                "city": "札幌市中央区",
                "firstname": "恵",
                "lastname": "渡辺",
                "postcode": "060-0001",
                "region": "北海道",
                "street": "北1条西1",
                "telephone": "011-000-0000",
            },
        ],
    )


WOO_ORDERS: list[dict[str, Any]] = [
    {
        "id": 101,
        "status": "wc-completed",
        "at": START,
        "method": "stripe",
        "title": "クレジットカード (Stripe)",
        "customer": "7",
        "email": "taro@example.jp",
        "first": "太郎",
        "last": "山田",
        "postcode": "100-0001",
        "state": "JP13",
        "city": "千代田区",
        "address_1": "千代田1-1",
        "address_2": "ビル1F",
        "phone": "03-1234-5678",
        "last4": "4242",
    },
    {
        "id": 102,
        "status": "wc-processing",
        "at": utc(2022, 7, 20),
        "method": "cod",
        "title": "代金引換",
        "customer": "0",
        "email": "hanako@example.jp",
        "first": "花子",
        "last": "髙橋",
    },
    {
        "id": 103,
        "status": "wc-checkout-draft",
        "at": utc(2022, 7, 22),
        "method": None,
        "title": None,
        "customer": "0",
        "email": "draft@example.jp",
    },
    {
        "id": 104,
        "status": "wc-failed",
        "at": utc(2022, 7, 21),
        "method": "epsilon",
        "title": "クレジットカード決済",
        "customer": "0",
        "email": "fail@example.jp",
    },
    {
        "id": 105,
        "status": "wc-completed",
        "at": utc(2022, 7, 23),
        "method": "stripe",
        "title": "x",
        "customer": "7",
        "type": "shop_order_refund",
    },
    {"id": 106, "status": "wc-completed", "at": START - SECOND, "method": "stripe", "title": "x", "customer": "7"},
    {
        "id": 107,
        "status": "wc-cancelled",
        "at": END,
        "method": "bacs",
        "title": "銀行振込",
        "customer": "8",
        "email": "bank@example.jp",
    },
    {
        "id": 108,
        "status": "wc-on-hold",
        "at": utc(2022, 7, 25),
        "method": "mystery",
        "title": "Mystery",
        "customer": "9",
        "email": "m@example.jp",
    },
    {"id": 109, "status": "wc-completed", "at": utc(2022, 6, 1), "method": "stripe", "title": "x", "customer": "7"},
]
_META = {
    "method": "_payment_method",
    "title": "_payment_method_title",
    "customer": "_customer_user",
    "email": "_billing_email",
    "first": "_billing_first_name",
    "last": "_billing_last_name",
    "postcode": "_billing_postcode",
    "state": "_billing_state",
    "city": "_billing_city",
    "address_1": "_billing_address_1",
    "address_2": "_billing_address_2",
    "phone": "_billing_phone",
    "last4": "_card_last4",
}


def build_woo(shop: Shop, conn: sa.Connection, prefix: str, hpos: bool) -> None:
    for statement in _ddl("woocommerce", shop.dialect, prefix):
        conn.exec_driver_sql(statement)

    def t(value: datetime) -> Any:
        return _time(shop, value, tz=False)

    posts, meta, orders, addresses, order_meta = [], [], [], [], []
    for o in WOO_ORDERS:
        local = o["at"].astimezone(JST)
        posts.append(
            {
                "ID": o["id"],
                "post_type": "shop_order_placehold" if hpos else o.get("type", "shop_order"),
                "post_status": o["status"],
                "post_date": t(local.replace(tzinfo=UTC)),
                "post_date_gmt": t(o["at"]),
                "post_modified": t(local.replace(tzinfo=UTC)),
                "post_modified_gmt": t(o["at"]),
            }
        )
        if hpos:
            orders.append(
                {
                    "id": o["id"],
                    "status": o["status"],
                    "type": o.get("type", "shop_order"),
                    "customer_id": int(o["customer"]),
                    "billing_email": o.get("email"),
                    "payment_method": o["method"],
                    "payment_method_title": o["title"],
                    "date_created_gmt": t(o["at"]),
                    "date_updated_gmt": t(o["at"]),
                }
            )
            addresses.append(
                {
                    "id": o["id"],
                    "order_id": o["id"],
                    "address_type": "billing",
                    "first_name": o.get("first"),
                    "last_name": o.get("last"),
                    "postcode": o.get("postcode"),
                    "state": o.get("state"),
                    "city": o.get("city"),
                    "address_1": o.get("address_1"),
                    "address_2": o.get("address_2"),
                    "phone": o.get("phone"),
                    "email": o.get("email"),
                }
            )
            if "last4" in o:
                order_meta.append({"id": o["id"], "order_id": o["id"], "meta_key": "_card_last4", "meta_value": "4242"})
        else:
            for key, meta_key in _META.items():
                if o.get(key) is not None:
                    meta.append({"post_id": o["id"], "meta_key": meta_key, "meta_value": o[key]})
    if hpos:
        # a shipping address too: only the billing one is read
        addresses.append(
            {"id": 999, "order_id": 101, "address_type": "shipping", "first_name": "別", "last_name": "人"}
        )
    for i, row in enumerate(meta, start=1):
        row["meta_id"] = i
    _insert(conn, f"{prefix}posts", posts)
    if meta:
        _insert(conn, f"{prefix}postmeta", meta)
    if orders:
        _insert(conn, f"{prefix}wc_orders", orders)
        _insert(conn, f"{prefix}wc_order_addresses", addresses)
        _insert(conn, f"{prefix}wc_orders_meta", order_meta)
    _insert(
        conn,
        f"{prefix}options",
        [
            {
                "option_id": 1,
                "option_name": "woocommerce_custom_orders_table_enabled",
                "option_value": "yes" if hpos else "no",
            },
        ],
    )
    _insert(
        conn,
        f"{prefix}users",
        [
            {
                "ID": 7,
                "user_login": "taro",
                "user_email": "taro@example.jp",
                "user_registered": t(START),
                "display_name": "taro",
            },
            {
                "ID": 8,
                "user_login": "old",
                "user_email": "old@example.jp",
                "user_registered": t(utc(2022, 6, 1)),
                "display_name": "old",
            },
            {
                "ID": 9,
                "user_login": "late",
                "user_email": "late@example.jp",
                "user_registered": t(END + SECOND),
                "display_name": "late",
            },
            {
                "ID": 10,
                "user_login": "nameless",
                "user_email": "n@example.jp",
                "user_registered": t(utc(2022, 7, 27)),
                "display_name": "ななし",
            },
        ],
    )
    user_meta = {
        "billing_first_name": "太郎",
        "billing_last_name": "山田",
        "billing_postcode": "100-0001",
        "billing_state": "JP13",
        "billing_city": "千代田区",
        "billing_address_1": "千代田1-1",
        "billing_phone": "03-1234-5678",
        "first_name": "T",
        "last_name": "Y",
    }
    _insert(
        conn,
        f"{prefix}usermeta",
        [
            {"umeta_id": i, "user_id": 7, "meta_key": k, "meta_value": v}
            for i, (k, v) in enumerate(user_meta.items(), start=1)
        ],
    )


# --------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------


def _build(shop: Shop) -> None:
    with shop.engine.begin() as conn:
        build_eccube(shop, conn)
        build_magento(shop, conn)
        build_woo(shop, conn, "wp_", hpos=False)
        build_woo(shop, conn, "shop2_", hpos=True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("shopdb") / "shop.db"
        engine = sa.create_engine(f"sqlite:///{path}")
        built = Shop(f"sqlite:///{path}", "sqlite", engine)
        _build(built)
        yield built
        engine.dispose()
        return
    if request.param == "postgresql":
        base = os.environ.get(PG_ENV)
        if not base:
            pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
        schema = f"sg_import_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(base)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        rendered = url.render_as_string(hide_password=False)
        engine = sa.create_engine(rendered)
        try:
            built = Shop(rendered, "postgresql", engine)
            _build(built)
            yield built
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.dispose()
        return
    base = os.environ.get(MARIADB_ENV)
    if not base:
        pytest.skip(f"MariaDB/MySQL tests need {MARIADB_ENV} (e.g. mysql+pymysql://root@127.0.0.1:3306/test)")
    database = f"sg_import_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    url = sa.make_url(base).set(database=database).update_query_dict({"charset": "utf8mb4"})
    rendered = url.render_as_string(hide_password=False)
    engine = sa.create_engine(rendered)
    try:
        built = Shop(rendered, "mysql", engine)
        _build(built)
        yield built
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{database}`")
        admin.dispose()


# --------------------------------------------------------------------------------------------
# EC-CUBE 4
# --------------------------------------------------------------------------------------------

EC_TARO = Contact("山田 太郎", "taro@example.jp", "1000001", "東京都 千代田区千代田1-1 ビル1F", "0312345678")


def test_eccube4_orders(shop: Shop) -> None:
    result = load_orders(shop.url, preset="eccube4", window=WINDOW)
    assert result.collect() == [
        Order("1", START, PaymentMethod.CARD, "11", EC_TARO, status="delivered"),
        Order(
            "3",
            utc(2022, 7, 20, 3, 0),
            PaymentMethod.CASH_ON_DELIVERY,
            None,
            Contact("髙橋 花子", "hanako@example.jp", address="大阪府 大阪市北区梅田1-1"),
            status="new",
        ),
        Order(
            "4",
            utc(2022, 7, 21, 5, 0),
            PaymentMethod.STORE_PICKUP,
            "12",
            Contact("佐藤 次郎", "jiro@example.jp"),
            status="cancelled",
        ),
        Order(
            "9",
            utc(2022, 7, 25, 0, 0),
            PaymentMethod.BANK_TRANSFER,
            "15",
            Contact("渡辺 恵", "megumi@example.jp", address="札幌市 424242******4242"),
            status="new",
        ),
        Order("10", utc(2022, 7, 26, 0, 0), PaymentMethod.UNKNOWN, "16", Contact("小林 誠"), status="new"),
        Order("5", END, PaymentMethod.CARD, "13", Contact("鈴木 健", "ken@example.net"), status="paid"),
    ]
    stats = result.stats
    assert (stats.rows, stats.imported, stats.outside_window, stats.bad) == (7, 6, 1, 0)
    assert stats.cards_masked == 1
    assert [(p.line, p.severity, p.reason) for p in result.problems] == [
        (5, "warning", "order 9: a card number in the address was masked"),
        (
            6,
            "warning",
            "payment method '謎の決済' is not mapped: counted as unknown (scoped like card); add it to payment_values",
        ),
    ]


def test_eccube4_abandoned_checkouts(shop: Shop) -> None:
    options = PresetOptions(checkout_path="/shopping/payment")
    result = load_sessions(shop.url, preset="eccube4", window=WINDOW, options=options)
    assert result.collect() == [
        CheckoutSession(
            "pre-6",
            utc(2022, 7, 22, 10, 0),
            "/shopping/payment",
            False,
            SessionSource.DATABASE,
            customer_id="14",
            contact=Contact("田中 美香", "mika@example.org"),
        ),
        CheckoutSession(
            "pre-7",
            utc(2022, 7, 23, 11, 0),
            "/shopping/payment",
            True,
            SessionSource.DATABASE,
            contact=Contact("伊藤 二郎", "niro@example.jp"),
        ),
    ]


def test_eccube4_registrations(shop: Shop) -> None:
    result = load_registrations(shop.url, preset="eccube4", window=WINDOW)
    assert result.collect() == [
        Registration(
            "13",
            utc(2022, 7, 19, 0, 0),
            Contact("鈴木 健", "ken@example.net", "1000001", "東京都 千代田区 1-1", "0300000000"),
        ),
    ]
    assert (result.stats.rows, result.stats.outside_window) == (2, 1)


# --------------------------------------------------------------------------------------------
# Magento 2
# --------------------------------------------------------------------------------------------


def test_magento2_orders(shop: Shop) -> None:
    result = load_orders(shop.url, preset="magento2", window=WINDOW)
    assert result.collect() == [
        Order(
            "000000001",
            START,
            PaymentMethod.CARD,
            "21",
            Contact("太郎 山田", "taro@example.jp", "100-0001", "東京都 千代田区 千代田1-1 ビル1F", "03-1234-5678"),
            card_masked="1111",
            card_expiry="12/25",
            status="complete",
        ),
        Order(
            "000000002",
            utc(2022, 7, 20),
            PaymentMethod.CASH_ON_DELIVERY,
            None,
            Contact("花子 髙橋", "hanako@example.jp", "530-0001", "大阪府 大阪市北区 梅田1-1", "06-1234-5678"),
            status="pending",
        ),
        Order(
            "000000004",
            utc(2022, 7, 21),
            PaymentMethod.CARD,
            "22",
            Contact("健 鈴木", "ken@example.net"),
            status="processing",
        ),
        Order(
            "000000005",
            utc(2022, 7, 22),
            PaymentMethod.UNKNOWN,
            "23",
            Contact("美香 田中", "mika@example.org"),
            status="processing",
        ),
        Order("000000006", END, PaymentMethod.OTHER, "24", Contact("二郎 伊藤", "niro@example.jp"), status="canceled"),
    ]
    stats = result.stats
    assert (stats.rows, stats.outside_window, stats.ignored, stats.bad) == (7, 1, 1, 0)
    assert [p.reason for p in result.problems] == [
        "payment method 'mystery_pay' is not mapped: counted as unknown (scoped like card); add it to payment_values"
    ]


def test_magento2_abandoned_quotes(shop: Shop) -> None:
    result = load_sessions(shop.url, preset="magento2", window=WINDOW)
    assert result.collect() == [
        CheckoutSession(
            "quote:31",
            utc(2022, 7, 22),
            "/checkout",
            False,
            SessionSource.DATABASE,
            contact=Contact(email="abandon@example.jp"),
        ),
        CheckoutSession(
            "quote:32",
            utc(2022, 7, 23),
            "/checkout",
            True,
            SessionSource.DATABASE,
            client="203.0.113.5",
            customer_id="22",
            contact=Contact(email="ken@example.net"),
        ),
    ]


def test_magento2_registrations(shop: Shop) -> None:
    result = load_registrations(shop.url, preset="magento2", window=WINDOW)
    assert result.collect() == [
        Registration(
            "41",
            utc(2022, 7, 19, 3, 0),
            Contact("恵 渡辺", "new@example.jp", "060-0001", "北海道 札幌市中央区 北1条西1", "011-000-0000"),
        ),
    ]


def test_magento2_payment_values_override(shop: Shop) -> None:
    options = PresetOptions(payment_values={"mystery_pay": PaymentMethod.CONVENIENCE_STORE})
    result = load_orders(shop.url, preset="magento2", window=WINDOW, options=options)
    by_id = {o.order_id: o.payment for o in result}
    assert by_id["000000005"] is PaymentMethod.CONVENIENCE_STORE
    assert result.problems == []


# --------------------------------------------------------------------------------------------
# WooCommerce, legacy tables and HPOS
# --------------------------------------------------------------------------------------------

WOO_CARD = {"card_masked": "_card_last4"}

WOO_EXPECTED = [
    Order(
        "101",
        START,
        PaymentMethod.CARD,
        "7",
        Contact("太郎 山田", "taro@example.jp", "100-0001", "東京都 千代田区 千代田1-1 ビル1F", "03-1234-5678"),
        card_masked="4242",
        status="completed",
    ),
    Order(
        "102",
        utc(2022, 7, 20),
        PaymentMethod.CASH_ON_DELIVERY,
        None,
        Contact("花子 髙橋", "hanako@example.jp"),
        status="processing",
    ),
    Order("104", utc(2022, 7, 21), PaymentMethod.CARD, None, Contact(email="fail@example.jp"), status="failed"),
    Order("108", utc(2022, 7, 25), PaymentMethod.UNKNOWN, "9", Contact(email="m@example.jp"), status="on-hold"),
    Order("107", END, PaymentMethod.BANK_TRANSFER, "8", Contact(email="bank@example.jp"), status="cancelled"),
]


@pytest.mark.parametrize(
    ("preset", "prefix"),
    [
        ("woocommerce", "wp_"),  # the shop's switch says legacy
        ("woocommerce", "shop2_"),  # the shop's switch says HPOS
        ("woocommerce-legacy", "wp_"),
        ("woocommerce-hpos", "shop2_"),
    ],
)
def test_woocommerce_orders(shop: Shop, preset: str, prefix: str) -> None:
    options = PresetOptions(table_prefix=prefix, card_meta=WOO_CARD)
    result = load_orders(shop.url, preset=preset, window=WINDOW, options=options)
    assert result.collect() == WOO_EXPECTED
    assert (result.stats.rows, result.stats.outside_window) == (6, 1)
    assert [p.reason for p in result.problems] == [
        "payment method 'mystery' is not mapped: counted as unknown (scoped like card); add it to payment_values"
    ]
    if preset == "woocommerce":
        assert ("(hpos)" in result.stats.source) is (prefix == "shop2_")


@pytest.mark.parametrize("prefix", ["wp_", "shop2_"])
def test_woocommerce_checkout_drafts(shop: Shop, prefix: str) -> None:
    result = load_sessions(shop.url, preset="woocommerce", window=WINDOW, options=PresetOptions(table_prefix=prefix))
    assert result.collect() == [
        CheckoutSession(
            "order:103",
            utc(2022, 7, 22),
            "/checkout",
            False,
            SessionSource.DATABASE,
            contact=Contact(email="draft@example.jp"),
        ),
    ]


def test_woocommerce_registrations(shop: Shop) -> None:
    result = load_registrations(shop.url, preset="woocommerce", window=WINDOW)
    assert result.collect() == [
        Registration(
            "7", START, Contact("太郎 山田", "taro@example.jp", "100-0001", "東京都 千代田区 千代田1-1", "03-1234-5678")
        ),
        Registration("10", utc(2022, 7, 27), Contact("ななし", "n@example.jp")),
    ]
    assert (result.stats.rows, result.stats.outside_window) == (3, 1)


def test_a_forced_preset_on_the_wrong_tables_reads_nothing(shop: Shop) -> None:
    result = load_orders(shop.url, preset="woocommerce-hpos", window=WINDOW)  # wp_ keeps its orders in posts
    assert result.collect() == []


# --------------------------------------------------------------------------------------------
# Guarantees
# --------------------------------------------------------------------------------------------


def test_the_connection_refuses_writes(shop: Shop) -> None:
    engine = sa.create_engine(shop.url, poolclass=sa.pool.NullPool)
    try:
        with readonly_connection(engine) as conn, pytest.raises(sa.exc.DBAPIError):
            conn.exec_driver_sql("UPDATE dtb_order SET email = 'attacker@evil.test'")
        with engine.connect() as conn:
            emails = {row[0] for row in conn.exec_driver_sql("SELECT email FROM dtb_order")}
        assert "attacker@evil.test" not in emails
    finally:
        engine.dispose()


def test_unbounded_window_reads_everything(shop: Shop) -> None:
    result = load_orders(shop.url, preset="eccube4")
    assert len(result.collect()) == 8  # every order with an order_date (not the two checkouts)
    assert result.stats.outside_window == 0


def test_schema_and_preset_errors(shop: Shop, tmp_path: Path) -> None:
    with pytest.raises(ImporterError, match="unknown preset 'shopify'"):
        import_database(shop.url, "shopify", "orders")
    with pytest.raises(ImporterError, match="the database has no table nope_posts"):
        load_orders(shop.url, preset="woocommerce-legacy", options=PresetOptions(table_prefix="nope_"))
    with pytest.raises(ImporterError, match="card_meta: unknown key"):
        load_orders(shop.url, preset="woocommerce", options=PresetOptions(card_meta={"cvv": "_cvv"}))


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE sales_order (entity_id INTEGER, created_at TIMESTAMP)")
        conn.exec_driver_sql("CREATE TABLE sales_order_payment (parent_id INTEGER)")
        conn.exec_driver_sql("CREATE TABLE sales_order_address (parent_id INTEGER)")
    engine.dispose()
    with pytest.raises(ImporterError) as err:
        load_orders(f"sqlite:///{path}", preset="magento2")
    assert str(err.value).startswith("magento2: table sales_order has no column(s) increment_id, customer_id")


def test_bad_urls(tmp_path: Path) -> None:
    with pytest.raises(ImporterError, match="no such database file"):
        load_orders(f"sqlite:///{tmp_path / 'missing.db'}", preset="eccube4")
    assert not (tmp_path / "missing.db").exists()  # opening read-only never creates it
    with pytest.raises(ImporterError, match="not a database URL"):
        load_orders("not a url", preset="eccube4")
    with pytest.raises(ImporterError, match="cannot connect"):
        load_orders("postgresql+psycopg://nobody@127.0.0.1:1/none", preset="eccube4")


def test_problem_lines_are_row_numbers(shop: Shop) -> None:
    result = load_orders(shop.url, preset="eccube4", window=WINDOW)
    list(result)
    assert all(isinstance(p, Problem) and p.source.startswith("eccube4:") for p in result.problems)
