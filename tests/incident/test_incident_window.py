"""Exposure windows: bounds from the looks, refinements inside them, forcing, payment stop, zones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skimguard.incident.model import (
    Edge,
    EvidenceKind,
    ExposureWindow,
    Incident,
    IncidentError,
    Observation,
    ObservationState,
    Variant,
    VariantKind,
    WindowBasis,
    WindowEvidence,
    WindowNote,
)
from skimguard.incident.window import (
    exposure_windows,
    format_local,
    incident_windows,
    local_day_span,
    observations_from_sightings,
    parse_time,
)
from skimguard.testing.incidents import F1_END, F1_START, F2_CARD_END, F2_CARD_START, F2_REG_START, Scenario

PAGE = "/shopping/payment"
CLEAN, SKIM = ObservationState.CLEAN, ObservationState.SKIMMER
CARD = Variant(name="assist", pages=(PAGE,))
FAKE = Variant(name="fake", pages=(PAGE,), fake_form=True)
ENTRY = Variant(name="entry", pages=("/entry",), kind=VariantKind.PERSONAL)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def look(at: str, state: ObservationState, source: str = "", variant: str | None = None) -> Observation:
    return Observation(at=utc(at), page=PAGE, state=state, source=source or f"scan@{at}", variant=variant)


HISTORY = (
    look("2024-05-01T00:00:00", CLEAN),
    look("2024-05-02T00:00:00", CLEAN, "scan-last-clean"),
    look("2024-05-03T00:00:00", SKIM, "scan-first-skimmer"),
    look("2024-05-04T00:00:00", SKIM),
    look("2024-05-05T00:00:00", SKIM, "scan-last-skimmer"),
    look("2024-05-06T00:00:00", CLEAN, "scan-first-clean"),
    look("2024-05-07T00:00:00", CLEAN),
)


def ev(kind: EvidenceKind, at: str, edge: Edge, *, forced: bool = False, variant: str | None = None) -> WindowEvidence:
    return WindowEvidence(kind=kind, at=utc(at), edge=edge, source=f"{kind.value} {at}", forced=forced, variant=variant)


def one(windows: tuple[ExposureWindow, ...]) -> ExposureWindow:
    assert len(windows) == 1
    return windows[0]


def notes(w: ExposureWindow) -> list[tuple[str, str]]:
    return [(e.kind.value, n.value) for e, n in w.evidence]


# --- founding incident 1: exact to the second across the JST day boundary --------------------


def test_founding_1_window_is_19_to_28_july_jst_to_the_second(f1_windows: tuple[ExposureWindow, ...]) -> None:
    w = one(f1_windows)
    assert (w.start, w.end) == (utc("2022-07-18T15:00:00"), utc("2022-07-28T14:59:59"))
    assert (w.start, w.end) == (F1_START, F1_END)
    assert format_local(w.start) == "2022-07-19 00:00:00 +09:00 (JST)"
    assert format_local(w.end) == "2022-07-28 23:59:59 +09:00 (JST)"
    assert (w.start_basis, w.end_basis) == (WindowBasis.EVIDENCE, WindowBasis.EVIDENCE)
    assert notes(w) == [("access-log", "used"), ("user", "used")]
    # the bounds the looks allow: last clean 18 July 06:00 JST .. first clean 29 July 06:00 JST
    assert w.earliest_start == utc("2022-07-17T21:00:00")
    assert w.latest_end == utc("2022-07-28T21:00:00")
    assert w.contains(F1_START) and w.contains(F1_END)
    assert not w.contains(F1_START - timedelta(seconds=1)) and not w.contains(F1_END + timedelta(seconds=1))


def test_founding_1_without_evidence_is_the_conservative_default(f1_scenario: Scenario) -> None:
    w = one(incident_windows(f1_scenario.incident, f1_scenario.observations))
    assert w.start == utc("2022-07-17T21:00:00") and w.start_basis is WindowBasis.LAST_CLEAN
    assert w.start_source == "scan-20220718"
    assert w.end == utc("2022-07-28T21:00:00") and w.end_basis is WindowBasis.FIRST_CLEAN
    assert w.end_source == "scan-20220729"
    assert w.first_skimmer == utc("2022-07-18T21:00:00") and w.last_skimmer == utc("2022-07-27T21:00:00")


def test_founding_2_fake_form_window_is_not_ended_by_stopping_card_payment(
    f2_windows: tuple[ExposureWindow, ...],
) -> None:
    card, entry = f2_windows
    assert (card.variant, card.start, card.end) == ("fake-card-form", F2_CARD_START, F2_CARD_END)
    seven_weeks = F2_CARD_END - F2_CARD_START
    assert seven_weeks == timedelta(weeks=7) - timedelta(seconds=1)
    assert format_local(card.start) == "2023-04-25 03:12:44 +09:00 (JST)"  # 2023-04-24 in UTC
    assert notes(card) == [("access-log", "used"), ("payment-stopped", "not-an-end"), ("user", "used")]
    assert card.earliest_start is None  # the scanner never saw the page clean before: unbounded
    assert (entry.variant, entry.start, entry.end) == ("entry-skimmer", F2_REG_START, F2_CARD_END)
    assert notes(entry) == [("payment-stopped", "not-an-end"), ("file-mtime", "used"), ("user", "used")]


# --- bounds and refinements -------------------------------------------------------------------


def test_default_window_rests_on_the_looks() -> None:
    w = one(exposure_windows(CARD, PAGE, HISTORY))
    assert (w.start, w.end) == (utc("2024-05-02T00:00:00"), utc("2024-05-06T00:00:00"))
    assert (w.start_source, w.end_source) == ("scan-last-clean", "scan-first-clean")
    assert (w.first_skimmer, w.last_skimmer) == (utc("2024-05-03T00:00:00"), utc("2024-05-05T00:00:00"))
    assert not w.unbounded_start and not w.ongoing and not w.forced


def test_refinement_narrows_inside_the_bounds() -> None:
    evidence = [
        ev(EvidenceKind.FILE_MTIME, "2024-05-02T13:14:15", Edge.START),
        ev(EvidenceKind.ACCESS_LOG, "2024-05-05T20:00:00", Edge.END),
    ]
    w = one(exposure_windows(CARD, PAGE, HISTORY, evidence))
    assert (w.start, w.end) == (utc("2024-05-02T13:14:15"), utc("2024-05-05T20:00:00"))
    assert w.start_source == "file-mtime: file-mtime 2024-05-02T13:14:15"
    assert notes(w) == [("file-mtime", "used"), ("access-log", "used")]


@pytest.mark.parametrize(
    ("at", "edge"),
    [
        ("2024-05-01T23:59:59", Edge.START),  # before the last clean look
        ("2024-05-03T00:00:01", Edge.START),  # after the skimmer was first seen
        ("2024-05-04T23:59:59", Edge.END),  # before the skimmer was last seen
        ("2024-05-06T00:00:01", Edge.END),  # after the page was seen clean again
    ],
)
def test_refinement_outside_the_bounds_is_refused_unless_forced(at: str, edge: Edge) -> None:
    refused = one(exposure_windows(CARD, PAGE, HISTORY, [ev(EvidenceKind.USER, at, edge)]))
    assert (refused.start, refused.end) == (utc("2024-05-02T00:00:00"), utc("2024-05-06T00:00:00"))
    assert notes(refused) == [("user", "out-of-bounds")]
    forced = one(exposure_windows(CARD, PAGE, HISTORY, [ev(EvidenceKind.USER, at, edge, forced=True)]))
    assert (forced.start if edge is Edge.START else forced.end) == utc(at)
    assert (forced.start_basis if edge is Edge.START else forced.end_basis) is WindowBasis.FORCED
    assert notes(forced) == [("user", "forced")] and forced.forced


def test_edges_on_the_bounds_are_inside() -> None:
    evidence = [
        ev(EvidenceKind.USER, "2024-05-03T00:00:00", Edge.START),
        ev(EvidenceKind.USER, "2024-05-05T00:00:00", Edge.END),
    ]
    w = one(exposure_windows(CARD, PAGE, HISTORY, evidence))
    assert (w.start, w.end) == (utc("2024-05-03T00:00:00"), utc("2024-05-05T00:00:00"))


def test_several_refinements_the_earliest_start_and_latest_end_win_and_a_human_beats_a_log() -> None:
    evidence = [
        ev(EvidenceKind.FILE_MTIME, "2024-05-02T10:00:00", Edge.START),
        ev(EvidenceKind.ACCESS_LOG, "2024-05-02T08:00:00", Edge.START),
        ev(EvidenceKind.FILE_MTIME, "2024-05-05T08:00:00", Edge.END),
        ev(EvidenceKind.ACCESS_LOG, "2024-05-05T09:00:00", Edge.END),
    ]
    w = one(exposure_windows(CARD, PAGE, HISTORY, evidence))
    assert (w.start, w.end) == (utc("2024-05-02T08:00:00"), utc("2024-05-05T09:00:00"))
    assert [n.value for _, n in w.evidence] == ["overridden", "used", "overridden", "used"]
    human = ev(EvidenceKind.USER, "2024-05-02T20:00:00", Edge.START)
    w = one(exposure_windows(CARD, PAGE, HISTORY, [*evidence, human]))
    assert w.start == utc("2024-05-02T20:00:00")
    assert [n.value for _, n in w.evidence] == ["overridden", "overridden", "overridden", "used", "used"]


def test_payment_stopped_ends_a_card_form_reader_but_not_a_fake_form_or_a_personal_skimmer() -> None:
    # card payment switched off on 4 May; the script is still on the page on 5 May (harmless now)
    stop = ev(EvidenceKind.PAYMENT_STOPPED, "2024-05-04T12:00:00", Edge.END)
    reader = one(exposure_windows(CARD, PAGE, HISTORY, [stop]))
    assert reader.end == utc("2024-05-04T12:00:00") and reader.end_basis is WindowBasis.EVIDENCE
    fake = one(exposure_windows(FAKE, PAGE, HISTORY, [stop]))
    assert fake.end == utc("2024-05-06T00:00:00") and fake.end_basis is WindowBasis.FIRST_CLEAN
    assert notes(fake) == [("payment-stopped", "not-an-end")]
    both = Variant(name="both", pages=(PAGE,), kind=VariantKind.BOTH)
    assert notes(one(exposure_windows(both, PAGE, HISTORY, [stop]))) == [("payment-stopped", "not-an-end")]
    as_start = ev(EvidenceKind.PAYMENT_STOPPED, "2024-05-02T12:00:00", Edge.START)
    assert notes(one(exposure_windows(CARD, PAGE, HISTORY, [as_start]))) == [("payment-stopped", "wrong-edge")]


def test_unbounded_start_uses_the_earliest_data_and_is_flagged() -> None:
    history = [look("2024-05-03T00:00:00", SKIM), look("2024-05-06T00:00:00", CLEAN)]
    w = one(exposure_windows(CARD, PAGE, history))
    assert w.start is None and w.unbounded_start and w.start_basis is WindowBasis.EARLIEST_DATA
    assert w.contains(utc("1999-01-01T00:00:00"))
    w = one(exposure_windows(CARD, PAGE, history, earliest_data=utc("2024-01-01T00:00:00")))
    assert w.start == utc("2024-01-01T00:00:00") and w.unbounded_start
    # any start up to the first sighting narrows it
    w = one(exposure_windows(CARD, PAGE, history, [ev(EvidenceKind.ACCESS_LOG, "2024-04-20T00:00:00", Edge.START)]))
    assert w.start == utc("2024-04-20T00:00:00") and not w.unbounded_start


def test_ongoing_when_no_clean_look_followed() -> None:
    history = [look("2024-05-02T00:00:00", CLEAN), look("2024-05-03T00:00:00", SKIM)]
    w = one(exposure_windows(CARD, PAGE, history))
    assert w.end is None and w.ongoing and w.end_basis is WindowBasis.ONGOING
    assert format_local(w.end) == "ongoing"
    w = one(exposure_windows(CARD, PAGE, history, [ev(EvidenceKind.USER, "2030-01-01T00:00:00", Edge.END)]))
    assert w.end == utc("2030-01-01T00:00:00")


def test_reinfection_gives_one_window_per_appearance_and_evidence_goes_to_its_own() -> None:
    history = [
        *HISTORY,
        look("2024-05-10T00:00:00", SKIM, "scan-again"),
        look("2024-05-11T00:00:00", CLEAN, "scan-clean-again"),
    ]
    evidence = [ev(EvidenceKind.FILE_MTIME, "2024-05-09T05:00:00", Edge.START)]
    first, second = exposure_windows(CARD, PAGE, history, evidence)
    assert (first.episode, first.start, first.end) == (0, utc("2024-05-02T00:00:00"), utc("2024-05-06T00:00:00"))
    assert (second.episode, second.start, second.end) == (1, utc("2024-05-09T05:00:00"), utc("2024-05-11T00:00:00"))
    assert second.earliest_start == utc("2024-05-07T00:00:00")
    assert notes(first) == [] and notes(second) == [("file-mtime", "used")]


def test_only_looks_at_this_page_and_variant_count() -> None:
    history = [
        *HISTORY,
        Observation(at=utc("2024-05-01T12:00:00"), page="/other", state=SKIM, source="x"),
        look("2024-05-02T12:00:00", SKIM, "other-variant", variant="someone-else"),
        look("2024-05-02T13:00:00", CLEAN, "clean-of-assist", variant="assist"),
    ]
    w = one(exposure_windows(CARD, "https://shop.test/shopping/payment/?step=3", history))
    assert w.start == utc("2024-05-02T13:00:00") and w.start_source == "clean-of-assist"
    assert w.page == PAGE


def test_times_are_floored_to_the_second_and_a_clean_look_sorts_before_a_sighting_in_the_same_second() -> None:
    history = [
        Observation(at=utc("2024-05-02T00:00:00.900000"), page=PAGE, state=CLEAN, source="c"),
        Observation(at=utc("2024-05-03T00:00:00.100000"), page=PAGE, state=SKIM, source="s"),
        Observation(at=utc("2024-05-03T00:00:00.000000"), page=PAGE, state=CLEAN, source="same-second"),
    ]
    w = one(exposure_windows(CARD, PAGE, history))
    assert w.start == utc("2024-05-03T00:00:00") and w.start_source == "same-second"
    assert w.first_skimmer == utc("2024-05-03T00:00:00")


def test_evidence_only_windows_when_the_scanner_never_saw_the_skimmer() -> None:
    clean_only = [look("2024-05-02T00:00:00", CLEAN)]
    assert exposure_windows(CARD, PAGE, clean_only) == ()
    start = ev(EvidenceKind.USER, "2024-04-01T00:00:00", Edge.START)
    end = ev(EvidenceKind.USER, "2024-04-30T00:00:00", Edge.END)
    w = one(exposure_windows(CARD, PAGE, clean_only, [start, end]))
    assert (w.start, w.end, w.first_skimmer) == (utc("2024-04-01T00:00:00"), utc("2024-04-30T00:00:00"), None)
    w = one(exposure_windows(CARD, PAGE, [], [end], earliest_data=utc("2024-01-01T00:00:00")))
    assert (w.start, w.start_basis, w.end) == (
        utc("2024-01-01T00:00:00"),
        WindowBasis.EARLIEST_DATA,
        utc("2024-04-30T00:00:00"),
    )
    w = one(exposure_windows(CARD, PAGE, [], [start]))
    assert w.end is None and w.end_basis is WindowBasis.ONGOING


def test_evidence_for_another_variant_or_page_is_not_used() -> None:
    evidence = [
        ev(EvidenceKind.USER, "2024-05-02T12:00:00", Edge.START, variant="other"),
        WindowEvidence(EvidenceKind.USER, utc("2024-05-02T12:00:00"), Edge.START, "x", page="/elsewhere"),
    ]
    w = one(exposure_windows(CARD, PAGE, HISTORY, evidence))
    assert w.start == utc("2024-05-02T00:00:00") and w.evidence == ()


def test_bad_input_is_refused() -> None:
    naive = Observation(at=datetime(2024, 5, 3), page=PAGE, state=SKIM, source="naive")
    with pytest.raises(IncidentError, match="no zone"):
        exposure_windows(CARD, PAGE, [naive])
    backwards = [
        ev(EvidenceKind.USER, "2024-05-03T00:00:00", Edge.START),
        ev(EvidenceKind.USER, "2024-05-01T00:00:00", Edge.END, forced=True),
    ]
    with pytest.raises(IncidentError, match="before start"):
        exposure_windows(CARD, PAGE, HISTORY, backwards)
    with pytest.raises(IncidentError, match="no affected page"):
        Variant(name="x", pages=())
    with pytest.raises(IncidentError, match="unique"):
        Incident(id="I", site="s", known_at=utc("2024-05-01T00:00:00"), variants=(CARD, CARD))
    with pytest.raises(IncidentError, match="no zone"):
        Incident(id="I", site="s", known_at=datetime(2024, 5, 1), variants=(CARD,))
    with pytest.raises(IncidentError, match="unknown time zone"):
        Incident(id="I", site="s", known_at=utc("2024-05-01T00:00:00"), variants=(CARD,), zone="Asia/Atlantis")


# --- sightings from the store ---------------------------------------------------------------


@dataclass(frozen=True)
class Sighting:
    fingerprint: str
    scan_id: str
    at: datetime
    path: str
    seen: bool


def test_observations_from_sightings_per_scan_and_variant() -> None:
    v = Variant(name="fake", pages=(PAGE,), fingerprints=("fp-form", "fp-post"))
    incident = Incident(id="I", site="s", known_at=utc("2024-06-01T00:00:00"), variants=(v, ENTRY))
    t1, t2 = utc("2024-05-01T00:00:00"), utc("2024-05-02T00:00:00")
    sightings = [
        Sighting("fp-form", "scan-1", t1, PAGE, False),
        Sighting("fp-post", "scan-1", t1, PAGE, False),
        Sighting("fp-form", "scan-2", t2, PAGE, False),
        Sighting("fp-post", "scan-2", t2, PAGE + "/", True),  # one of the variant's findings seen
        Sighting("fp-unrelated", "scan-2", t2, PAGE, True),
    ]
    obs = observations_from_sightings(incident, sightings)
    assert [(o.source, o.variant, o.page, o.state.value) for o in obs] == [
        ("scan-1", "fake", PAGE, "clean"),
        ("scan-2", "fake", PAGE, "skimmer"),
    ]
    w = one(incident_windows(incident, obs))
    assert (w.variant, w.start, w.end) == ("fake", t1, None)


# --- zones ------------------------------------------------------------------------------------


def test_parse_time_reads_the_shop_zone_and_offsets() -> None:
    assert parse_time("2022-07-19 00:00:00") == utc("2022-07-18T15:00:00")
    assert parse_time("2022-07-19T00:00:00+09:00", "Europe/Berlin") == utc("2022-07-18T15:00:00")
    assert parse_time("2022-07-18T15:00:00Z") == utc("2022-07-18T15:00:00")
    assert parse_time("2022-07-19 00:00:00.999") == utc("2022-07-18T15:00:00")
    with pytest.raises(IncidentError, match="cannot read"):
        parse_time("19 July")
    with pytest.raises(IncidentError, match="unknown time zone"):
        parse_time("2022-07-19 00:00:00", "Mars/Olympus")


def test_dst_gaps_and_repeats_in_berlin() -> None:
    with pytest.raises(IncidentError, match="does not exist"):
        parse_time("2023-03-26 02:30:00", "Europe/Berlin")
    with pytest.raises(IncidentError, match="happens twice"):
        parse_time("2023-10-29 02:30:00", "Europe/Berlin")
    assert parse_time("2023-10-29 02:30:00", "Europe/Berlin", ambiguous="earlier") == utc("2023-10-29T00:30:00")
    assert parse_time("2023-10-29 02:30:00", "Europe/Berlin", ambiguous="later") == utc("2023-10-29T01:30:00")
    before = parse_time("2023-03-26 01:59:59", "Europe/Berlin")
    after = parse_time("2023-03-26 03:00:00", "Europe/Berlin")
    assert after - before == timedelta(seconds=1)
    assert format_local(before, "Europe/Berlin") == "2023-03-26 01:59:59 +01:00 (CET)"
    assert format_local(after, "Europe/Berlin") == "2023-03-26 03:00:00 +02:00 (CEST)"


def test_local_day_spans() -> None:
    assert local_day_span(date(2022, 7, 19), date(2022, 7, 28)) == (
        utc("2022-07-18T15:00:00"),
        utc("2022-07-28T14:59:59"),
    )
    spring = local_day_span(date(2023, 3, 26), date(2023, 3, 26), "Europe/Berlin")
    assert spring == (utc("2023-03-25T23:00:00"), utc("2023-03-26T21:59:59"))
    autumn = local_day_span(date(2023, 10, 29), date(2023, 10, 29), "Europe/Berlin")
    assert autumn[1] - autumn[0] == timedelta(hours=25, seconds=-1)
    # Chile moved its clocks at midnight: 11 September 2022 began at 01:00 local time
    assert local_day_span(date(2022, 9, 11), date(2022, 9, 11), "America/Santiago")[0] == utc("2022-09-11T04:00:00")
    with pytest.raises(IncidentError, match="ends before"):
        local_day_span(date(2022, 7, 28), date(2022, 7, 19))


def test_a_window_across_the_berlin_dst_change_is_exact() -> None:
    variant = Variant(name="assist", pages=(PAGE,))
    start = parse_time("2023-03-26 01:30:00", "Europe/Berlin")  # CET
    end = parse_time("2023-03-26 03:30:00", "Europe/Berlin")  # CEST: one real hour later
    history = [
        Observation(at=start - timedelta(hours=1), page=PAGE, state=CLEAN, source="c"),
        Observation(at=start + timedelta(minutes=5), page=PAGE, state=SKIM, source="s"),
        Observation(at=end + timedelta(hours=1), page=PAGE, state=CLEAN, source="c2"),
    ]
    evidence = [
        WindowEvidence(EvidenceKind.FILE_MTIME, start, Edge.START, "mtime"),
        WindowEvidence(EvidenceKind.USER, end, Edge.END, "restored"),
    ]
    w = one(exposure_windows(variant, PAGE, history, evidence))
    assert w.end is not None and w.start is not None
    assert w.end - w.start == timedelta(hours=1)
    assert (w.start, w.end) == (utc("2023-03-26T00:30:00"), utc("2023-03-26T01:30:00"))
    assert format_local(w.start, "Europe/Berlin") == "2023-03-26 01:30:00 +01:00 (CET)"
    assert format_local(w.end, "Europe/Berlin") == "2023-03-26 03:30:00 +02:00 (CEST)"


# --- properties -------------------------------------------------------------------------------


_LOOKS = st.lists(st.tuples(st.integers(0, 500), st.booleans()), min_size=1, max_size=25)


@settings(max_examples=200, deadline=None)
@given(looks=_LOOKS, refine=st.integers(0, 500), edge=st.sampled_from(list(Edge)))
def test_every_sighting_is_covered_and_refinements_only_narrow(
    looks: list[tuple[int, bool]], refine: int, edge: Edge
) -> None:
    base = utc("2024-01-01T00:00:00")
    history = [
        Observation(at=base + timedelta(minutes=m), page=PAGE, state=SKIM if s else CLEAN, source=f"{m}")
        for m, s in looks
    ]
    default = exposure_windows(CARD, PAGE, history)
    sightings = {base + timedelta(minutes=m) for m, s in looks if s}
    cleans = {base + timedelta(minutes=m) for m, s in looks if not s} - sightings
    for at in sightings:  # every sighting lies in a window
        assert any(w.contains(at) for w in default)
    for at in cleans:  # a clean look is never strictly inside a window (it may be an edge)
        assert not any((w.start is None or w.start < at) and (w.end is None or at < w.end) for w in default)
    if not sightings:  # never seen: evidence alone makes the window (tested above)
        return
    refined = exposure_windows(
        CARD, PAGE, history, [WindowEvidence(EvidenceKind.USER, base + timedelta(minutes=refine), edge, "x")]
    )
    assert len(refined) == len(default)
    for old, new in zip(default, refined, strict=True):
        assert (old.start is None) or (new.start is not None and new.start >= old.start)
        assert (old.end is None) or (new.end is not None and new.end <= old.end)
        assert all(n in (WindowNote.USED, WindowNote.OUT_OF_BOUNDS) for _, n in new.evidence)


def test_a_page_pattern_takes_the_looks_at_every_page_under_it() -> None:
    variant = Variant(name="shop-wide", pages=("/shopping/*",))
    history = [
        Observation(at=utc("2024-05-02T00:00:00"), page="/shopping/cart", state=CLEAN, source="c"),
        Observation(at=utc("2024-05-03T00:00:00"), page="/shopping/payment?x=1", state=SKIM, source="s"),
        Observation(at=utc("2024-05-04T00:00:00"), page="/mypage", state=CLEAN, source="elsewhere"),
        Observation(at=utc("2024-05-05T00:00:00"), page="/shopping/payment", state=CLEAN, source="c2"),
    ]
    w = one(exposure_windows(variant, "/shopping/*", history))
    assert (w.page, w.start, w.end, w.end_source) == (
        "/shopping/*",
        utc("2024-05-02T00:00:00"),
        utc("2024-05-05T00:00:00"),
        "c2",
    )
