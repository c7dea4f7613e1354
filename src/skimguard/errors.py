"""Exception roots, one per subsystem. The CLI turns any of them into exit code 2."""

from __future__ import annotations


class SkimguardError(Exception):
    """Root of every error skimguard raises on purpose. ``hint`` is shown after the message."""

    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigError(SkimguardError):
    hint = "check the field named above; `skimguard init` writes a commented example"


class CaptureError(SkimguardError):
    """The browser could not be started or driven at all (a page failing is a Problem, not this)."""

    hint = "is Chromium installed at /usr/bin/chromium? (apt-get install chromium)"


class StoreError(SkimguardError):
    hint = "check the database URL in skimguard.yaml (`database:`)"


class InventoryError(SkimguardError):
    pass


class AlertError(SkimguardError):
    pass
