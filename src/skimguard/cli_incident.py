"""``skimguard incident ...``: when a skimmer got through, scope the breach and draft the reports.

* ``open``: group findings into an incident (``--finding FINGERPRINT[=VARIANT]``); ``--known-at``
  (when the shop learned of it) starts the regulatory clocks.
* ``window``: show the exposure windows, or refine an edge with evidence (a file's mtime, the
  first attacker request, a time the user knows), each kept with its source.
* ``scope``: import orders, checkout sessions (also from access logs) and registrations, and
  count the affected people and cards; the people list is stored for the notices.
* ``notify``: the mail-merge export per channel; ``notice``: record notices sent.
* ``set``: shop facts the drafts need (enquiry desk, prevention measures, report dates...).
* ``status``: windows, counts and the regulatory clocks; ``draft``: the documents.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skimguard.cli import (
    DEFAULT_CONFIG,
    ByOpt,
    ConfigOpt,
    Format,
    FormatOpt,
    OutputOpt,
    actor,
    app,
    dumps,
    emit,
    err,
    errors,
    opened,
    out,
)
from skimguard.config import Config, load_config
from skimguard.errors import ConfigError

if TYPE_CHECKING:
    from skimguard.incident.model import ExposureWindow
    from skimguard.incident.service import Loaded
    from skimguard.store import Store

INCIDENT_SCHEMA = "skimguard.incident/1"

incident_app = typer.Typer(
    help="Scope a breach (exposure window, affected people and cards), notices, deadlines and report drafts.",
    no_args_is_help=True,
)
app.add_typer(incident_app, name="incident")

IdArg = Annotated[str, typer.Argument(help="Incident ID (see 'skimguard incident list').")]
NowOpt = Annotated[str | None, typer.Option("--now", help="Evaluate the clocks at this time (default: now).")]

EDGE_KINDS = ("file-mtime", "access-log", "user", "payment-stopped")


def _now() -> datetime:
    return datetime.now(UTC)


def _time(text: str, zone: str, option: str) -> datetime:
    from skimguard.incident.model import IncidentError
    from skimguard.incident.window import parse_time

    try:
        return parse_time(text, zone)
    except IncidentError as e:
        raise ConfigError(f"{option}: {e}", hint=e.hint) from None


def _shown(value: datetime | None, zone: str, ongoing: str = "ongoing") -> str:
    from skimguard.incident.window import format_local

    return format_local(value, zone, ongoing=ongoing)


def _load(store: Store, incident_id: str) -> Loaded:
    from skimguard.incident.service import load_incident

    return load_incident(store, incident_id)


# ---- open / list ----------------------------------------------------------------------------


@incident_app.command("open")
def open_(
    site: Annotated[str, typer.Option("--site", "-s", help="The site the findings belong to.")],
    finding: Annotated[
        list[str],
        typer.Option(
            "--finding",
            help="FINGERPRINT[=VARIANT]: a stored finding (8+ characters of its fingerprint) and the skimmer "
            "variant it belongs to (default: 'skimmer'). Repeatable.",
        ),
    ],
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", help="When the shop learned of it (starts the clocks; default: now)."),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="A short title.")] = "",
    zone: Annotated[str | None, typer.Option("--zone", help="The shop's time zone (default: from config).")] = None,
    card_page: Annotated[
        list[str] | None, typer.Option("--card-page", help="Card-entry path of the site (repeatable).")
    ] = None,
    registration_page: Annotated[
        list[str] | None, typer.Option("--registration-page", help="Member registration path (repeatable).")
    ] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Group findings into an incident; --known-at starts the regulatory clocks."""
    from skimguard.incident import storage
    from skimguard.incident.window import zone_info

    with errors():
        config = load_config(config_path)
        config.site(site)
        shop_zone = zone or config.incident.zone
        zone_info(shop_zone)
        known = _time(known_at, shop_zone, "--known-at") if known_at else _now().replace(microsecond=0)
        grouped: dict[str, str] = {}
        for item in finding:
            fp, _, variant = item.partition("=")
            grouped[fp.strip()] = variant.strip() or "skimmer"
        details: dict[str, Any] = {}
        if card_page:
            details["card_pages"] = list(card_page)
        if registration_page:
            details["registration_pages"] = list(registration_page)
        with opened(config) as store:
            row = storage.open_incident(
                store, site, grouped, known_at=known, zone=shop_zone, title=title, actor=actor(by), details=details
            )
            loaded = _load(store, row.id)
    out.print(f"opened incident [bold]{escape(row.id)}[/] for site {escape(site)}")
    for v in loaded.incident.variants:
        kind = f"{v.kind.value}{', fake form' if v.fake_form else ''}"
        out.print(f"  variant {escape(v.name)} ({escape(kind)}) on {escape(', '.join(v.pages))}")
    out.print(f"  known at {escape(_shown(row.known_at, row.zone))}")


@incident_app.command("list")
def list_(
    site: Annotated[str | None, typer.Option("--site", "-s", help="Only this site.")] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    format: FormatOpt = Format.table,
) -> None:
    """The incidents, newest first."""
    from skimguard.incident import storage

    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            rows = storage.list_incidents(store, site)
    if format is Format.json:
        emit(
            dumps(
                {
                    "schema": INCIDENT_SCHEMA,
                    "incidents": [
                        {
                            "id": r.id,
                            "site": r.site,
                            "title": r.title,
                            "known_at": r.known_at.isoformat(),
                            "status": r.status,
                            "variants": sorted(r.variants),
                        }
                        for r in rows
                    ],
                }
            ),
            None,
        )
        return
    table = Table("incident", "site", "known at", "variants", "title")
    for r in rows:
        table.add_row(
            escape(r.id),
            escape(r.site),
            escape(_shown(r.known_at, r.zone)),
            escape(", ".join(sorted(r.variants))),
            escape(r.title),
        )
    out.print(table if rows else "no incidents")


# ---- windows --------------------------------------------------------------------------------


def _windows_table(windows: Sequence[ExposureWindow], zone: str) -> Table:
    table = Table("variant", "page", "start", "basis", "end", "basis", title="exposure windows")
    for w in windows:
        table.add_row(
            escape(w.variant),
            escape(w.page),
            escape(_shown(w.start, zone, "not established")),
            escape(w.start_basis.value + (f" ({w.start_source})" if w.start_source else "")),
            escape(_shown(w.end, zone)),
            escape(w.end_basis.value + (f" ({w.end_source})" if w.end_source else "")),
        )
    return table


def _window_json(w: ExposureWindow) -> dict[str, Any]:
    return {
        "variant": w.variant,
        "page": w.page,
        "episode": w.episode,
        "start": w.start.isoformat() if w.start else None,
        "end": w.end.isoformat() if w.end else None,
        "start_basis": w.start_basis.value,
        "end_basis": w.end_basis.value,
        "start_source": w.start_source,
        "end_source": w.end_source,
        "evidence": [
            {"kind": e.kind.value, "edge": e.edge.value, "at": e.at.isoformat(), "source": e.source, "note": n.value}
            for e, n in w.evidence
        ],
    }


@incident_app.command("window")
def window(
    incident_id: IdArg,
    start: Annotated[str | None, typer.Option("--start", help="Refine the start edge to this time.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Refine the end edge to this time.")] = None,
    kind: Annotated[str, typer.Option("--kind", help=f"Where the time comes from: {'|'.join(EDGE_KINDS)}.")] = "user",
    source: Annotated[
        str, typer.Option("--source", help="The evidence, in words: 'webroot scan: js/form.js mtime', ...")
    ] = "",
    variant: Annotated[str | None, typer.Option("--variant", help="Only this variant (default: all).")] = None,
    page: Annotated[str | None, typer.Option("--page", help="Only this page path (default: all).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Apply even beyond what the scans allow (recorded as forced).")
    ] = False,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    format: FormatOpt = Format.table,
    by: ByOpt = None,
) -> None:
    """Show the exposure windows; with --start/--end, first record a refinement with its source."""
    from skimguard.incident import service, storage

    with errors():
        if kind not in EDGE_KINDS:
            raise ConfigError(f"--kind must be one of {'|'.join(EDGE_KINDS)}, not {kind!r}")
        if (start or end) and not source.strip():
            raise ConfigError("a refinement needs its --source (what the time rests on)")
        config = load_config(config_path)
        with opened(config) as store:
            loaded = _load(store, incident_id)
            if variant is not None:
                loaded.incident.variant(variant)  # an unknown variant is an error, not a silent no-op
            zone = loaded.incident.zone
            for edge, value in (("start", start), ("end", end)):
                if value:
                    storage.add_evidence(
                        store,
                        incident_id,
                        variant=variant or "",
                        page=page or "",
                        edge=edge,
                        kind=kind,
                        at=_time(value, zone, f"--{edge}"),
                        source=source,
                        forced=force,
                        actor=actor(by),
                    )
            if start or end:
                loaded = _load(store, incident_id)
            windows = loaded.windows()
            hints = service.suggestions(store, loaded)
    if format is Format.json:
        emit(
            dumps(
                {
                    "schema": INCIDENT_SCHEMA,
                    "incident": incident_id,
                    "windows": [_window_json(w) for w in windows],
                    "suggestions": [
                        {"variant": h.variant, "at": h.at.isoformat(), "location": h.location, "reason": h.reason}
                        for h in hints
                    ],
                }
            ),
            None,
        )
        return
    out.print(_windows_table(windows, zone))
    for h in hints:
        out.print(
            f"  suggested start for {escape(h.variant)}: {escape(h.location)} was modified at "
            f"{escape(_shown(h.at, zone))} (it explains a finding: {escape(h.reason)}); to use it: "
            f"skimguard incident window {escape(incident_id)} --variant {escape(h.variant)} "
            f'--start "{escape(h.at.isoformat())}" --kind file-mtime --source "{escape(h.location)}"'
        )
    for w in windows:
        for e, note in w.evidence:
            out.print(
                f"  {escape(w.variant)} {escape(w.page)}: {e.edge.value} {escape(_shown(e.at, zone))} "
                f"[{escape(e.kind.value)}] {escape(e.source)} -> {note.value}"
            )


# ---- set ------------------------------------------------------------------------------------

_FACTS = (
    "operator",
    "shop_name",
    "site_url",
    "detected_how",
    "secondary_harm",
    "publication_delay_reason",
    "card_payment_restart",
    "police_station",
    "investigator",
    "stage",
)
_TIMES = ("card_payment_stopped_at", "skimmer_removed_at")
_DATES = ("published_on", "regulator_reported_on", "police_reported_on")


@incident_app.command("set")
def set_(
    incident_id: IdArg,
    fact: Annotated[
        list[str] | None,
        typer.Option(
            "--fact",
            help="KEY=VALUE shop fact for the drafts: "
            + ", ".join(_FACTS + _TIMES + _DATES)
            + ", fraud_reports. Repeatable.",
        ),
    ] = None,
    desk: Annotated[
        list[str] | None,
        typer.Option("--desk", help="Enquiry desk: name=..., phone=..., email=..., url=..., hours=... (repeatable)."),
    ] = None,
    prevention: Annotated[
        list[str] | None, typer.Option("--prevention", help="A prevention measure (repeatable; replaces the list).")
    ] = None,
    cause: Annotated[
        str | None,
        typer.Option(
            "--cause",
            help="third-party-script|fake-card-form|page-script|registration-page|other (overrides the derived one).",
        ),
    ] = None,
    cause_detail: Annotated[str | None, typer.Option("--cause-detail", help="The cause in words.")] = None,
    variant: Annotated[
        str | None, typer.Option("--variant", help="Variant for --page/--variant-kind/--fake-form.")
    ] = None,
    page: Annotated[list[str] | None, typer.Option("--page", help="Pages of --variant (replaces them).")] = None,
    variant_kind: Annotated[
        str | None, typer.Option("--variant-kind", help="What --variant takes: card|personal|both.")
    ] = None,
    fake_form: Annotated[
        bool | None, typer.Option("--fake-form/--no-fake-form", help="Whether --variant shows its own card form.")
    ] = None,
    done: Annotated[
        list[str] | None,
        typer.Option("--done", help="CLOCK=TIME: preliminary-report, final-report or individual-notice completed."),
    ] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Record shop facts the drafts need, variant pages/kind, and reports filed."""
    from skimguard.incident import storage
    from skimguard.incident.deadlines import ClockName
    from skimguard.incident.documents import CauseKind

    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            row = storage.get_incident(store, incident_id)
            if row is None:
                raise ConfigError(f"no incident {incident_id!r}", hint="see 'skimguard incident list'")
            changes: dict[str, Any] = {}
            for item in fact or []:
                key, sep, value = item.partition("=")
                key = key.strip()
                if not sep:
                    raise ConfigError(f"--fact {item!r}: expected KEY=VALUE")
                if key in _FACTS:
                    changes[key] = value
                elif key in _TIMES:
                    changes[key] = _time(value, row.zone, f"--fact {key}").isoformat()
                elif key in _DATES:
                    try:
                        changes[key] = datetime.fromisoformat(value.strip()).date().isoformat()
                    except ValueError:
                        raise ConfigError(f"--fact {key}: not a date: {value!r} (use YYYY-MM-DD)") from None
                elif key == "fraud_reports":
                    if not value.strip().isdigit():
                        raise ConfigError(f"--fact fraud_reports: not a number: {value!r}")
                    changes[key] = int(value)
                else:
                    raise ConfigError(f"--fact: unknown key {key!r}", hint="see 'skimguard incident set --help'")
            if "stage" in changes and changes["stage"] not in ("preliminary", "final"):
                raise ConfigError("--fact stage: preliminary or final")
            if desk:
                enquiry = dict(row.details.get("enquiry", {}) or {})
                for item in desk:
                    key, sep, value = item.partition("=")
                    if not sep or key not in ("name", "phone", "email", "url", "hours"):
                        raise ConfigError(f"--desk {item!r}: expected name|phone|email|url|hours=VALUE")
                    enquiry[key] = value
                changes["enquiry"] = enquiry
            if prevention:
                changes["prevention"] = list(prevention)
            if cause or cause_detail:
                kinds = {k.value for k in CauseKind}
                if cause and cause not in kinds:
                    raise ConfigError(f"--cause must be one of {'|'.join(sorted(kinds))}")
                changes["cause"] = {"kind": cause or "other", "detail": cause_detail}
            if page or variant_kind or fake_form is not None:
                if not variant or variant not in row.variants:
                    raise ConfigError(
                        f"--variant must name a variant of {incident_id}: {', '.join(sorted(row.variants))}"
                    )
                if variant_kind and variant_kind not in ("card", "personal", "both"):
                    raise ConfigError("--variant-kind must be card, personal or both")
                variants = dict(row.details.get("variants", {}) or {})
                own = dict(variants.get(variant, {}) or {})
                if page:
                    own["pages"] = list(page)
                if variant_kind:
                    own["kind"] = variant_kind
                if fake_form is not None:
                    own["fake_form"] = fake_form
                variants[variant] = own
                changes["variants"] = variants
            if done:
                names = {c.value for c in ClockName}
                finished = dict(row.details.get("done", {}) or {})
                for item in done:
                    key, sep, value = item.partition("=")
                    if not sep or key not in names:
                        raise ConfigError(f"--done {item!r}: expected {'|'.join(sorted(names))}=TIME")
                    finished[key] = _time(value, row.zone, f"--done {key}").isoformat()
                changes["done"] = finished
            if not changes:
                raise ConfigError("nothing to set", hint="see 'skimguard incident set --help'")
            storage.update_details(store, incident_id, changes, actor(by))
            if "variants" in changes:
                _load(store, incident_id)  # refuse nothing silently: a bad page shows up now
    out.print(f"updated {escape(incident_id)}: {escape(', '.join(sorted(changes)))}")


# ---- scope ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sources:
    orders: list[str]
    orders_mapping: Path | None
    sessions: list[str]
    sessions_mapping: Path | None
    registrations: list[str]
    registrations_mapping: Path | None
    db: str | None
    preset: str | None
    bounces: list[str]


def _margin_window(windows: Sequence[ExposureWindow], margin: timedelta) -> Any:
    from skimguard.incident.importers import TimeRange

    starts = [w.start for w in windows]
    ends = [w.end for w in windows]
    start = None if not starts or any(s is None for s in starts) else min(s for s in starts if s) - margin
    end = None if not ends or any(e is None for e in ends) else max(e for e in ends if e) + margin
    return TimeRange(start, end)


def _imports(src: _Sources, window: Any, stack: ExitStack, stats: dict[str, Any]) -> dict[str, Iterator[Any]]:
    """The record streams, opened (config errors raise now, before any record is read)."""
    from skimguard.incident import importers as im

    def opened_result(name: str, result: Any) -> Iterator[Any]:
        stack.enter_context(result)
        stats[name] = result
        return iter(result)

    streams: dict[str, Iterator[Any]] = {}
    orders: list[Iterator[Any]] = []
    for i, path in enumerate(src.orders):
        if src.orders_mapping is None:
            raise ConfigError("--orders needs --orders-mapping (a column-mapping file)")
        orders.append(
            opened_result(f"orders[{i}] {path}", im.load_orders(path, mapping=src.orders_mapping, window=window))
        )
    sessions: list[Iterator[Any]] = []
    for i, path in enumerate(src.sessions):
        if src.sessions_mapping is None:
            raise ConfigError("--sessions needs --sessions-mapping (CSV mapping or access-log config)")
        sessions.append(
            opened_result(f"sessions[{i}] {path}", im.load_sessions(path, mapping=src.sessions_mapping, window=window))
        )
    registrations: list[Iterator[Any]] = []
    for i, path in enumerate(src.registrations):
        if src.registrations_mapping is None:
            raise ConfigError("--registrations needs --registrations-mapping")
        registrations.append(
            opened_result(
                f"registrations[{i}] {path}",
                im.load_registrations(path, mapping=src.registrations_mapping, window=window),
            )
        )
    if src.db:
        if not src.preset:
            raise ConfigError("--db needs --preset eccube4|magento2|woocommerce")
        orders.append(opened_result(f"orders {src.preset}", im.load_orders(src.db, preset=src.preset, window=window)))
        sessions.append(
            opened_result(f"sessions {src.preset}", im.load_sessions(src.db, preset=src.preset, window=window))
        )
        registrations.append(
            opened_result(
                f"registrations {src.preset}", im.load_registrations(src.db, preset=src.preset, window=window)
            )
        )
    from itertools import chain

    streams["orders"] = chain.from_iterable(orders)
    streams["sessions"] = chain.from_iterable(sessions)
    streams["registrations"] = chain.from_iterable(registrations)
    return streams


@incident_app.command("scope")
def scope_cmd(
    incident_id: IdArg,
    orders: Annotated[list[str] | None, typer.Option("--orders", help="Orders CSV export (repeatable).")] = None,
    orders_mapping: Annotated[Path | None, typer.Option("--orders-mapping", help="Column mapping of --orders.")] = None,
    sessions: Annotated[
        list[str] | None, typer.Option("--sessions", help="Checkout sessions: CSV or web access log (repeatable).")
    ] = None,
    sessions_mapping: Annotated[
        Path | None, typer.Option("--sessions-mapping", help="CSV mapping or access-log config (kind: access-log).")
    ] = None,
    registrations: Annotated[
        list[str] | None, typer.Option("--registrations", help="Registrations CSV (repeatable).")
    ] = None,
    registrations_mapping: Annotated[
        Path | None, typer.Option("--registrations-mapping", help="Column mapping of --registrations.")
    ] = None,
    db: Annotated[str | None, typer.Option("--db", help="Shop database URL (read-only), with --preset.")] = None,
    preset: Annotated[
        str | None,
        typer.Option("--preset", help="eccube4|magento2|woocommerce (|woocommerce-hpos|woocommerce-legacy)."),
    ] = None,
    bounces: Annotated[list[str] | None, typer.Option("--bounces", help="Bounced e-mail list (repeatable).")] = None,
    margin_days: Annotated[
        float, typer.Option("--margin-days", min=0, help="Also read records this many days around the windows.")
    ] = 1.0,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    by: ByOpt = None,
) -> None:
    """Count the affected people and cards from the shop's orders, sessions and registrations."""
    from skimguard.incident import importers as im
    from skimguard.incident import service, storage

    src = _Sources(
        orders or [],
        orders_mapping,
        sessions or [],
        sessions_mapping,
        registrations or [],
        registrations_mapping,
        db,
        preset,
        bounces or [],
    )
    with errors():
        if not (src.orders or src.sessions or src.registrations or src.db):
            raise ConfigError("nothing to scope", hint="give --orders, --sessions, --registrations or --db")
        config = load_config(config_path)
        with opened(config) as store:
            loaded = _load(store, incident_id)
            windows = loaded.windows()
            window = _margin_window(windows, timedelta(days=margin_days))
            results: dict[str, Any] = {}
            with ExitStack() as stack:
                streams = _imports(src, window, stack, results)
                bounce_list: list[Any] = []
                for path in src.bounces:
                    with im.load_bounces(path) as b:
                        bounce_list.extend(b)
                        results[f"bounces {path}"] = b
                err.print(f"scoping {escape(incident_id)} ...")
                affected = service.run_scope(
                    loaded,
                    orders=streams["orders"],
                    sessions=streams["sessions"],
                    registrations=streams["registrations"],
                )
            summary = service.summary(affected, loaded.incident.zone)
            summary["imports"] = {name: r.stats.as_dict() for name, r in results.items()}
            summary["problems"] = [
                {"source": name, "line": p.line, "reason": p.reason}
                for name, r in results.items()
                for p in list(r.problems)[:20]
            ]
            rows = service.people_rows(affected, bounce_list)
            storage.save_scope(store, incident_id, summary, rows, actor(by))
    if format is Format.json:
        emit(dumps(summary), output)
        return
    console = out if output is None else Console(file=io.StringIO(), width=140, highlight=False)
    _print_counts(console, summary)
    for name, r in results.items():
        st = r.stats.as_dict()
        console.print(
            f"  {escape(name)}: {st.get('imported', 0)} imported, {st.get('bad', 0)} bad, "
            f"{st.get('outside_window', 0)} outside the window"
        )
    if output is not None:
        emit(console.file.getvalue(), output)  # type: ignore[attr-defined]


def _print_counts(console: Console, summary: dict[str, Any]) -> None:
    c = summary.get("counts", {})
    table = Table("what", "count", title="affected")
    for label, key in (
        ("people", "people"),
        ("cards", "cards"),
        ("card payments in the windows", "card_orders"),
        ("  of which payment method unknown", "unknown_method_orders"),
        ("card entered, no card order (fake-form case)", "sessions_card_entered_no_card_order"),
        ("card page reached, nothing posted", "sessions_card_page_reached"),
        ("registrations", "registrations"),
    ):
        table.add_row(label, str(c.get(key, 0)))
    console.print(table)
    console.print(
        "  people counted by: "
        + escape(", ".join(f"{k} {v}" for k, v in sorted(c.get("people_by_basis", {}).items())) or "-")
    )
    console.print(
        "  cards counted by: "
        + escape(", ".join(f"{k} {v}" for k, v in sorted(c.get("cards_by_basis", {}).items())) or "-")
    )
    console.print(
        f"  store pickup affected: {'yes' if summary.get('store_pickup_affected') else 'no'}; "
        f"cash on delivery affected: {'yes' if summary.get('cash_on_delivery_affected') else 'no'}"
    )


# ---- notices --------------------------------------------------------------------------------


@incident_app.command("notify")
def notify(
    incident_id: IdArg,
    export: Annotated[Path, typer.Option("--export", help="Write the mail-merge CSV here.")],
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only email|postal|substitute (default: everyone).")
    ] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """The notification list as a mail-merge CSV (UTF-8 with BOM, formula-safe cells)."""
    from skimguard.incident import service, storage
    from skimguard.incident.notify import Channel, mail_merge_rows, rows_to_csv

    with errors():
        if channel is not None and channel not in {c.value for c in Channel}:
            raise ConfigError("--channel must be email, postal or substitute")
        config = load_config(config_path)
        with opened(config) as store:
            row = storage.get_incident(store, incident_id)
            if row is None:
                raise ConfigError(f"no incident {incident_id!r}", hint="see 'skimguard incident list'")
            people = storage.people(store, incident_id)
            if not people and storage.scope_summary(store, incident_id) is None:
                raise ConfigError(
                    f"{incident_id} is not scoped yet", hint=f"run 'skimguard incident scope {incident_id}'"
                )
        notes = service.notifications_from_people(people)
        rows = mail_merge_rows(notes, channel=Channel(channel) if channel else None, zone=row.zone)
        try:
            export.write_text("\ufeff" + rows_to_csv(rows), encoding="utf-8", newline="")
        except OSError as e:
            raise ConfigError(f"cannot write {export}: {e.strerror}") from None
    counts = {c.value: sum(1 for n in notes if n.channel is c) for c in Channel}
    out.print(
        f"wrote {len(rows) - 1} row(s) to {escape(str(export))} "
        f"(email {counts['email']}, postal {counts['postal']}, substitute {counts['substitute']})"
    )


@incident_app.command("notice")
def notice(
    incident_id: IdArg,
    person: Annotated[list[str], typer.Option("--person", help="Person reference (P-...) from the export.")],
    channel: Annotated[str, typer.Option("--channel", help="email|postal|substitute.")],
    result: Annotated[str, typer.Option("--result", help="sent|delivered|bounced|returned|failed|published.")],
    at: Annotated[str | None, typer.Option("--at", help="When (default: now).")] = None,
    note: Annotated[str, typer.Option("--note", help="A note.")] = "",
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Record notices sent to people (date, channel, result)."""
    from skimguard.incident import storage
    from skimguard.incident.notify import Channel, NoticeResult

    with errors():
        if channel not in {c.value for c in Channel}:
            raise ConfigError("--channel must be email, postal or substitute")
        if result not in {r.value for r in NoticeResult}:
            raise ConfigError(f"--result must be one of {'|'.join(r.value for r in NoticeResult)}")
        config = load_config(config_path)
        with opened(config) as store:
            row = storage.get_incident(store, incident_id)
            if row is None:
                raise ConfigError(f"no incident {incident_id!r}", hint="see 'skimguard incident list'")
            when = _time(at, row.zone, "--at") if at else _now().replace(microsecond=0)
            n = storage.record_notice(store, incident_id, [(p, when, channel, result, note) for p in person], actor(by))
    out.print(f"recorded {n} notice(s) for {escape(incident_id)}")


# ---- status ---------------------------------------------------------------------------------


def _status_data(store: Store, config: Config, incident_id: str, now: datetime) -> dict[str, Any]:
    from skimguard.incident import service, storage

    loaded = _load(store, incident_id)
    scoped = storage.scope_summary(store, incident_id)
    summary = scoped[1] if scoped else None
    people = summary.get("counts", {}).get("people") if summary else None
    clocks, assessment = service.status_clocks(
        loaded, people, now, service.deadlines_from_settings(config.incident.deadlines)
    )
    notices = storage.notices(store, incident_id)
    return {
        "schema": INCIDENT_SCHEMA,
        "incident": incident_id,
        "site": loaded.row.site,
        "title": loaded.row.title,
        "zone": loaded.incident.zone,
        "known_at": loaded.incident.known_at.isoformat(),
        "now": now.isoformat(),
        "variants": [
            {
                "name": v.name,
                "kind": v.kind.value,
                "fake_form": v.fake_form,
                "pages": list(v.pages),
                "rules": list(v.rule_ids),
            }
            for v in loaded.incident.variants
        ],
        "windows": [_window_json(w) for w in loaded.windows()],
        "scoped_at": scoped[0].isoformat() if scoped else None,
        "counts": summary.get("counts") if summary else None,
        "reportable": assessment.reportable,
        "triggers": [t.value for t in assessment.triggers],
        "clocks": [
            {
                "name": c.name.value,
                "applies": c.applies,
                "status": c.status.value,
                "due_on": c.due_on.isoformat() if c.due_on else None,
                "target_from": c.target_from.isoformat() if c.target_from else None,
                "days": c.days,
                "days_left": c.days_left,
                "why": [t.value for t in c.why],
            }
            for c in clocks
        ],
        "notices": len(notices),
    }


@incident_app.command("status")
def status(
    incident_id: IdArg,
    now: NowOpt = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
) -> None:
    """Windows, counts and the regulatory clocks (preliminary report, final report, notices)."""
    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            row_zone = config.incident.zone
            at = _time(now, row_zone, "--now") if now else _now()
            data = _status_data(store, config, incident_id, at)
            loaded = _load(store, incident_id)
    if format is Format.json:
        emit(dumps(data), output)
        return
    zone = data["zone"]
    console = out if output is None else Console(file=io.StringIO(), width=140, highlight=False)
    console.print(
        f"[bold]{escape(incident_id)}[/] site {escape(data['site'])}  known at "
        f"{escape(_shown(loaded.incident.known_at, zone))}"
    )
    console.print(_windows_table(loaded.windows(), zone))
    if data["counts"]:
        _print_counts(console, {"counts": data["counts"]})
    else:
        console.print(f"not scoped yet: run 'skimguard incident scope {escape(incident_id)} ...'")
    verdict = "reportable" if data["reportable"] else "not reportable on what is known"
    console.print(f"{verdict}: {escape(', '.join(data['triggers']) or '-')}")
    table = Table("clock", "status", "due (shop zone)", "days left", title="deadlines")
    for c in data["clocks"]:
        table.add_row(
            escape(c["name"]),
            escape(c["status"]),
            escape(c["due_on"] or "promptly"),
            "" if c["days_left"] is None else str(c["days_left"]),
        )
    console.print(table)
    console.print(f"notices recorded: {data['notices']}")
    if output is not None:
        emit(console.file.getvalue(), output)  # type: ignore[attr-defined]


# ---- drafts ---------------------------------------------------------------------------------


@incident_app.command("draft")
def draft(
    incident_id: IdArg,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the drafts to.")],
    now: NowOpt = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Draft the regulator report, the notices and the acquirer summary (ja/en, Markdown/HTML)."""
    from skimguard.incident import service, storage
    from skimguard.incident.documents import render_all
    from skimguard.incident.drafting import draft_context
    from skimguard.incident.window import to_local

    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            loaded = _load(store, incident_id)
            at = _time(now, loaded.incident.zone, "--now") if now else _now()
            scoped = storage.scope_summary(store, incident_id)
            summary = scoped[1] if scoped else None
            people = storage.people(store, incident_id)
            people_count = summary.get("counts", {}).get("people") if summary else None
            clocks, _ = service.status_clocks(
                loaded, people_count, at, service.deadlines_from_settings(config.incident.deadlines)
            )
            wanted = set(loaded.incident.variants[0].fingerprints).union(
                *(v.fingerprints for v in loaded.incident.variants)
            )
            stored = [sf for sf in store.findings(loaded.row.site, status=None) if sf.fingerprint in wanted]
            site = next((s for s in config.sites if s.name == loaded.row.site), None)
            ctx = draft_context(
                loaded.incident,
                loaded.windows(),
                details=loaded.row.details,
                summary=summary,
                people=people,
                clocks=clocks,
                findings=[(sf.fingerprint, sf.finding.rule_id, sf.finding.title) for sf in stored],
                script_urls={sf.fingerprint: sf.finding.script_url for sf in stored if sf.finding.script_url},
                site_url=site.base_url if site else None,
                operator=config.incident.operator,
                shop_name=config.incident.shop_name,
                issued_on=to_local(at, loaded.incident.zone).date(),
            )
        try:
            written = render_all(ctx, out_dir)
        except OSError as e:
            raise ConfigError(f"cannot write drafts to {out_dir}: {e.strerror}") from None
    out.print(f"wrote {len(written)} file(s) to {escape(str(out_dir))}")
    if summary is None:
        err.print("note: the incident is not scoped yet, so counts are left for a human to complete")
