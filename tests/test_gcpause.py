"""The collector settings of worker processes (skimguard.gcpause). Each case runs in a fresh
interpreter: freezing or re-tuning the collector of the test process would change every test after."""

from __future__ import annotations

import subprocess
import sys

from skimguard.gcpause import WORKER_GC_THRESHOLD


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.split()


def test_settle_freezes_what_is_alive_and_still_collects_new_cycles() -> None:
    out = _run(
        "import gc, weakref\n"
        "from skimguard.gcpause import settle_after_warm_up\n"
        "class Node: pass\n"
        "kept = [Node() for _ in range(1000)]\n"
        "before = gc.get_freeze_count()\n"
        "settle_after_warm_up()\n"
        "a, b = Node(), Node(); a.other, b.other = b, a; probe = weakref.ref(a); del a, b\n"
        "gc.collect()\n"
        "print(before, gc.get_freeze_count() > before + 1000, gc.get_threshold()[0], gc.isenabled(), probe() is None)\n"
    )
    assert out == ["0", "True", str(WORKER_GC_THRESHOLD), "True", "True"]


def test_settle_leaves_a_disabled_collector_disabled() -> None:
    out = _run(
        "import gc\n"
        "from skimguard.gcpause import settle_after_warm_up\n"
        "gc.disable()\n"
        "settle_after_warm_up()\n"
        "print(gc.isenabled())\n"
    )
    assert out == ["False"]


def test_analysis_workers_freeze_their_warmed_engine() -> None:
    """`skimguard analyze`'s pool initializer builds the engine, then freezes it."""
    out = _run(
        "import gc\n"
        "from skimguard.analyze.engine import Options\n"
        "from skimguard.cli_analyze import _init_worker\n"
        "_init_worker(Options())\n"
        "print(gc.get_freeze_count() > 10000, gc.get_threshold()[0])\n"
    )
    assert out == ["True", str(WORKER_GC_THRESHOLD)]
