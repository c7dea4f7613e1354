"""Evaluate the static analysis engine on the development corpus (not a test; prints a report).

Reads ``../shared/corpus/dev/`` (labels in ``LABELS.tsv``) when present, analyses every file with
intel off and with the corpus's Magecart feed on, and prints:

- per label: files, verdicts (malicious / suspicious / clean), files with a hit at high or above;
- recall on ``skimmer`` and, separately, ``skimmer_suspected`` (flagged = malicious or suspicious);
- false positives on ``benign``: files with a hit at high or above, and files not clean;
- the rules that fire on ``other_malware``;
- throughput in MB/s of the whole pipeline and of yara-x alone (same rules, same files), side by
  side: the pipeline in this process (one core) and with the process pool of ``skimguard analyze``
  (``--jobs N``, default one per core; the workers read the files themselves, as the command does);
  yara-x alone in this process, single-threaded (the fixed baseline), and with the same number of
  processes.

Timing on a shared machine is noisy: ``--repeat N`` runs each measurement N times and reports the
median, as wall time and as CPU time (summed over the worker processes), which a busy neighbour
disturbs much less. The ratio ``pipeline / yara-x`` in CPU time is the figure to compare between
machines.

Verdicts can be kept and compared, to check that a change to the engine (a faster pass, say)
changes no verdict: ``--save-verdicts FILE`` writes one line per file and mode (``off``/``on``:
intel), with the verdict, score and the rule IDs with their severity; ``--compare FILE`` prints
every file whose verdict or set of rule IDs differs from that file. ``--rule-files`` restricts the
packaged rules to some ``.yar`` files (comma-separated names), to compare with verdicts saved before
a rule file was added.

The pooled run's verdicts are checked against the single-process ones (they must be equal).

Usage: ``.venv/bin/python bench/detect_eval.py [--corpus DIR] [--show-misses] [--repeat N] [--jobs N]
[--save-verdicts FILE] [--compare FILE] [--rule-files a.yar,b.yar]``
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yara_x

from skimguard.analyze import yara_rules
from skimguard.analyze.engine import Options, analyze_bytes, warm_up
from skimguard.analyze.files import Unreadable
from skimguard.analyze.model import FileVerdict, Verdict
from skimguard.cli_analyze import AnalysisPool, default_jobs
from skimguard.intel import IntelIndex, parse_feed
from skimguard.models import Severity

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
LABELS = ("skimmer", "skimmer_suspected", "other_malware", "other_malware_card_traits", "benign", "doc")
Row = tuple[str, str, bytes]


def load(corpus: Path) -> list[Row]:
    rows = []
    for line in (corpus / "dev" / "LABELS.tsv").read_text("utf-8").splitlines()[1:]:
        path, label, *_ = line.split("\t")
        file = corpus / "dev" / path
        if file.is_file():
            rows.append((path, label, file.read_bytes()))
    return rows


def only_rule_files(names: str) -> None:
    """Use only the packaged rule files ``names`` (comma-separated) in this process."""
    wanted = {name.strip() for name in names.split(",") if name.strip()}
    every = yara_rules.packaged_rule_sources()
    missing = wanted - set(every)
    if missing:
        raise SystemExit(f"detect_eval: no packaged rule file {', '.join(sorted(missing))} (have {', '.join(every)})")
    yara_rules.packaged_rule_sources = lambda: {k: v for k, v in every.items() if k in wanted}
    yara_rules.clear_caches()


Timing = tuple[float, float]  # (wall seconds, CPU seconds), medians over the repeats


def median_timing(samples: list[Timing]) -> Timing:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def run(rows: list[Row], options: Options, repeat: int = 1) -> tuple[list[FileVerdict], Timing]:
    """The pipeline in this process."""
    samples = []
    verdicts: list[FileVerdict] = []
    for _ in range(max(1, repeat)):
        wall, cpu = time.perf_counter(), time.process_time()
        verdicts = [analyze_bytes(data, path, options) for path, _, data in rows]
        samples.append((time.perf_counter() - wall, time.process_time() - cpu))
    return verdicts, median_timing(samples)


def run_pooled(files: list[Path], options: Options, jobs: int, repeat: int) -> tuple[list[FileVerdict], Timing]:
    """The pipeline with the process pool of ``skimguard analyze`` (started and initialised once,
    outside the timing); CPU time is the workers' plus this process's."""
    samples = []
    outcomes: list[FileVerdict | Unreadable] = []
    with AnalysisPool(options, jobs) as pool:
        pool.warm_up()
        for _ in range(max(1, repeat)):
            spent: list[float] = []
            wall, cpu = time.perf_counter(), time.process_time()
            outcomes = pool.run(files, lambda _done, seconds, spent=spent: spent.append(seconds))
            samples.append((time.perf_counter() - wall, time.process_time() - cpu + sum(spent)))
    verdicts = [o for o in outcomes if isinstance(o, FileVerdict)]
    if len(verdicts) != len(files):
        raise SystemExit(f"detect_eval: {len(files) - len(verdicts)} file(s) unreadable in the pooled run")
    return verdicts, median_timing(samples)


def yara_alone(rows: list[Row], repeat: int) -> Timing:
    """yara-x alone, same rules (the whole packaged set), one thread."""
    rules = yara_rules.packaged_rules()
    samples = []
    for _ in range(max(3, repeat)):
        wall, cpu = time.perf_counter(), time.process_time()
        for _, _, data in rows:
            rules.scan(data[: yara_rules.MAX_SCAN_BYTES])
        samples.append((time.perf_counter() - wall, time.process_time() - cpu))
    return median_timing(samples)


_yara_rules: yara_x.Rules | None = None


def _yara_init(sources: dict[str, str]) -> None:
    global _yara_rules
    _yara_rules = yara_rules.compile_rules(sources)


def _yara_batch(paths: list[str]) -> float:
    assert _yara_rules is not None
    started = time.process_time()
    for path in paths:
        with open(path, "rb") as f:
            _yara_rules.scan(f.read(yara_rules.MAX_SCAN_BYTES))
    return time.process_time() - started


def yara_pooled(files: list[Path], jobs: int, repeat: int) -> Timing:
    """yara-x alone with ``jobs`` processes reading the files, batched like the pipeline's pool."""
    batches = [[str(p) for p in files[i : i + 32]] for i in range(0, len(files), 32)]
    samples = []
    with ProcessPoolExecutor(
        jobs, multiprocessing.get_context("spawn"), _yara_init, (yara_rules.packaged_rule_sources(),)
    ) as executor:
        list(executor.map(_yara_batch, [[] for _ in range(jobs)]))
        for _ in range(max(3, repeat)):
            wall, cpu = time.perf_counter(), time.process_time()
            spent = sum(executor.map(_yara_batch, batches))
            samples.append((time.perf_counter() - wall, time.process_time() - cpu + spent))
    return median_timing(samples)


def same_verdicts(single: list[FileVerdict], pooled: list[FileVerdict]) -> int:
    """Files whose verdict, score or hits differ between the two runs (the paths differ)."""
    return sum(
        (a.verdict, a.score, a.hits, a.problems) != (b.verdict, b.score, b.hits, b.problems)
        for a, b in zip(single, pooled, strict=True)
    )


def verdict_lines(mode: str, rows: list[Row], verdicts: list[FileVerdict]) -> list[str]:
    """``mode path label verdict score rules`` (tab-separated; rules as ``SG401:high``, sorted)."""
    lines = []
    for (path, label, _), v in zip(rows, verdicts, strict=True):
        rules = ",".join(sorted(f"{h.rule_id}:{h.severity.name.lower()}" for h in v.hits))
        lines.append(f"{mode}\t{path}\t{label}\t{v.verdict.value}\t{v.score}\t{rules}")
    return lines


def compare(saved: list[str], now: list[str]) -> list[str]:
    """Files whose verdict or set of rule IDs differs between two sets of :func:`verdict_lines`."""
    old = {tuple(line.split("\t")[:2]): line.split("\t") for line in saved if line.strip()}
    out = []
    for line in now:
        fields = line.split("\t")
        before = old.get((fields[0], fields[1]))
        if before is None:
            out.append(f"new file: {fields[0]} {fields[1]}")
            continue
        ids_before = {r.split(":")[0] for r in before[5].split(",") if r}
        ids_now = {r.split(":")[0] for r in fields[5].split(",") if r}
        if before[3] != fields[3] or ids_before != ids_now:
            gone = ",".join(sorted(ids_before - ids_now)) or "-"
            added = ",".join(sorted(ids_now - ids_before)) or "-"
            out.append(
                f"{fields[0]} {fields[2]} {fields[1]}: {before[3]} -> {fields[3]} (score {before[4]} -> {fields[4]}); "
                f"rules gone: {gone}; new: {added}"
            )
    return out


def table(rows: list[Row], verdicts: list[FileVerdict], title: str, show_misses: bool) -> None:
    by_label: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    fired: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    misses: list[str] = []
    benign_high: list[str] = []
    for (path, label, _), v in zip(rows, verdicts, strict=True):
        c = by_label[label]
        c["files"] += 1
        c[v.verdict.value] += 1
        if any(h.severity >= Severity.HIGH for h in v.hits):
            c["high+"] += 1
            if label == "benign":
                benign_high.append(f"{path}: {', '.join(h.rule_id for h in v.hits if h.severity >= Severity.HIGH)}")
        for h in v.hits:
            fired[label][h.rule_id] += 1
        if label in ("skimmer", "skimmer_suspected") and v.verdict is Verdict.CLEAN:
            misses.append(f"{label}: {path} ({', '.join(h.rule_id for h in v.hits) or 'no hits'})")
    print(f"\n== {title}")
    print(f"{'label':28} {'files':>6} {'malicious':>10} {'suspicious':>11} {'clean':>6} {'high+':>6}")
    for label in LABELS:
        counts = by_label.get(label)
        if counts:
            cells = [counts[key] for key in ("files", "malicious", "suspicious", "clean", "high+")]
            print(f"{label:28} {cells[0]:6} {cells[1]:10} {cells[2]:11} {cells[3]:6} {cells[4]:6}")
    for label in ("skimmer", "skimmer_suspected"):
        counts = by_label.get(label)
        if counts:
            flagged = counts["malicious"] + counts["suspicious"]
            print(
                f"recall {label}: {flagged}/{counts['files']} = {flagged / counts['files']:.1%} flagged, "
                f"{counts['malicious'] / counts['files']:.1%} malicious"
            )
    b = by_label.get("benign")
    if b:
        print(
            f"benign: {b['high+']}/{b['files']} with a high+ hit ({b['high+'] / b['files'] * 1000:.1f} per 1,000), "
            f"{b['files'] - b['clean']} not clean"
        )
        for line in benign_high:
            print(f"  high+ on benign: {line}")
    top = ", ".join(f"{r} {n}" for r, n in fired["other_malware"].most_common(12))
    print(f"fires on other_malware: {top}")
    if show_misses:
        for line in misses:
            print(f"  miss: {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="median of N runs (default 1)")
    parser.add_argument(
        "--jobs", type=int, default=default_jobs(), help="processes of the pooled runs (default: cores)"
    )
    parser.add_argument("--save-verdicts", type=Path, metavar="FILE", help="write the per-file verdicts here")
    parser.add_argument("--compare", type=Path, metavar="FILE", help="print verdicts that differ from this file")
    parser.add_argument("--rule-files", metavar="NAMES", help="only these packaged .yar files (comma-separated)")
    args = parser.parse_args()
    if not (args.corpus / "dev" / "LABELS.tsv").is_file():
        print(f"detect_eval: no corpus at {args.corpus} (expected dev/LABELS.tsv); nothing to evaluate")
        return 0
    if args.rule_files:
        only_rule_files(args.rule_files)
    rows = load(args.corpus)
    megabytes = sum(len(d) for _, _, d in rows) / 1e6
    feed_file = args.corpus / "iocs" / "magentocore.txt"
    intel = None
    if feed_file.is_file():
        intel = IntelIndex.build(parse_feed(feed_file.read_text("utf-8"), "magentocore").indicators)
    rule_files = ", ".join(yara_rules.packaged_rule_sources())
    print(f"corpus: {len(rows)} files, {megabytes:.1f} MB; intel feed: {len(intel) if intel else 0} indicators")
    print(f"rule files: {rule_files}")

    files = [args.corpus / "dev" / path for path, _, _ in rows]
    # compile rules, prefilters and parsers outside the timing, as the pool's workers do at start
    warm_up(Options(intel=intel))
    timings: dict[str, Timing] = {}
    off, timings["pipeline, intel off, 1 process"] = run(rows, Options(), args.repeat)
    table(rows, off, "intel off", args.show_misses)
    lines = verdict_lines("off", rows, off)
    if args.jobs > 1:
        pooled, timings[f"pipeline, intel off, {args.jobs} processes"] = run_pooled(
            files, Options(), args.jobs, args.repeat
        )
        print(f"pooled run, intel off: {same_verdicts(off, pooled)} file(s) differ from the single-process run")
    if intel is not None:
        on, timings["pipeline, intel on, 1 process"] = run(rows, Options(intel=intel), args.repeat)
        table(rows, on, "intel on", False)
        lines += verdict_lines("on", rows, on)
        if args.jobs > 1:
            pooled, timings[f"pipeline, intel on, {args.jobs} processes"] = run_pooled(
                files, Options(intel=intel), args.jobs, args.repeat
            )
            print(f"pooled run, intel on: {same_verdicts(on, pooled)} file(s) differ from the single-process run")
    timings["yara-x alone, same rules, 1 thread"] = t_yara = yara_alone(rows, args.repeat)
    if args.jobs > 1:
        timings[f"yara-x alone, same rules, {args.jobs} processes"] = yara_pooled(files, args.jobs, args.repeat)
    print(f"\n== throughput (same files; median of {max(1, args.repeat)} run(s); CPU summed over processes)")
    print(f"{'':42} {'MB/s wall':>10} {'wall s':>7} {'MB/s CPU':>9} {'CPU s':>7} {'CPU / yara-x':>13}")
    for name, (wall, cpu) in timings.items():
        print(
            f"{name:42} {megabytes / wall:10.1f} {wall:7.2f} {megabytes / cpu:9.1f} {cpu:7.2f} {cpu / t_yara[1]:12.1f}x"
        )
    if args.save_verdicts:
        args.save_verdicts.write_text("\n".join(lines) + "\n", "utf-8")
        print(f"\nverdicts written to {args.save_verdicts}")
    if args.compare:
        differences = compare(args.compare.read_text("utf-8").splitlines(), lines)
        print(f"\n== verdicts compared with {args.compare}: {len(differences)} file(s) differ")
        for line in differences:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
