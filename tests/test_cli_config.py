"""The CLI around configuration: ``init`` and the config errors of ``scan`` (DESIGN §5: exit 2,
one line on stderr with a hint). Nothing here launches a browser: every ``scan`` fails before.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import skimguard.cli
from skimguard.config import load_config

BAD_STEP = """\
sites:
  - name: shop
    base_url: https://shop.test/
    journeys:
      - name: checkout
        steps:
          - goto: /
          - click: "#buy"
            fill: {"#q": "1"}
"""


def example_text() -> str:
    return resources.files("skimguard").joinpath("example.yaml").read_text("utf-8")


def run(*args: str) -> Result:
    return CliRunner().invoke(skimguard.cli.app, list(args), env={"SKIMGUARD_CONFIG": None})


def one_error_line(result: Result) -> str:
    """The single stderr line of an exit-2 error."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("skimguard: error: ")
    assert result.stdout == ""
    return lines[0]


# ------------------------------------------------------------------------------ init


def test_init_writes_the_example_and_it_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("init")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("wrote skimguard.yaml")
    written = tmp_path / "skimguard.yaml"
    assert written.read_text("utf-8") == example_text()

    config = load_config(written)  # the shipped example is a valid config
    (site,) = config.sites
    assert site.name == "my-shop"
    assert site.base_url == "https://shop.example.jp/"
    assert site.payment_hosts == ["api.psp.example.com"]
    assert [j.name for j in site.journeys] == ["checkout", "registration"]
    assert [s.action for s in site.journeys[0].steps] == [
        "goto", "click", "click", "fill", "select", "click", "fill_card", "wait_for",
    ]
    assert (site.schedule.every, site.step_timeout, site.journey_timeout, site.dwell) == (3600.0, 20.0, 180.0, 1.0)
    assert config.database is None
    assert config.database_url == f"sqlite:///{(tmp_path / 'skimguard.db').resolve()}"


def test_init_to_an_explicit_path(tmp_path: Path) -> None:
    target = tmp_path / "conf.yaml"
    result = run("init", str(target))
    assert result.exit_code == 0, result.stderr
    assert target.read_text("utf-8") == example_text()


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "skimguard.yaml"
    target.write_text("mine: true\n", encoding="utf-8")
    line = one_error_line(run("init", str(target)))
    assert f"{target} already exists" in line
    assert "--force" in line
    assert target.read_text("utf-8") == "mine: true\n"


def test_init_force_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "skimguard.yaml"
    target.write_text("mine: true\n", encoding="utf-8")
    result = run("init", str(target), "--force")
    assert result.exit_code == 0, result.stderr
    assert target.read_text("utf-8") == example_text()


def test_init_into_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir.yaml"
    line = one_error_line(run("init", str(target)))
    assert f"cannot write {target}" in line
    assert not target.exists()


# ------------------------------------------------------------------------------ scan: config errors


def test_scan_with_a_missing_config(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    line = one_error_line(run("scan", "--config", str(missing)))
    assert f"{missing}: no such file" in line
    assert "skimguard init" in line


def test_scan_with_a_missing_config_has_no_field_hint(tmp_path: Path) -> None:
    line = one_error_line(run("scan", "--config", str(tmp_path / "missing.yaml")))
    assert "check the field named above" not in line


def test_scan_with_a_malformed_config_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "skimguard.yaml"
    config.write_text(BAD_STEP, encoding="utf-8")
    line = one_error_line(run("scan", "-c", str(config)))
    assert f"{config}: sites[0].journeys[0].steps[1]: a step needs exactly one action" in line
    assert "(got click, fill)" in line
    assert "hint: check the field named above" in line


def test_scan_with_invalid_yaml(tmp_path: Path) -> None:
    config = tmp_path / "skimguard.yaml"
    config.write_text("sites:\n  - name: shop\n   base_url: https://shop.test/\n", encoding="utf-8")
    line = one_error_line(run("scan", "--config", str(config)))
    assert f"{config}: line 3, column 4: invalid YAML" in line


def test_scan_config_from_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "from-env.yaml"
    result = CliRunner().invoke(skimguard.cli.app, ["scan"], env={"SKIMGUARD_CONFIG": str(missing)})
    line = one_error_line(result)
    assert f"{missing}: no such file" in line


def test_scan_unknown_site(tmp_path: Path) -> None:
    config = tmp_path / "skimguard.yaml"
    config.write_text(example_text(), encoding="utf-8")
    line = one_error_line(run("scan", "--config", str(config), "--site", "nope"))
    assert "no site named 'nope' in the config (sites: my-shop)" in line
    assert not (tmp_path / "skimguard.db").exists()  # failed before opening the store


def test_scan_bogus_fail_on(tmp_path: Path) -> None:
    # The config does not exist either: --fail-on is checked first, so its error is the one shown.
    line = one_error_line(run("scan", "--config", str(tmp_path / "missing.yaml"), "--fail-on", "bogus"))
    assert "--fail-on: unknown severity 'bogus' (expected info|low|medium|high|critical)" in line
