"""Orders, abandoned checkouts and registrations straight from the shop database, by preset.

``import_database(url, preset, kind, window)`` (called through :func:`skimguard.incident.importers.
load_orders` and friends) reads the platform's own tables with SQLAlchemy Core:

* **read-only**: a fresh connection (no pool) in a read-only transaction (PostgreSQL ``SET
  TRANSACTION READ ONLY``, MySQL/MariaDB ``SET SESSION TRANSACTION READ ONLY``, SQLite opened with
  ``mode=ro`` and ``PRAGMA query_only``), rolled back at the end, with a statement timeout;
* **streamed**: server-side cursors (``stream_results`` + ``yield_per``), so a million orders never
  sit in memory;
* **bounded by the window**: only rows whose time lies within the caller's window widened by
  :attr:`PresetOptions.slack` (one day: it absorbs a wrong guess about how a column stores time,
  and text-compared SQLite times) are read, then each record's exact time is checked in Python.
  Give the exposure window widened by your own margin.

Presets (``PRESETS``), with the tables and columns they read:

``eccube4`` -- EC-CUBE 4.x (Doctrine entities ``Eccube\\Entity\\Order``, ``Customer``, ``Payment``):
  ``dtb_order`` (id, order_no, pre_order_id, customer_id, email, name01, name02, postal_code,
  pref_id, addr01, addr02, phone_number, payment_method, payment_id, order_date, update_date,
  order_status_id) joined to ``dtb_payment`` (method_class) and ``mtb_pref`` (name);
  ``dtb_customer`` (id, email, name01, name02, postal_code, pref_id, addr01, addr02,
  phone_number, create_date). Orders are rows with an ``order_date`` (set when the purchase
  completes); abandoned checkouts are status 8 購入処理中 (reached ``/shopping``) and 7
  決済処理中 (payment started: posted). **Times**: every EC-CUBE 4 ``datetimetz`` column goes through
  ``Eccube\\Doctrine\\DBAL\\Types\\UTCDateTimeTzType``, which converts to UTC before writing: MySQL
  ``DATETIME`` holds UTC wall time, PostgreSQL ``timestamptz`` an instant, SQLite
  ``2022-07-19 01:00:00+0000``. We read them as UTC (the one-day slack covers a shop whose custom
  code wrote local time; such a shop shows up as times 9 hours off: check one known order).

``magento2`` -- Magento 2 / Adobe Commerce (``db_schema.xml`` of Magento_Sales, Magento_Quote,
  Magento_Customer): ``sales_order`` (entity_id, increment_id, customer_id, customer_is_guest,
  customer_email, customer_firstname, customer_lastname, created_at, status) with
  ``sales_order_payment`` (parent_id, method, cc_last_4, cc_exp_month, cc_exp_year) and the billing
  row of ``sales_order_address`` (parent_id, address_type, firstname, lastname, postcode, region,
  city, street, telephone, email); abandoned checkouts from ``quote`` (entity_id, created_at,
  updated_at, is_active = 1, customer_id, customer_email, customer_firstname, customer_lastname,
  reserved_order_id, remote_ip; a quote with an e-mail reached checkout, one with a reserved order
  ID posted the payment step); registrations from ``customer_entity`` (entity_id, email,
  firstname, lastname, created_at, default_billing) and ``customer_address_entity``. Magento
  ``timestamp`` columns are UTC. The order ID is ``increment_id`` (what the customer saw).

``woocommerce`` -- WooCommerce, choosing HPOS or the legacy tables from the shop's own switch
  (``wp_options.woocommerce_custom_orders_table_enabled``; without it, HPOS when ``wc_orders`` has
  orders); ``woocommerce-hpos`` and ``woocommerce-legacy`` force one. Legacy: ``wp_posts``
  (ID, post_type = 'shop_order', post_status, post_date_gmt) with ``wp_postmeta`` (_payment_method,
  _payment_method_title, _customer_user, _billing_email, _billing_first_name, _billing_last_name,
  _billing_postcode, _billing_state, _billing_city, _billing_address_1, _billing_address_2,
  _billing_phone). HPOS: ``wp_wc_orders`` (id, type = 'shop_order', status, customer_id,
  billing_email, payment_method, payment_method_title, date_created_gmt) with the billing row of
  ``wp_wc_order_addresses``. Registrations: ``wp_users`` (ID, user_email, user_registered, stored
  in UTC by WordPress) with ``wp_usermeta`` billing keys. Checkout drafts (``wc-checkout-draft``,
  the block checkout's order before payment) are the abandoned checkouts; pending and failed
  orders are orders (the card was typed). The table prefix is :attr:`PresetOptions.table_prefix`
  (``wp_`` by default); ``JP01``..``JP47`` state codes become prefecture names.

Card data: only Magento keeps card references in core tables (``cc_last_4`` and expiry). For
WooCommerce give :attr:`PresetOptions.card_meta` (order meta keys a gateway plugin writes, e.g.
``{"card_masked": "_card_last4", "card_token": "_stripe_source_id"}``). EC-CUBE card plugins keep
their own tables: export them as CSV if you need card counts. EC-CUBE's ``dtb_shipping`` (where
the goods went) is not read: the orderer in ``dtb_order`` is who paid and whom we notify.

Payment methods map per platform (:data:`MAGENTO_PAYMENTS`, :data:`WOO_PAYMENTS`; EC-CUBE by the
method's label, ``代金引換`` / ``クレジットカード決済`` / ``郵便振替`` ..., and by ``dtb_payment.method_class``);
codes nobody knows become ``unknown`` (scoped like card) and are reported once each;
:attr:`PresetOptions.payment_values` adds or overrides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from skimguard.incident.importers import (
    _OUTSIDE,
    ImporterError,
    ImportResult,
    PaymentMap,
    Tally,
    TimeRange,
    as_utc,
    card_reference,
    joined,
    normalize_expiry,
    scrub_card_numbers,
    text,
)
from skimguard.incident.records import (
    CheckoutSession,
    Contact,
    Order,
    PaymentMethod,
    Registration,
    SessionSource,
)

__all__ = [
    "JP_PREFECTURES",
    "MAGENTO_PAYMENTS",
    "PRESETS",
    "WOO_PAYMENTS",
    "PresetOptions",
    "import_database",
    "readonly_connection",
]

PRESETS = ("eccube4", "magento2", "woocommerce", "woocommerce-hpos", "woocommerce-legacy")
Kind = Literal["orders", "sessions", "registrations"]

_P = PaymentMethod

MAGENTO_PAYMENTS: Mapping[str, PaymentMethod] = {
    "checkmo": _P.OTHER,  # check / money order
    "cashondelivery": _P.CASH_ON_DELIVERY,
    "banktransfer": _P.BANK_TRANSFER,
    "purchaseorder": _P.OTHER,
    "free": _P.OTHER,
    "companycredit": _P.OTHER,
    "paypal_express": _P.OTHER,
    "paypal_standard": _P.OTHER,
    "braintree_paypal": _P.OTHER,
    "braintree": _P.CARD,
    "braintree_cc_vault": _P.CARD,
    "payflowpro": _P.CARD,
    "payflowpro_cc_vault": _P.CARD,
    "payflow_advanced": _P.CARD,
    "payflow_link": _P.CARD,
    "hosted_pro": _P.CARD,
    "authorizenet_acceptjs": _P.CARD,
    "authorizenet_directpost": _P.CARD,
    "ccsave": _P.CARD,
    "stripe_payments": _P.CARD,
    "adyen_cc": _P.CARD,
}

WOO_PAYMENTS: Mapping[str, PaymentMethod] = {
    "cod": _P.CASH_ON_DELIVERY,
    "bacs": _P.BANK_TRANSFER,
    "cheque": _P.OTHER,
    "paypal": _P.OTHER,
    "ppcp-gateway": _P.OTHER,
    "stripe": _P.CARD,
    "stripe_cc": _P.CARD,
    "woocommerce_payments": _P.CARD,
    "square_credit_card": _P.CARD,
    "braintree_credit_card": _P.CARD,
    "authorize_net_cim_credit_card": _P.CARD,
    "ppcp-credit-card-gateway": _P.CARD,
    "ppcp-card-button-gateway": _P.CARD,
    "stripe_konbini": _P.CONVENIENCE_STORE,
}

EC_CUBE_STATUSES: Mapping[int, str] = {
    1: "new",
    3: "cancelled",
    4: "in progress",
    5: "delivered",
    6: "paid",
    7: "pending",  # 決済処理中
    8: "processing",  # 購入処理中
    9: "returned",
}

JP_PREFECTURES: Mapping[str, str] = {
    f"JP{i:02d}": name
    for i, name in enumerate(
        [
            "北海道",
            "青森県",
            "岩手県",
            "宮城県",
            "秋田県",
            "山形県",
            "福島県",
            "茨城県",
            "栃木県",
            "群馬県",
            "埼玉県",
            "千葉県",
            "東京都",
            "神奈川県",
            "新潟県",
            "富山県",
            "石川県",
            "福井県",
            "山梨県",
            "長野県",
            "岐阜県",
            "静岡県",
            "愛知県",
            "三重県",
            "滋賀県",
            "京都府",
            "大阪府",
            "兵庫県",
            "奈良県",
            "和歌山県",
            "鳥取県",
            "島根県",
            "岡山県",
            "広島県",
            "山口県",
            "徳島県",
            "香川県",
            "愛媛県",
            "高知県",
            "福岡県",
            "佐賀県",
            "長崎県",
            "熊本県",
            "大分県",
            "宮崎県",
            "鹿児島県",
            "沖縄県",
        ],
        start=1,
    )
}


@dataclass(frozen=True)
class PresetOptions:
    """How a preset reads one shop. All optional.

    ``checkout_path`` is the path recorded on abandoned checkouts read from the database, which does
    not know the page: give the incident's card page so scoping matches them (defaults:
    ``/shopping`` for EC-CUBE, ``/checkout`` otherwise). ``registration_path`` likewise for
    registrations (default None: scoping then takes them as made on the registration page).
    """

    table_prefix: str | None = None  # WooCommerce: "wp_" by default; Magento: "" by default
    payment_values: Mapping[str, PaymentMethod] = field(default_factory=dict)
    checkout_path: str | None = None
    registration_path: str | None = None
    card_meta: Mapping[str, str] = field(default_factory=dict)  # WooCommerce: card_masked / card_token / card_expiry
    slack: timedelta = timedelta(days=1)
    batch_size: int = 2000
    statement_timeout: float = 600.0  # seconds per query


# --------------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------------


class _DbTime(TypeDecorator[Any]):
    """A time column as the platform stores it. Binds a UTC bound the way the column compares:
    an aware value for PostgreSQL ``timestamptz``, naive UTC wall time for MySQL ``DATETIME`` /
    ``TIMESTAMP`` and PostgreSQL ``timestamp``, text for SQLite (where results come back as text
    too, parsed by :func:`~skimguard.incident.importers.as_utc`)."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self, tz: bool = False) -> None:
        super().__init__(timezone=tz)
        self.tz = tz

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String())
        return dialect.type_descriptor(sa.DateTime(timezone=self.tz))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if not isinstance(value, datetime):
            return value
        utc = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.strftime("%Y-%m-%d %H:%M:%S")
        if dialect.name == "postgresql" and self.tz:
            return utc
        return utc.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        return value


def _engine(url: str) -> Engine:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ImporterError(
            f"{_safe(url)}: not a database URL",
            hint="e.g. mysql+pymysql://user@host/shop, postgresql+psycopg://user@host/shop, sqlite:///shop.db",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ImporterError(f"{_safe(url)}: give the path of the shop's SQLite file")
        if not Path(database).is_file():
            raise ImporterError(f"{database}: no such database file")
        parsed = parsed.set(database=f"file:{Path(database).resolve()}", query={"mode": "ro", "uri": "true"})
    try:
        return sa.create_engine(parsed, poolclass=NullPool)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ImporterError(f"{_safe(url)}: {exc}", hint="install the database driver (pymysql, psycopg)") from None


def _safe(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<database URL>"


@contextlib.contextmanager
def readonly_connection(engine: Engine, statement_timeout: float = 600.0) -> Iterator[Connection]:
    """A connection in a read-only transaction with a statement timeout; rolled back at the end.

    The importer never writes, but the URL may carry a writable account: the database itself is
    asked to refuse writes, so a bug (or a hostile preset option) cannot change the shop's data."""
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        raise ImporterError(
            f"{engine.url.render_as_string(hide_password=True)}: cannot connect ({_first_line(exc)})",
            hint="check the URL, the account and that the database is reachable",
        ) from None
    try:
        name = conn.dialect.name
        millis = max(1, int(statement_timeout * 1000))
        if name == "sqlite":
            conn.exec_driver_sql("PRAGMA query_only = ON")
            conn.rollback()
        elif name in ("mysql", "mariadb"):
            conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
            if getattr(conn.dialect, "is_mariadb", False):
                conn.exec_driver_sql(f"SET SESSION max_statement_time = {millis / 1000:.3f}")
            else:
                conn.exec_driver_sql(f"SET SESSION max_execution_time = {millis}")
            conn.rollback()
        elif name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {millis}")
        yield conn
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.rollback()
        conn.close()


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    """One preset query: the columns it needs (checked before reading), the statement given the
    SQL bounds, and the row converter."""

    needs: Mapping[str, tuple[str, ...]]
    statement: Callable[[datetime | None, datetime | None], sa.Select[Any]]
    convert: Callable[[RowMapping, _Ctx], Any]


class _Ctx:
    def __init__(self, tally: Tally, window: TimeRange, payments: PaymentMap, options: PresetOptions) -> None:
        self.tally = tally
        self.window = window
        self.payments = payments
        self.options = options
        self.row = 0
        self.last_id: str | None = None

    def when(self, value: object, what: str, ident: str) -> datetime | None:
        at = as_utc(value)
        if at is None:
            self.tally.bad(self.row, f"{ident}: {what} {str(value)[:40]!r} is not a time")
        return at

    def when_inside(self, value: object, what: str, ident: str) -> Any:
        """The row's time when it lies in the window; ``_OUTSIDE`` when it does not; None (reported
        as a bad row) when it is not a time. Every converter starts with this."""
        at = self.when(value, what, ident)
        if at is None:
            return None
        return at if self.window.contains(at) else _OUTSIDE

    def free(self, value: str | None, what: str, ident: str) -> str | None:
        scrubbed, masked = scrub_card_numbers(value)
        if masked:
            self.tally.stats.cards_masked += masked
            self.tally.warn(self.row, f"{ident}: a card number in {what} was masked")
        return scrubbed

    def card(self, raw: object, ident: str) -> str | None:
        masked, was_full = card_reference(raw)
        if was_full:
            self.tally.stats.cards_masked += 1
            self.tally.warn(self.row, f"{ident}: a full card number was masked (first six, last four)")
        return masked

    def payment(self, code: str | None, *fallbacks: str | None, card_hint: bool = False) -> PaymentMethod:
        method, known = self.payments.classify(code)
        if known:
            return method
        for label in fallbacks:
            if label is None:
                continue
            method, known = _GENERIC.classify(label)
            if known and method is not PaymentMethod.UNKNOWN:
                return method
        key = (code or "").casefold()
        if card_hint or any(part in key for part in ("credit", "card", "_cc", "cc_")):
            return PaymentMethod.CARD
        if code is not None:
            self.tally.unmapped_payment(self.row, code)
        return self.payments.default


_GENERIC = PaymentMap()


def _table(name: str, *columns: str, times: tuple[str, ...] = (), tz: bool = False) -> sa.TableClause:
    cols = [sa.column(c, _DbTime(tz)) if c in times else sa.column(c) for c in columns]
    return sa.table(name, *cols)


def _bounded(
    stmt: sa.Select[Any], column: sa.ColumnClause[Any], lo: datetime | None, hi: datetime | None
) -> sa.Select[Any]:
    if lo is not None:
        stmt = stmt.where(column >= lo)
    if hi is not None:
        stmt = stmt.where(column <= hi)
    return stmt


def _id(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return str(value) if value != 0 else None
    return text(value)


def _customer(value: object) -> str | None:
    """A customer ID, None for guests (NULL, 0 or empty: WooCommerce stores 0 for guests)."""
    ident = _id(value)
    return None if ident in (None, "0") else ident


def _address(*parts: object) -> str | None:
    return joined(p for p in parts if p is not None)


# ---- EC-CUBE 4 -------------------------------------------------------------------------------


def _eccube_tables() -> dict[str, sa.TableClause]:
    return {
        "order": _table(
            "dtb_order",
            "id",
            "order_no",
            "pre_order_id",
            "customer_id",
            "email",
            "name01",
            "name02",
            "postal_code",
            "pref_id",
            "addr01",
            "addr02",
            "phone_number",
            "payment_method",
            "payment_id",
            "order_date",
            "create_date",
            "update_date",
            "order_status_id",
            times=("order_date", "create_date", "update_date"),
            tz=True,
        ),
        "payment": _table("dtb_payment", "id", "payment_method", "method_class"),
        "pref": _table("mtb_pref", "id", "name"),
        "customer": _table(
            "dtb_customer",
            "id",
            "email",
            "name01",
            "name02",
            "postal_code",
            "pref_id",
            "addr01",
            "addr02",
            "phone_number",
            "create_date",
            times=("create_date",),
            tz=True,
        ),
    }


def _eccube(kind: Kind, options: PresetOptions) -> _Query:
    t = _eccube_tables()
    o, pay, pref, c = t["order"], t["payment"], t["pref"], t["customer"]
    if kind == "registrations":

        def stmt_r(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
            s = sa.select(
                c.c.id,
                c.c.email,
                c.c.name01,
                c.c.name02,
                c.c.postal_code,
                pref.c.name.label("pref"),
                c.c.addr01,
                c.c.addr02,
                c.c.phone_number,
                c.c.create_date,
            ).select_from(c.outerjoin(pref, pref.c.id == c.c.pref_id))
            return _bounded(s, c.c.create_date, lo, hi).order_by(c.c.create_date, c.c.id)

        def conv_r(r: RowMapping, ctx: _Ctx) -> Any:
            ident = _id(r["id"])
            if ident is None:
                ctx.tally.bad(ctx.row, "dtb_customer row without an id")
                return None
            at = ctx.when_inside(r["create_date"], "create_date", f"customer {ident}")
            if not isinstance(at, datetime):
                return at  # None (bad time, reported) or _OUTSIDE
            return Registration(
                customer_id=ident,
                at=at,
                contact=_eccube_contact(r, ctx, f"customer {ident}"),
                page=options.registration_path,
            )

        return _Query(
            {"dtb_customer": tuple(col.name for col in c.columns), "mtb_pref": ("id", "name")}, stmt_r, conv_r
        )

    base = sa.select(
        o.c.id,
        o.c.order_no,
        o.c.pre_order_id,
        o.c.customer_id,
        o.c.email,
        o.c.name01,
        o.c.name02,
        o.c.postal_code,
        pref.c.name.label("pref"),
        o.c.addr01,
        o.c.addr02,
        o.c.phone_number,
        o.c.payment_method,
        pay.c.method_class,
        o.c.order_date,
        o.c.create_date,
        o.c.update_date,
        o.c.order_status_id,
    ).select_from(o.outerjoin(pay, pay.c.id == o.c.payment_id).outerjoin(pref, pref.c.id == o.c.pref_id))
    needs = {
        "dtb_order": tuple(col.name for col in o.columns),
        "dtb_payment": ("id", "method_class"),
        "mtb_pref": ("id", "name"),
    }
    if kind == "orders":

        def stmt_o(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
            s = base.where(o.c.order_date.is_not(None)).where(o.c.order_status_id != 8)
            return _bounded(s, o.c.order_date, lo, hi).order_by(o.c.order_date, o.c.id)

        def conv_o(r: RowMapping, ctx: _Ctx) -> Any:
            ident = _id(r["order_no"]) or _id(r["id"])
            if ident is None:
                ctx.tally.bad(ctx.row, "dtb_order row without order_no or id")
                return None
            at = ctx.when_inside(r["order_date"], "order_date", f"order {ident}")
            if not isinstance(at, datetime):
                return at  # None (bad time, reported) or _OUTSIDE
            label = text(r["payment_method"])
            method_class = text(r["method_class"]) or ""
            card_hint = any(k in method_class.casefold() for k in ("credit", "card"))
            status = r["order_status_id"]
            return Order(
                order_id=ident,
                placed_at=at,
                payment=ctx.payment(label, card_hint=card_hint),
                customer_id=_customer(r["customer_id"]),
                contact=_eccube_contact(r, ctx, f"order {ident}"),
                status=EC_CUBE_STATUSES.get(int(status), f"status {status}") if status is not None else None,
            )

        return _Query(needs, stmt_o, conv_o)

    path = options.checkout_path or "/shopping"

    def stmt_s(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
        s = base.where(o.c.order_status_id.in_((7, 8)))
        return _bounded(s, o.c.update_date, lo, hi).order_by(o.c.update_date, o.c.id)

    def conv_s(r: RowMapping, ctx: _Ctx) -> Any:
        ident = _id(r["pre_order_id"]) or _id(r["id"])
        if ident is None:
            ctx.tally.bad(ctx.row, "dtb_order row without pre_order_id or id")
            return None
        at = ctx.when_inside(r["update_date"], "update_date", f"checkout {ident}")
        if not isinstance(at, datetime):
            return at  # None (bad time, reported) or _OUTSIDE
        return CheckoutSession(
            session_id=ident,
            at=at,
            path=path,
            posted=r["order_status_id"] == 7,
            source=SessionSource.DATABASE,
            customer_id=_customer(r["customer_id"]),
            contact=_eccube_contact(r, ctx, f"checkout {ident}"),
        )

    return _Query(needs, stmt_s, conv_s)


def _eccube_contact(r: RowMapping, ctx: _Ctx, ident: str) -> Contact:
    return Contact(
        name=ctx.free(_address(r["name01"], r["name02"]), "the name", ident),
        email=text(r["email"]),
        postal_code=text(r["postal_code"]),
        address=ctx.free(_address(r["pref"], r["addr01"], r["addr02"]), "the address", ident),
        phone=text(r["phone_number"]),
    )


# ---- Magento 2 -------------------------------------------------------------------------------


def _magento(kind: Kind, options: PresetOptions) -> _Query:
    p = options.table_prefix or ""
    if kind == "registrations":
        ce = _table(
            p + "customer_entity",
            "entity_id",
            "email",
            "firstname",
            "lastname",
            "created_at",
            "default_billing",
            times=("created_at",),
        )
        ad = _table(p + "customer_address_entity", "entity_id", "postcode", "region", "city", "street", "telephone")

        def stmt_r(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
            s = sa.select(
                ce.c.entity_id,
                ce.c.email,
                ce.c.firstname,
                ce.c.lastname,
                ce.c.created_at,
                ad.c.postcode,
                ad.c.region,
                ad.c.city,
                ad.c.street,
                ad.c.telephone,
            ).select_from(ce.outerjoin(ad, ad.c.entity_id == ce.c.default_billing))
            return _bounded(s, ce.c.created_at, lo, hi).order_by(ce.c.created_at, ce.c.entity_id)

        def conv_r(r: RowMapping, ctx: _Ctx) -> Any:
            ident = _id(r["entity_id"])
            if ident is None:
                ctx.tally.bad(ctx.row, "customer_entity row without entity_id")
                return None
            at = ctx.when_inside(r["created_at"], "created_at", f"customer {ident}")
            if not isinstance(at, datetime):
                return at  # None (bad time, reported) or _OUTSIDE
            who = f"customer {ident}"
            return Registration(
                customer_id=ident,
                at=at,
                contact=Contact(
                    name=ctx.free(_address(r["firstname"], r["lastname"]), "the name", who),
                    email=text(r["email"]),
                    postal_code=text(r["postcode"]),
                    address=ctx.free(_street(r["region"], r["city"], r["street"]), "the address", who),
                    phone=text(r["telephone"]),
                ),
                page=options.registration_path,
            )

        return _Query(
            {
                p + "customer_entity": tuple(col.name for col in ce.columns),
                p + "customer_address_entity": tuple(col.name for col in ad.columns),
            },
            stmt_r,
            conv_r,
        )

    if kind == "sessions":
        q = _table(
            p + "quote",
            "entity_id",
            "created_at",
            "updated_at",
            "is_active",
            "customer_id",
            "customer_email",
            "customer_firstname",
            "customer_lastname",
            "reserved_order_id",
            "remote_ip",
            times=("created_at", "updated_at"),
        )
        path = options.checkout_path or "/checkout"

        def stmt_s(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
            s = (
                sa.select(
                    q.c.entity_id,
                    q.c.updated_at,
                    q.c.customer_id,
                    q.c.customer_email,
                    q.c.customer_firstname,
                    q.c.customer_lastname,
                    q.c.reserved_order_id,
                    q.c.remote_ip,
                )
                .where(q.c.is_active == 1)
                .where(q.c.customer_email.is_not(None))
            )
            return _bounded(s, q.c.updated_at, lo, hi).order_by(q.c.updated_at, q.c.entity_id)

        def conv_s(r: RowMapping, ctx: _Ctx) -> Any:
            ident = _id(r["entity_id"])
            if ident is None:
                ctx.tally.bad(ctx.row, "quote row without entity_id")
                return None
            who = f"quote {ident}"
            at = ctx.when_inside(r["updated_at"], "updated_at", who)
            if not isinstance(at, datetime):
                return at  # None (bad time, reported) or _OUTSIDE
            return CheckoutSession(
                session_id=f"quote:{ident}",
                at=at,
                path=path,
                posted=text(r["reserved_order_id"]) is not None,
                source=SessionSource.DATABASE,
                client=text(r["remote_ip"]),
                customer_id=_customer(r["customer_id"]),
                contact=Contact(
                    name=ctx.free(_address(r["customer_firstname"], r["customer_lastname"]), "the name", who),
                    email=text(r["customer_email"]),
                ),
            )

        return _Query({p + "quote": tuple(col.name for col in q.columns)}, stmt_s, conv_s)

    so = _table(
        p + "sales_order",
        "entity_id",
        "increment_id",
        "customer_id",
        "customer_is_guest",
        "customer_email",
        "customer_firstname",
        "customer_lastname",
        "created_at",
        "status",
        times=("created_at",),
    )
    sp = _table(p + "sales_order_payment", "parent_id", "method", "cc_last_4", "cc_exp_month", "cc_exp_year")
    sa_ = _table(
        p + "sales_order_address",
        "parent_id",
        "address_type",
        "firstname",
        "lastname",
        "postcode",
        "region",
        "city",
        "street",
        "telephone",
        "email",
    )

    def stmt_o(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
        s = sa.select(
            so.c.entity_id,
            so.c.increment_id,
            so.c.customer_id,
            so.c.customer_is_guest,
            so.c.customer_email,
            so.c.customer_firstname,
            so.c.customer_lastname,
            so.c.created_at,
            so.c.status,
            sp.c.method,
            sp.c.cc_last_4,
            sp.c.cc_exp_month,
            sp.c.cc_exp_year,
            sa_.c.firstname,
            sa_.c.lastname,
            sa_.c.postcode,
            sa_.c.region,
            sa_.c.city,
            sa_.c.street,
            sa_.c.telephone,
            sa_.c.email.label("billing_email"),
        ).select_from(
            so.outerjoin(sp, sp.c.parent_id == so.c.entity_id).outerjoin(
                sa_, sa.and_(sa_.c.parent_id == so.c.entity_id, sa_.c.address_type == "billing")
            )
        )
        return _bounded(s, so.c.created_at, lo, hi).order_by(so.c.created_at, so.c.entity_id)

    def conv_o(r: RowMapping, ctx: _Ctx) -> Any:
        ident = _id(r["increment_id"]) or _id(r["entity_id"])
        if ident is None:
            ctx.tally.bad(ctx.row, "sales_order row without increment_id or entity_id")
            return None
        if ident == ctx.last_id:
            ctx.tally.stats.ignored += 1  # a second payment row of the same order
            return _SKIP
        ctx.last_id = ident
        who = f"order {ident}"
        at = ctx.when_inside(r["created_at"], "created_at", who)
        if not isinstance(at, datetime):
            return at  # None (bad time, reported) or _OUTSIDE
        card = ctx.card(r["cc_last_4"], who)
        month, year = text(r["cc_exp_month"]), text(r["cc_exp_year"])
        expiry = normalize_expiry(f"{month}/{year}") if month and year and month != "0" and year != "0" else None
        guest = r["customer_is_guest"] in (1, "1", True)
        name = _address(r["firstname"], r["lastname"]) or _address(r["customer_firstname"], r["customer_lastname"])
        return Order(
            order_id=ident,
            placed_at=at,
            payment=ctx.payment(text(r["method"]), card_hint=card is not None),
            customer_id=None if guest else _customer(r["customer_id"]),
            contact=Contact(
                name=ctx.free(name, "the name", who),
                email=text(r["customer_email"]) or text(r["billing_email"]),
                postal_code=text(r["postcode"]),
                address=ctx.free(_street(r["region"], r["city"], r["street"]), "the address", who),
                phone=text(r["telephone"]),
            ),
            card_masked=card,
            card_expiry=expiry,
            status=text(r["status"]),
        )

    return _Query(
        {
            p + "sales_order": tuple(col.name for col in so.columns),
            p + "sales_order_payment": tuple(col.name for col in sp.columns),
            p + "sales_order_address": tuple(col.name for col in sa_.columns),
        },
        stmt_o,
        conv_o,
    )


def _street(region: object, city: object, street: object) -> str | None:
    lines = str(street).splitlines() if street is not None else []
    return _address(region, city, *lines)


# ---- WooCommerce -----------------------------------------------------------------------------

_WOO_META = (
    "_payment_method",
    "_payment_method_title",
    "_customer_user",
    "_billing_email",
    "_billing_first_name",
    "_billing_last_name",
    "_billing_postcode",
    "_billing_state",
    "_billing_city",
    "_billing_address_1",
    "_billing_address_2",
    "_billing_phone",
)
_WOO_USER_META = (
    "billing_first_name",
    "billing_last_name",
    "first_name",
    "last_name",
    "billing_postcode",
    "billing_state",
    "billing_city",
    "billing_address_1",
    "billing_address_2",
    "billing_phone",
)
_WOO_NOT_ORDERS = ("auto-draft", "draft", "wc-checkout-draft", "checkout-draft")
_WOO_DRAFTS = ("wc-checkout-draft", "checkout-draft")


def _pivot(meta: sa.TableClause, id_col: str, keys: tuple[str, ...]) -> list[sa.Label[Any]]:
    return [
        sa.func.max(sa.case((meta.c.meta_key == key, meta.c.meta_value))).label(f"m{i}") for i, key in enumerate(keys)
    ]


def _woo_state(value: object) -> str | None:
    code = text(value)
    if code is None:
        return None
    return JP_PREFECTURES.get(code.upper(), code)


def _woo_status(value: object) -> str | None:
    status = text(value)
    return status.removeprefix("wc-") if status else None


def _woo(kind: Kind, options: PresetOptions, hpos: bool) -> _Query:
    p = "wp_" if options.table_prefix is None else options.table_prefix
    card_keys = tuple(options.card_meta.get(k) or "" for k in ("card_masked", "card_token", "card_expiry"))
    unknown = set(options.card_meta) - {"card_masked", "card_token", "card_expiry"}
    if unknown:
        raise ImporterError(f"card_meta: unknown key(s) {sorted(unknown)} (card_masked, card_token, card_expiry)")
    extra = tuple(k for k in card_keys if k)

    if kind == "registrations":
        u = _table(p + "users", "ID", "user_email", "user_registered", "display_name", times=("user_registered",))
        um = _table(p + "usermeta", "user_id", "meta_key", "meta_value")

        def stmt_r(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
            s = (
                sa.select(
                    u.c.ID.label("id"),
                    u.c.user_email,
                    u.c.user_registered,
                    u.c.display_name,
                    *_pivot(um, "user_id", _WOO_USER_META),
                )
                .select_from(u.outerjoin(um, sa.and_(um.c.user_id == u.c.ID, um.c.meta_key.in_(_WOO_USER_META))))
                .group_by(u.c.ID, u.c.user_email, u.c.user_registered, u.c.display_name)
            )
            return _bounded(s, u.c.user_registered, lo, hi).order_by(u.c.user_registered, u.c.ID)

        def conv_r(r: RowMapping, ctx: _Ctx) -> Any:
            ident = _id(r["id"])
            if ident is None:
                ctx.tally.bad(ctx.row, "users row without ID")
                return None
            who = f"user {ident}"
            at = ctx.when_inside(r["user_registered"], "user_registered", who)
            if not isinstance(at, datetime):
                return at  # None (bad time, reported) or _OUTSIDE
            m = {k: r[f"m{i}"] for i, k in enumerate(_WOO_USER_META)}
            name = _address(m["billing_first_name"], m["billing_last_name"]) or _address(
                m["first_name"], m["last_name"]
            )
            return Registration(
                customer_id=ident,
                at=at,
                contact=Contact(
                    name=ctx.free(name or text(r["display_name"]), "the name", who),
                    email=text(r["user_email"]),
                    postal_code=text(m["billing_postcode"]),
                    address=ctx.free(
                        _address(
                            _woo_state(m["billing_state"]),
                            m["billing_city"],
                            m["billing_address_1"],
                            m["billing_address_2"],
                        ),
                        "the address",
                        who,
                    ),
                    phone=text(m["billing_phone"]),
                ),
                page=options.registration_path,
            )

        return _Query(
            {
                p + "users": ("ID", "user_email", "user_registered", "display_name"),
                p + "usermeta": ("user_id", "meta_key", "meta_value"),
            },
            stmt_r,
            conv_r,
        )

    path = options.checkout_path or "/checkout"

    if hpos:
        o = _table(
            p + "wc_orders",
            "id",
            "type",
            "status",
            "customer_id",
            "billing_email",
            "payment_method",
            "payment_method_title",
            "date_created_gmt",
            "date_updated_gmt",
            times=("date_created_gmt", "date_updated_gmt"),
        )
        a = _table(
            p + "wc_order_addresses",
            "order_id",
            "address_type",
            "first_name",
            "last_name",
            "postcode",
            "state",
            "city",
            "address_1",
            "address_2",
            "phone",
            "email",
        )
        om = _table(p + "wc_orders_meta", "order_id", "meta_key", "meta_value")
        time_col = o.c.date_created_gmt if kind == "orders" else o.c.date_updated_gmt
        cols = [
            o.c.id,
            o.c.status,
            o.c.customer_id,
            o.c.billing_email,
            o.c.payment_method,
            o.c.payment_method_title,
            time_col.label("at"),
            a.c.first_name,
            a.c.last_name,
            a.c.postcode,
            a.c.state,
            a.c.city,
            a.c.address_1,
            a.c.address_2,
            a.c.phone,
        ]
        joined_from = o.outerjoin(a, sa.and_(a.c.order_id == o.c.id, a.c.address_type == "billing"))
        needs: dict[str, tuple[str, ...]] = {
            p + "wc_orders": tuple(col.name for col in o.columns),
            p + "wc_order_addresses": tuple(col.name for col in a.columns),
        }
        if extra:
            needs[p + "wc_orders_meta"] = ("order_id", "meta_key", "meta_value")

        def stmt_h(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
            s = sa.select(*cols).where(o.c.type == "shop_order")
            if extra:
                s = (
                    sa.select(*cols, *_pivot(om, "order_id", extra))
                    .where(o.c.type == "shop_order")
                    .select_from(joined_from.outerjoin(om, sa.and_(om.c.order_id == o.c.id, om.c.meta_key.in_(extra))))
                    .group_by(*cols)
                )
            else:
                s = s.select_from(joined_from)
            if kind == "orders":
                s = s.where(sa.or_(o.c.status.is_(None), o.c.status.not_in(_WOO_NOT_ORDERS)))
            else:
                s = s.where(o.c.status.in_(_WOO_DRAFTS))
            return _bounded(s, time_col, lo, hi).order_by(time_col, o.c.id)

        def fields_h(r: RowMapping) -> dict[str, Any]:
            m = {k: r[f"m{i}"] for i, k in enumerate(extra)} if extra else {}
            return {
                "id": r["id"],
                "status": r["status"],
                "at": r["at"],
                "customer": r["customer_id"],
                "email": r["billing_email"],
                "method": r["payment_method"],
                "method_title": r["payment_method_title"],
                "first": r["first_name"],
                "last": r["last_name"],
                "postcode": r["postcode"],
                "state": r["state"],
                "city": r["city"],
                "address_1": r["address_1"],
                "address_2": r["address_2"],
                "phone": r["phone"],
                "card_masked": m.get(card_keys[0]) if card_keys[0] else None,
                "card_token": m.get(card_keys[1]) if card_keys[1] else None,
                "card_expiry": m.get(card_keys[2]) if card_keys[2] else None,
            }

        return _Query(needs, stmt_h, _woo_converter(kind, fields_h, path, "date_created_gmt"))

    posts = _table(
        p + "posts",
        "ID",
        "post_type",
        "post_status",
        "post_date_gmt",
        "post_modified_gmt",
        times=("post_date_gmt", "post_modified_gmt"),
    )
    pm = _table(p + "postmeta", "post_id", "meta_key", "meta_value")
    keys = _WOO_META + extra
    time_col_l = posts.c.post_date_gmt if kind == "orders" else posts.c.post_modified_gmt

    def stmt_l(lo: datetime | None, hi: datetime | None) -> sa.Select[Any]:
        s = (
            sa.select(posts.c.ID.label("id"), posts.c.post_status, time_col_l.label("at"), *_pivot(pm, "post_id", keys))
            .select_from(posts.outerjoin(pm, sa.and_(pm.c.post_id == posts.c.ID, pm.c.meta_key.in_(keys))))
            .where(posts.c.post_type == "shop_order")
            .group_by(posts.c.ID, posts.c.post_status, time_col_l)
        )
        if kind == "orders":
            s = s.where(posts.c.post_status.not_in(_WOO_NOT_ORDERS))
        else:
            s = s.where(posts.c.post_status.in_(_WOO_DRAFTS))
        return _bounded(s, time_col_l, lo, hi).order_by(time_col_l, posts.c.ID)

    def fields_l(r: RowMapping) -> dict[str, Any]:
        m = {k: r[f"m{i}"] for i, k in enumerate(keys)}
        return {
            "id": r["id"],
            "status": r["post_status"],
            "at": r["at"],
            "customer": m["_customer_user"],
            "email": m["_billing_email"],
            "method": m["_payment_method"],
            "method_title": m["_payment_method_title"],
            "first": m["_billing_first_name"],
            "last": m["_billing_last_name"],
            "postcode": m["_billing_postcode"],
            "state": m["_billing_state"],
            "city": m["_billing_city"],
            "address_1": m["_billing_address_1"],
            "address_2": m["_billing_address_2"],
            "phone": m["_billing_phone"],
            "card_masked": m.get(card_keys[0]) if card_keys[0] else None,
            "card_token": m.get(card_keys[1]) if card_keys[1] else None,
            "card_expiry": m.get(card_keys[2]) if card_keys[2] else None,
        }

    return _Query(
        {
            p + "posts": ("ID", "post_type", "post_status", "post_date_gmt", "post_modified_gmt"),
            p + "postmeta": ("post_id", "meta_key", "meta_value"),
        },
        stmt_l,
        _woo_converter(kind, fields_l, path, "post_date_gmt"),
    )


def _woo_converter(
    kind: Kind, fields: Callable[[RowMapping], dict[str, Any]], path: str, time_name: str
) -> Callable[[RowMapping, _Ctx], Any]:
    def convert(r: RowMapping, ctx: _Ctx) -> Any:
        f = fields(r)
        ident = _id(f["id"])
        if ident is None:
            ctx.tally.bad(ctx.row, "order row without an ID")
            return None
        who = f"order {ident}"
        at = ctx.when_inside(f["at"], time_name, who)
        if not isinstance(at, datetime):
            return at  # None (bad time, reported) or _OUTSIDE
        contact = Contact(
            name=ctx.free(_address(f["first"], f["last"]), "the name", who),
            email=text(f["email"]),
            postal_code=text(f["postcode"]),
            address=ctx.free(
                _address(_woo_state(f["state"]), f["city"], f["address_1"], f["address_2"]), "the address", who
            ),
            phone=text(f["phone"]),
        )
        if kind == "sessions":
            return CheckoutSession(
                session_id=f"order:{ident}",
                at=at,
                path=path,
                posted=False,
                source=SessionSource.DATABASE,
                customer_id=_customer(f["customer"]),
                contact=contact,
            )
        card = ctx.card(f["card_masked"], who)
        return Order(
            order_id=ident,
            placed_at=at,
            payment=ctx.payment(text(f["method"]), text(f["method_title"]), card_hint=card is not None),
            customer_id=_customer(f["customer"]),
            contact=contact,
            card_masked=card,
            card_expiry=normalize_expiry(f["card_expiry"]),
            card_token=text(f["card_token"]),
            status=_woo_status(f["status"]),
        )

    return convert


_SKIP: Any = object()


def _woo_uses_hpos(conn: Connection, prefix: str) -> bool:
    inspector = sa.inspect(conn)
    if inspector.has_table(prefix + "options"):
        opts = sa.table(prefix + "options", sa.column("option_name"), sa.column("option_value"))
        value = conn.execute(
            sa.select(opts.c.option_value).where(opts.c.option_name == "woocommerce_custom_orders_table_enabled")
        ).scalar()
        if value is not None:
            return str(value).strip().lower() == "yes"
    if inspector.has_table(prefix + "wc_orders"):
        orders = sa.table(prefix + "wc_orders", sa.column("id"), sa.column("type"))
        return conn.execute(sa.select(orders.c.id).where(orders.c.type == "shop_order").limit(1)).first() is not None
    return False


# --------------------------------------------------------------------------------------------
# Running a preset
# --------------------------------------------------------------------------------------------


def _payments(preset: str, options: PresetOptions) -> PaymentMap:
    base: Mapping[str, PaymentMethod]
    if preset == "magento2":
        base = MAGENTO_PAYMENTS
    elif preset.startswith("woocommerce"):
        base = WOO_PAYMENTS
    else:
        base = {}
    # EC-CUBE stores the method's label: the built-in Japanese labels apply; codes do not
    return PaymentMap({**base, **options.payment_values}, builtin=preset == "eccube4")


def _check_schema(conn: Connection, needs: Mapping[str, tuple[str, ...]], preset: str) -> None:
    inspector = sa.inspect(conn)
    for table, columns in needs.items():
        if not inspector.has_table(table):
            raise ImporterError(
                f"{preset}: the database has no table {table}",
                hint="is this the right database and preset (and table prefix)?",
            )
        have = {c["name"].lower() for c in inspector.get_columns(table)}
        missing = [c for c in columns if c.lower() not in have]
        if missing:
            raise ImporterError(
                f"{preset}: table {table} has no column(s) {', '.join(missing)}",
                hint="this preset reads the platform's standard schema; export a CSV instead",
            )


def import_database(
    url: str, preset: str, kind: Kind, window: TimeRange | None = None, options: PresetOptions | None = None
) -> ImportResult[Any]:
    """``kind`` records from the shop database at ``url`` read with ``preset``; see the module doc.

    The schema is checked (tables and columns) before this returns; the rows are read while the
    result is iterated, on a connection that stays open until the iteration ends or the result is
    closed."""
    if preset not in PRESETS:
        raise ImporterError(f"unknown preset {preset!r} (one of {', '.join(PRESETS)})")
    options = options or PresetOptions()
    if options.batch_size < 1 or options.statement_timeout <= 0:
        raise ImporterError("batch_size and statement_timeout must be positive")
    window = window or TimeRange()
    engine = _engine(url)
    display = f"{preset}:{engine.url.render_as_string(hide_password=True)}"
    try:
        with readonly_connection(engine, options.statement_timeout) as conn:
            if preset == "eccube4":
                query = _eccube(kind, options)
            elif preset == "magento2":
                query = _magento(kind, options)
            else:
                prefix = "wp_" if options.table_prefix is None else options.table_prefix
                hpos = preset == "woocommerce-hpos" or (
                    preset == "woocommerce" and kind != "registrations" and _woo_uses_hpos(conn, prefix)
                )
                query = _woo(kind, options, hpos)
                if preset == "woocommerce" and kind != "registrations":
                    display = (
                        f"{preset}({'hpos' if hpos else 'legacy'}):{engine.url.render_as_string(hide_password=True)}"
                    )
            _check_schema(conn, query.needs, preset)
    except ImporterError:
        engine.dispose()
        raise
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise ImporterError(f"{display}: {_first_line(exc)}") from None
    tally = Tally(display, kind)
    ctx = _Ctx(tally, window, _payments(preset, options), options)
    sql_bounds = window.widened(options.slack)

    def generate() -> Iterator[Any]:
        stats = tally.stats
        try:
            with readonly_connection(engine, options.statement_timeout) as conn:
                streaming = conn.execution_options(stream_results=True, yield_per=options.batch_size)
                try:
                    result = streaming.execute(query.statement(sql_bounds.start, sql_bounds.end))
                    for row in result.mappings():
                        stats.rows += 1
                        ctx.row = stats.rows
                        record = query.convert(row, ctx)
                        if record is None or record is _SKIP:
                            continue
                        if record is _OUTSIDE:
                            stats.outside_window += 1
                            continue
                        yield record
                except sa.exc.DBAPIError as exc:
                    raise ImporterError(f"{display}: reading stopped: {_first_line(exc)}") from None
        finally:
            engine.dispose()

    return ImportResult(generate(), tally)
