"""Regulatory clocks: reportability, due days in the shop's zone, days left, and configuration."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from skimguard.incident.deadlines import (
    APPI,
    Clock,
    ClockName,
    ClockStatus,
    Deadlines,
    Trigger,
    assess,
    clocks,
    incident_triggers,
)
from skimguard.incident.model import Incident, IncidentError, Variant, VariantKind
from skimguard.incident.window import parse_time
from skimguard.testing.incidents import Scenario

CARD_INCIDENT = Incident(
    id="I", site="s", known_at=parse_time("2022-09-20 10:30:00"), variants=(Variant(name="v", pages=("/pay",)),)
)
PERSONAL_INCIDENT = Incident(
    id="P",
    site="s",
    known_at=parse_time("2022-09-20 10:30:00"),
    variants=(Variant(name="v", pages=("/entry",), kind=VariantKind.PERSONAL),),
)


def jst(text: str) -> datetime:
    return parse_time(text)


def by_name(items: tuple[Clock, ...]) -> dict[ClockName, Clock]:
    return {c.name: c for c in items}


def test_founding_1_is_reportable_from_the_first_person(f1_scenario: Scenario) -> None:
    triggers = incident_triggers(f1_scenario.incident)
    assert triggers == {Trigger.WRONGFUL_PURPOSE, Trigger.FINANCIAL_LOSS}
    a = assess(triggers, 424)
    assert a.reportable and a.triggers == (Trigger.FINANCIAL_LOSS, Trigger.WRONGFUL_PURPOSE)
    assert assess(triggers, 1).reportable
    assert assess(triggers, None).reportable  # not scoped yet: the card data decides
    assert not assess(triggers, 0).reportable


def test_founding_1_clocks() -> None:
    known = jst("2022-09-20 10:30:00")
    a = assess(incident_triggers(CARD_INCIDENT), 424)
    prelim, final, notice = clocks(known, a, jst("2022-09-21 09:00:00"))
    assert (prelim.name, prelim.known_on, prelim.target_from, prelim.due_on) == (
        ClockName.PRELIMINARY,
        date(2022, 9, 20),
        date(2022, 9, 22),
        date(2022, 9, 24),
    )
    assert prelim.due_at == datetime(2022, 9, 24, 14, 59, 59, tzinfo=UTC)  # 23:59:59 JST
    assert (prelim.days_left, prelim.status) == (3, ClockStatus.OPEN)
    assert (final.days, final.due_on, final.days_left, final.status) == (60, date(2022, 11, 18), 58, ClockStatus.OPEN)
    assert final.why == (Trigger.FINANCIAL_LOSS, Trigger.WRONGFUL_PURPOSE)
    assert (notice.due_on, notice.status) == (None, ClockStatus.PROMPTLY)


@pytest.mark.parametrize(
    ("now", "left", "status"),
    [
        ("2022-09-22 00:00:00", 2, ClockStatus.DUE_SOON),
        ("2022-09-24 23:59:59", 0, ClockStatus.DUE_TODAY),
        ("2022-09-25 00:00:00", -1, ClockStatus.OVERDUE),
        ("2022-10-01 12:00:00", -7, ClockStatus.OVERDUE),
    ],
)
def test_days_left_and_status_by_local_day(now: str, left: int, status: ClockStatus) -> None:
    a = assess(incident_triggers(CARD_INCIDENT), 10)
    prelim = clocks(jst("2022-09-20 10:30:00"), a, jst(now))[0]
    assert (prelim.days_left, prelim.status) == (left, status)


def test_known_just_after_midnight_jst_counts_from_the_jst_day() -> None:
    known = datetime(2022, 9, 20, 15, 30, tzinfo=UTC)  # 21 September 00:30 JST
    a = assess(incident_triggers(CARD_INCIDENT), 10)
    prelim, final, _ = clocks(known, a, known)
    assert (prelim.known_on, prelim.due_on, final.due_on) == (date(2022, 9, 21), date(2022, 9, 25), date(2022, 11, 19))
    berlin = clocks(known, a, known, zone="Europe/Berlin")[0]  # 17:30 CEST, still the 20th
    assert (berlin.known_on, berlin.due_on) == (date(2022, 9, 20), date(2022, 9, 24))
    assert berlin.due_at == datetime(2022, 9, 24, 21, 59, 59, tzinfo=UTC)


def test_not_wrongful_gives_30_days_and_the_threshold_decides_personal_only_cases() -> None:
    triggers = incident_triggers(PERSONAL_INCIDENT, wrongful=False)
    assert triggers == frozenset()
    assert not assess(triggers, 1000).reportable
    a = assess(triggers, 1001)
    assert a.reportable and a.triggers == (Trigger.PEOPLE_OVER_THRESHOLD,)
    known = jst("2022-09-20 10:30:00")
    final = clocks(known, a, known)[1]
    assert (final.days, final.due_on) == (30, date(2022, 10, 19))
    not_reportable = clocks(known, assess(triggers, 5), known)
    assert {c.status for c in not_reportable} == {ClockStatus.NOT_APPLICABLE}
    assert all(not c.applies and c.days_left is None for c in not_reportable)
    # a registration-page skimmer is still an attack: reportable from the first person, 60 days
    wrongful = assess(incident_triggers(PERSONAL_INCIDENT), 1)
    assert wrongful.reportable and clocks(known, wrongful, known)[1].days == 60
    assert assess(incident_triggers(PERSONAL_INCIDENT, wrongful=False, sensitive=True), 1).reportable


def test_done_and_done_late() -> None:
    known = jst("2022-09-20 10:30:00")
    a = assess(incident_triggers(CARD_INCIDENT), 10)
    done = {ClockName.PRELIMINARY: jst("2022-09-23 17:00:00"), ClockName.FINAL: jst("2022-11-19 09:00:00")}
    items = by_name(clocks(known, a, jst("2022-12-01 00:00:00"), done=done))
    assert items[ClockName.PRELIMINARY].status is ClockStatus.DONE
    assert items[ClockName.FINAL].status is ClockStatus.DONE_LATE
    assert items[ClockName.NOTICE].status is ClockStatus.PROMPTLY


def test_configuration_not_text() -> None:
    known = jst("2022-09-20 10:30:00")
    a = assess(incident_triggers(CARD_INCIDENT), 10)
    civil = Deadlines(known_day_is_day_one=False, notice_days=30, final_days={Trigger.WRONGFUL_PURPOSE: 45})
    prelim, final, notice = clocks(known, a, known, config=civil)
    assert (prelim.target_from, prelim.due_on) == (date(2022, 9, 23), date(2022, 9, 25))
    assert (final.days, final.due_on) == (45, date(2022, 11, 4))
    assert (notice.days, notice.due_on, notice.status) == (30, date(2022, 10, 20), ClockStatus.OPEN)
    stricter = Deadlines(people_threshold=500, first_person_triggers=frozenset({Trigger.SENSITIVE}))
    assert not assess({Trigger.FINANCIAL_LOSS}, 500, stricter).reportable
    assert assess({Trigger.FINANCIAL_LOSS}, 501, stricter).reportable
    assert APPI.people_threshold == 1000 and APPI.final_days == {Trigger.WRONGFUL_PURPOSE: 60}
    with pytest.raises(IncidentError, match="preliminary"):
        Deadlines(preliminary_target_days=(5, 3))
    with pytest.raises(IncidentError, match="positive"):
        Deadlines(final_days_default=0)


def test_naive_times_are_refused() -> None:
    a = assess({Trigger.FINANCIAL_LOSS}, 1)
    with pytest.raises(IncidentError, match="no zone"):
        clocks(datetime(2022, 9, 20), a, jst("2022-09-21 00:00:00"))
