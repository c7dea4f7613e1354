"""Evaluate the static analysis engine on the development corpus (not a test; prints a report).

Reads ``../shared/corpus/dev/`` (labels in ``LABELS.tsv``) when present, analyses every file with
intel off and with the corpus's Magecart feed on, and prints:

- per label: files, verdicts (malicious / suspicious / clean), files with a hit at high or above;
- recall on ``skimmer`` and, separately, ``skimmer_suspected`` (flagged = malicious or suspicious);
- false positives on ``benign``: files with a hit at high or above, and files not clean;
- the rules that fire on ``other_malware``;
- throughput in MB/s of the whole pipeline and of yara-x alone (same rules, same files), side by
  side in this process.

Usage: ``.venv/bin/python bench/detect_eval.py [--corpus DIR] [--show-misses]``
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

from skimguard.analyze.engine import Options, analyze_bytes
from skimguard.analyze.model import FileVerdict, Verdict
from skimguard.analyze.yara_rules import packaged_rules
from skimguard.intel import IntelIndex, parse_feed
from skimguard.models import Severity

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
LABELS = ("skimmer", "skimmer_suspected", "other_malware", "other_malware_card_traits", "benign", "doc")


def load(corpus: Path) -> list[tuple[str, str, bytes]]:
    rows = []
    for line in (corpus / "dev" / "LABELS.tsv").read_text("utf-8").splitlines()[1:]:
        path, label, *_ = line.split("\t")
        file = corpus / "dev" / path
        if file.is_file():
            rows.append((path, label, file.read_bytes()))
    return rows


def run(rows: list[tuple[str, str, bytes]], options: Options) -> tuple[list[FileVerdict], float]:
    started = time.perf_counter()
    verdicts = [analyze_bytes(data, path, options) for path, _, data in rows]
    return verdicts, time.perf_counter() - started


def yara_alone(rows: list[tuple[str, str, bytes]]) -> float:
    rules = packaged_rules()
    started = time.perf_counter()
    for _, _, data in rows:
        rules.scan(data[: 2 * 1024 * 1024])
    return time.perf_counter() - started


def table(rows: list[tuple[str, str, bytes]], verdicts: list[FileVerdict], title: str, show_misses: bool) -> None:
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
        c = by_label.get(label)
        if c:
            print(
                f"{label:28} {c['files']:6} {c['malicious']:10} {c['suspicious']:11} {c['clean']:6} {c['high+']:6}"
            )
    for label in ("skimmer", "skimmer_suspected"):
        c = by_label.get(label)
        if c:
            flagged = c["malicious"] + c["suspicious"]
            print(
                f"recall {label}: {flagged}/{c['files']} = {flagged / c['files']:.1%} flagged, "
                f"{c['malicious'] / c['files']:.1%} malicious"
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
    args = parser.parse_args()
    if not (args.corpus / "dev" / "LABELS.tsv").is_file():
        print(f"detect_eval: no corpus at {args.corpus} (expected dev/LABELS.tsv); nothing to evaluate")
        return 0
    rows = load(args.corpus)
    megabytes = sum(len(d) for _, _, d in rows) / 1e6
    feed_file = args.corpus / "iocs" / "magentocore.txt"
    intel = None
    if feed_file.is_file():
        intel = IntelIndex.build(parse_feed(feed_file.read_text("utf-8"), "magentocore").indicators)
    print(f"corpus: {len(rows)} files, {megabytes:.1f} MB; intel feed: {len(intel) if intel else 0} indicators")

    analyze_bytes(b"warm-up", "x.js")  # compile rules and load grammars outside the timing
    off, t_off = run(rows, Options())
    table(rows, off, "intel off", args.show_misses)
    if intel is not None:
        on, t_on = run(rows, Options(intel=intel))
        table(rows, on, "intel on", False)
    else:
        t_on = float("nan")
    t_yara = min(yara_alone(rows) for _ in range(3))
    print("\n== throughput (same files, same process)")
    print(f"whole pipeline, intel off: {megabytes / t_off:7.1f} MB/s ({t_off:.2f} s)")
    print(f"whole pipeline, intel on:  {megabytes / t_on:7.1f} MB/s ({t_on:.2f} s)")
    print(f"yara-x alone, same rules:  {megabytes / t_yara:7.1f} MB/s ({t_yara:.2f} s)")
    print(f"pipeline / yara-x time:    {t_off / t_yara:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
