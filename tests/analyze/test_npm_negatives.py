"""Hard negatives: real npm libraries that read card fields, fingerprint the browser, record
sessions or send data, all for legitimate reasons. The engine must not convict any of them.

The packages are pinned in ``tests/analyze/npm/packages.txt`` and installed by ``./scripts/setup``
into ``tests/analyze/npm/node_modules`` (never committed). Without them the tests skip on a
developer's machine and FAIL under CI (``CI`` set), where setup always runs first.

Each file's expected verdict is stated exactly; all are ``clean`` today. Two kinds of weak hits
are expected and harmless: SG401 (info) on the card-form libraries and SG409 (low) on inputmask.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skimguard.analyze.engine import analyze_bytes
from skimguard.analyze.model import Verdict
from skimguard.models import Severity

NPM = Path(__file__).resolve().parent / "npm"
MODULES = NPM / "node_modules"
CLEAN = Verdict.CLEAN

# package -> {browser file (relative to the package) -> the engine's exact verdict}
FILES: dict[str, dict[str, Verdict]] = {
    "jquery": {"dist/jquery.js": CLEAN, "dist/jquery.min.js": CLEAN, "dist/jquery.slim.min.js": CLEAN},
    "jquery.payment": {"lib/jquery.payment.js": CLEAN, "lib/jquery.payment.min.js": CLEAN},
    "cleave.js": {"dist/cleave.js": CLEAN, "dist/cleave.min.js": CLEAN},
    "card-validator": {
        "dist/index.js": CLEAN,
        "dist/card-number.js": CLEAN,
        "dist/luhn-10.js": CLEAN,
        "dist/expiration-date.js": CLEAN,
    },
    "payment": {"dist/payment.js": CLEAN},
    "inputmask": {"dist/inputmask.js": CLEAN, "dist/inputmask.min.js": CLEAN, "dist/jquery.inputmask.min.js": CLEAN},
    "rrweb": {"umd/rrweb.min.js": CLEAN, "dist/rrweb.js": CLEAN},
    "@fingerprintjs/fingerprintjs": {"dist/fp.min.js": CLEAN, "dist/fp.umd.js": CLEAN},
    "js-cookie": {"dist/js.cookie.js": CLEAN, "dist/js.cookie.min.js": CLEAN},
    "analytics": {"dist/analytics.js": CLEAN, "dist/analytics.min.js": CLEAN},
    "@stripe/stripe-js": {"dist/index.js": CLEAN, "dist/pure.js": CLEAN},
    "jquery-validation": {
        "dist/jquery.validate.js": CLEAN,
        "dist/jquery.validate.min.js": CLEAN,
        "dist/additional-methods.js": CLEAN,
    },
}
CASES = [(package, path) for package, paths in FILES.items() for path in paths]


def pinned() -> dict[str, str]:
    """name -> version of packages.txt."""
    found = {}
    for line in (NPM / "packages.txt").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.strip().rpartition("@")
            found[name] = version
    return found


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    if MODULES.is_dir():
        return
    if in_ci():
        pytest.fail(f"{MODULES} is missing under CI: ./scripts/setup installs it (npm install of packages.txt)")
    pytest.skip(f"the npm hard negatives are not installed ({MODULES} missing): run ./scripts/setup")


def test_every_pinned_package_is_installed_at_its_version_and_tested() -> None:
    versions = pinned()
    assert sorted(versions) == sorted(FILES)
    for name, version in versions.items():
        manifest = json.loads((MODULES / name / "package.json").read_text("utf-8"))
        assert manifest["version"] == version, name


@pytest.mark.parametrize(("package", "path"), CASES, ids=[f"{p}/{f}" for p, f in CASES])
def test_library_is_not_convicted(package: str, path: str) -> None:
    data = (MODULES / package / path).read_bytes()
    verdict = analyze_bytes(data, f"{package}/{path}")
    strong = [(h.rule_id, h.title) for h in verdict.hits if h.severity >= Severity.HIGH]
    assert strong == []
    assert verdict.verdict is not Verdict.MALICIOUS
    assert verdict.verdict is FILES[package][path], [(h.rule_id, h.severity.name) for h in verdict.hits]
