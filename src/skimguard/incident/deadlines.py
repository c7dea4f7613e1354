"""Regulatory clocks: is the incident reportable, by when is each report due, how much time is left.

The rules are data (:class:`Deadlines`), not code: a shop, its lawyer or a later revision of the
guidelines changes the numbers, not this module. The defaults follow Japan's Act on the Protection
of Personal Information (APPI) as the founding incidents met it:

- reportable from the first person when the data can cause financial loss (card data) or the leak
  was for a wrongful purpose (a skimmer is), or is sensitive; otherwise when more than 1,000 people
  are affected;
- preliminary report "promptly", taken as a target of days 3 to 5 after the shop learned of it;
- final report within 30 days, 60 days when the leak was for a wrongful purpose;
- the day the shop learned of it counts as day 1 (``known_day_is_day_one``); days are calendar
  days in the shop's zone.

What the reasons *mean* (the wording of the law, the report form) lives in the document templates;
here a reason is only a :class:`Trigger` code.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from skimguard.incident.model import DEFAULT_ZONE, Incident, IncidentError, require_utc
from skimguard.incident.window import local_day_span, to_local

__all__ = [
    "Assessment",
    "Clock",
    "ClockName",
    "ClockStatus",
    "Deadlines",
    "Trigger",
    "assess",
    "clocks",
    "incident_triggers",
]


class Trigger(enum.StrEnum):
    """Why an incident is reportable (codes; the documents carry the words)."""

    SENSITIVE = "sensitive"  # special-care data
    FINANCIAL_LOSS = "financial-loss"  # data whose misuse can cause financial loss (card data)
    WRONGFUL_PURPOSE = "wrongful-purpose"  # leaked through an attack or for a wrongful purpose
    PEOPLE_OVER_THRESHOLD = "people-over-threshold"  # more people than the threshold


class ClockName(enum.StrEnum):
    PRELIMINARY = "preliminary-report"
    FINAL = "final-report"
    NOTICE = "individual-notice"


class ClockStatus(enum.StrEnum):
    NOT_APPLICABLE = "not-applicable"
    OPEN = "open"
    DUE_SOON = "due-soon"
    DUE_TODAY = "due-today"
    OVERDUE = "overdue"
    DONE = "done"
    DONE_LATE = "done-late"
    PROMPTLY = "promptly"  # no fixed day: as soon as possible


def _default_final_days() -> dict[Trigger, int]:
    return {Trigger.WRONGFUL_PURPOSE: 60}


@dataclass(frozen=True)
class Deadlines:
    """The regulatory clocks as configuration. Day counts are calendar days in the shop's zone."""

    name: str = "jp-appi"
    preliminary_target_days: tuple[int, int] = (3, 5)  # "promptly": aim for day 3, due by day 5
    final_days_default: int = 30
    final_days: Mapping[Trigger, int] = field(default_factory=_default_final_days)  # longest applicable wins
    first_person_triggers: frozenset[Trigger] = frozenset(
        {Trigger.SENSITIVE, Trigger.FINANCIAL_LOSS, Trigger.WRONGFUL_PURPOSE}
    )
    people_threshold: int = 1000  # reportable on its own when strictly more people than this
    known_day_is_day_one: bool = True
    notice_days: int | None = None  # notice to individuals: None = "promptly", no fixed day
    due_soon_days: int = 2  # OPEN turns DUE_SOON this many days before the due day

    def __post_init__(self) -> None:
        lo, hi = self.preliminary_target_days
        if not 0 < lo <= hi:
            raise IncidentError(f"preliminary target days must be 0 < from <= to, got {lo}..{hi}")
        if self.final_days_default <= 0 or any(d <= 0 for d in self.final_days.values()):
            raise IncidentError("final report days must be positive")
        if self.people_threshold < 0:
            raise IncidentError("people threshold must not be negative")

    def day(self, known: date, days: int) -> date:
        """The calendar date of day ``days`` counted from the day the shop learned of it."""
        return known + timedelta(days=days - 1 if self.known_day_is_day_one else days)


APPI = Deadlines()


@dataclass(frozen=True)
class Assessment:
    reportable: bool
    triggers: tuple[Trigger, ...]  # every trigger that holds, in enum order
    people: int | None


def incident_triggers(incident: Incident, *, sensitive: bool = False, wrongful: bool = True) -> frozenset[Trigger]:
    """The triggers an incident's variants imply: a skimmer is an attack (wrongful purpose, unless
    the caller knows better), and a card-taking skimmer leaks data that can cause financial loss."""
    out: set[Trigger] = set()
    if wrongful:
        out.add(Trigger.WRONGFUL_PURPOSE)
    if any(v.kind.takes_card for v in incident.variants):
        out.add(Trigger.FINANCIAL_LOSS)
    if sensitive:
        out.add(Trigger.SENSITIVE)
    return frozenset(out)


def assess(triggers: Iterable[Trigger], people: int | None, config: Deadlines = APPI) -> Assessment:
    """Is it reportable, and why. ``people`` None means not scoped yet: the first-person triggers
    still decide (they do not depend on the count)."""
    found = set(triggers) - {Trigger.PEOPLE_OVER_THRESHOLD}
    if people is not None and people > config.people_threshold:
        found.add(Trigger.PEOPLE_OVER_THRESHOLD)
    ordered = tuple(t for t in Trigger if t in found)
    first = any(t in config.first_person_triggers for t in found)
    reportable = (first and (people is None or people >= 1)) or Trigger.PEOPLE_OVER_THRESHOLD in found
    return Assessment(reportable=reportable, triggers=ordered, people=people)


@dataclass(frozen=True)
class Clock:
    """One clock: what is due, by when (a calendar day in the shop's zone, and the last second of
    it in UTC), how many days are left at ``now`` (negative: overdue) and why it applies."""

    name: ClockName
    applies: bool
    why: tuple[Trigger, ...]
    known_on: date
    due_on: date | None  # None: promptly, no fixed day
    due_at: datetime | None  # the last second of due_on in the shop's zone, as UTC
    target_from: date | None  # preliminary report: the start of the target days
    days: int | None  # the period in days (5, 30, 60), None when promptly
    days_left: int | None
    status: ClockStatus
    done_at: datetime | None = None


def _status(due_on: date | None, today: date, done_on: date | None, soon: int) -> tuple[ClockStatus, int | None]:
    if due_on is None:
        return (ClockStatus.DONE if done_on is not None else ClockStatus.PROMPTLY), None
    left = (due_on - today).days
    if done_on is not None:
        return (ClockStatus.DONE if done_on <= due_on else ClockStatus.DONE_LATE), left
    if left < 0:
        return ClockStatus.OVERDUE, left
    if left == 0:
        return ClockStatus.DUE_TODAY, left
    if left <= soon:
        return ClockStatus.DUE_SOON, left
    return ClockStatus.OPEN, left


def clocks(
    known_at: datetime,
    assessment: Assessment,
    now: datetime,
    *,
    zone: str = DEFAULT_ZONE,
    config: Deadlines = APPI,
    done: Mapping[ClockName, datetime] | None = None,
) -> tuple[Clock, ...]:
    """The preliminary report, final report and individual notice clocks at ``now``. ``done`` holds
    when a report or the notices were completed. Not reportable: every clock is not-applicable."""
    known_local = to_local(require_utc(known_at, "known_at"), zone).date()
    today = to_local(require_utc(now, "now"), zone).date()
    done = done or {}

    def due_at(day: date | None) -> datetime | None:
        return None if day is None else local_day_span(day, day, zone)[1]

    def done_on(name: ClockName) -> date | None:
        at = done.get(name)
        return None if at is None else to_local(require_utc(at, str(name)), zone).date()

    why = assessment.triggers
    lo, hi = config.preliminary_target_days
    final_days = max((config.final_days.get(t, config.final_days_default) for t in why), default=0)
    final_days = max(final_days, config.final_days_default)
    plan: list[tuple[ClockName, int | None, date | None]] = [
        (ClockName.PRELIMINARY, hi, config.day(known_local, lo)),
        (ClockName.FINAL, final_days, None),
        (ClockName.NOTICE, config.notice_days, None),
    ]
    out: list[Clock] = []
    for name, days, target_from in plan:
        due_on = config.day(known_local, days) if days is not None else None
        if not assessment.reportable:
            status, left = ClockStatus.NOT_APPLICABLE, None
        else:
            status, left = _status(due_on, today, done_on(name), config.due_soon_days)
        out.append(
            Clock(
                name=name,
                applies=assessment.reportable,
                why=why,
                known_on=known_local,
                due_on=due_on,
                due_at=due_at(due_on),
                target_from=target_from,
                days=days,
                days_left=left,
                status=status,
                done_at=done.get(name),
            )
        )
    return tuple(out)
