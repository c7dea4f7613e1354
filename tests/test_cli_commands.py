"""``skimguard.cli`` registers the commands of other modules only when they are needed: the map
``COMMAND_MODULES`` must say exactly what each module registers, and ``main`` must import just the
module of the command it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

from skimguard.cli import COMMAND_MODULES

_REGISTERED = """
import importlib, json, sys
from skimguard import cli

def names():
    return {c.name or c.callback.__name__.replace("_", "-") for c in cli.app.registered_commands} | {
        g.name for g in cli.app.registered_groups
    }

before = names()
importlib.import_module("skimguard." + sys.argv[1])
print(json.dumps(sorted(names() - before)))
"""


def _python(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_map_names_what_each_module_registers() -> None:
    expected: dict[str, set[str]] = defaultdict(set)
    for command, module in COMMAND_MODULES.items():
        expected[module].add(command)
    for module, commands in expected.items():
        assert set(json.loads(_python(_REGISTERED, module))) == commands, module


_MODULES_AFTER_MAIN = """
import json, sys
from skimguard import cli
sys.argv = ["skimguard", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
print("\\n" + json.dumps(sorted(m for m in sys.modules if m.startswith("skimguard.cli_"))))
"""


def _loaded_by_main(*argv: str) -> list[str]:
    return list(json.loads(_python(_MODULES_AFTER_MAIN, *argv).rsplit("\n", 2)[-2]))


def test_main_imports_only_the_module_of_its_command() -> None:
    assert _loaded_by_main("webroot", "--help") == ["skimguard.cli_webroot"]
    assert _loaded_by_main("intel", "--help") == ["skimguard.cli_analyze"]
    assert _loaded_by_main("rules", "--help") == []  # a command of skimguard.cli itself


def test_help_and_unknown_commands_see_every_command() -> None:
    every = sorted({f"skimguard.{m}" for m in COMMAND_MODULES.values()})
    assert _loaded_by_main("--help") == every
    assert _loaded_by_main("no-such-command") == every


_COLLECTOR_DURING_THE_COMMAND = """
import gc, sys
from skimguard import cli
cli.load_commands = lambda argv: None
cli.app = lambda: print(gc.isenabled())
sys.argv = ["skimguard", *sys.argv[1:]]
cli.main()
"""


def test_one_shot_commands_run_without_the_cyclic_collector() -> None:
    assert _python(_COLLECTOR_DURING_THE_COMMAND, "webroot", "scan", "/srv/shop").split() == ["False"]
    assert _python(_COLLECTOR_DURING_THE_COMMAND, "watch").split() == ["True"]
    assert _python(_COLLECTOR_DURING_THE_COMMAND).split() == ["True"]
