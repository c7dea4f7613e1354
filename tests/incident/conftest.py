"""Shared fixtures of the incident tests: the two founding incidents, generated once per session,
with their windows and scoping results (pure functions over immutable data, safe to share)."""

from __future__ import annotations

import pytest

from skimguard.incident.model import AffectedSet, ExposureWindow
from skimguard.incident.scope import scope
from skimguard.incident.window import incident_windows
from skimguard.testing.incidents import Scenario, founding_incident_1, founding_incident_2


@pytest.fixture(scope="session")
def f1_scenario() -> Scenario:
    return founding_incident_1()


@pytest.fixture(scope="session")
def f2_scenario() -> Scenario:
    return founding_incident_2()


@pytest.fixture(scope="session")
def f1_windows(f1_scenario: Scenario) -> tuple[ExposureWindow, ...]:
    return incident_windows(f1_scenario.incident, f1_scenario.observations, f1_scenario.evidence)


@pytest.fixture(scope="session")
def f2_windows(f2_scenario: Scenario) -> tuple[ExposureWindow, ...]:
    return incident_windows(f2_scenario.incident, f2_scenario.observations, f2_scenario.evidence)


@pytest.fixture(scope="session")
def f1_affected(f1_scenario: Scenario, f1_windows: tuple[ExposureWindow, ...]) -> AffectedSet:
    return scope(f1_scenario.incident, f1_windows, orders=f1_scenario.orders)


@pytest.fixture(scope="session")
def f2_affected(f2_scenario: Scenario, f2_windows: tuple[ExposureWindow, ...]) -> AffectedSet:
    s = f2_scenario
    return scope(s.incident, f2_windows, orders=s.orders, sessions=s.sessions, registrations=s.registrations)
