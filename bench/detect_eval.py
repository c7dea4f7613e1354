"""Evaluate the static analysis engine on the development corpus (not a test; prints a report).

Reads ``../shared/corpus/dev/`` (labels in ``LABELS.tsv``) when present, analyses every file with
intel off and with the corpus's Magecart feed on, and prints:

- per label: files, verdicts (malicious / suspicious / clean), files with a hit at high or above;
- recall on ``skimmer`` and, separately, ``skimmer_suspected`` (flagged = malicious or suspicious);
- false positives on ``benign``: files with a hit at high or above, and files not clean;
- the rules that fire on ``other_malware``;
- throughput in MB/s of the whole pipeline and of yara-x alone (same rules, same files), side by
  side in this process.

Timing on a shared machine is noisy, and yara-x, which is bound by memory, suffers from a busy
neighbour more than Python does: ``--repeat N`` keeps the fastest of N runs of each. The ratio
``pipeline / yara-x`` is the figure to compare between machines.

Verdicts can be kept and compared, to check that a change to the engine (a faster pass, say)
changes no verdict: ``--save-verdicts FILE`` writes one line per file and mode (``off``/``on``:
intel), with the verdict, score and the rule IDs with their severity; ``--compare FILE`` prints
every file whose verdict or set of rule IDs differs from that file. ``--rule-files`` restricts the
packaged rules to some ``.yar`` files (comma-separated names), to compare with verdicts saved before
a rule file was added.

Usage: ``.venv/bin/python bench/detect_eval.py [--corpus DIR] [--show-misses] [--repeat N]
[--save-verdicts FILE] [--compare FILE] [--rule-files a.yar,b.yar]``
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

from skimguard.analyze import yara_rules
from skimguard.analyze.engine import Options, analyze_bytes
from skimguard.analyze.model import FileVerdict, Verdict
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
    yara_rules.packaged_rules.cache_clear()
    yara_rules._packaged_meta.cache_clear()


def run(rows: list[Row], options: Options, repeat: int = 1) -> tuple[list[FileVerdict], float]:
    best = float("inf")
    verdicts: list[FileVerdict] = []
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        verdicts = [analyze_bytes(data, path, options) for path, _, data in rows]
        best = min(best, time.perf_counter() - started)
    return verdicts, best


def yara_alone(rows: list[Row]) -> float:
    rules = yara_rules.packaged_rules()
    started = time.perf_counter()
    for _, _, data in rows:
        rules.scan(data[: 2 * 1024 * 1024])
    return time.perf_counter() - started


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
    parser.add_argument("--repeat", type=int, default=1, help="keep the fastest of N runs (default 1)")
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

    analyze_bytes(b"warm-up", "x.js")  # compile rules and load grammars outside the timing
    off, t_off = run(rows, Options(), args.repeat)
    table(rows, off, "intel off", args.show_misses)
    lines = verdict_lines("off", rows, off)
    if intel is not None:
        on, t_on = run(rows, Options(intel=intel), args.repeat)
        table(rows, on, "intel on", False)
        lines += verdict_lines("on", rows, on)
    else:
        t_on = float("nan")
    t_yara = min(yara_alone(rows) for _ in range(max(3, args.repeat)))
    print("\n== throughput (same files, same process)")
    print(f"whole pipeline, intel off: {megabytes / t_off:7.1f} MB/s ({t_off:.2f} s)")
    print(f"whole pipeline, intel on:  {megabytes / t_on:7.1f} MB/s ({t_on:.2f} s)")
    print(f"yara-x alone, same rules:  {megabytes / t_yara:7.1f} MB/s ({t_yara:.2f} s)")
    print(f"pipeline / yara-x time:    {t_off / t_yara:7.1f}x")
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
