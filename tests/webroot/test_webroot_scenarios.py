"""The issue's cases on small shop trees: clean EC-CUBE 4, Magento 2 and WordPress/WooCommerce
layouts, then, one per test, a planted webshell, a skimmed checkout template, a payment model
that mails card data, an .htaccess redirect, a PHP-in-JPEG polyglot, and benign changes. Each
expects an exact set of (rule, path, severity)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from webroot_samples import (
    MAILING_PAYMENT_MODEL,
    POLYGLOT_JPEG,
    POLYGLOT_OFFSET,
    REDIRECT_HTACCESS,
    SKIMMED_TEMPLATE,
    SKIMMER_LINE,
    WEBSHELL,
)

from skimguard.config import Config
from skimguard.intel import Indicator, IndicatorKind
from skimguard.models import Category, Severity
from skimguard.store import Store
from skimguard.webroot import platform, runner, storage
from skimguard.webroot.runner import ScanOutcome, Settings
from skimguard.webroot.scan import Scope, iso_ns, page_of

Shop = Callable[[str], Path]


def found(outcome: ScanOutcome) -> set[tuple[str, str, str]]:
    return {(f.rule_id, f.subject, f.severity.label) for f in outcome.findings}


def scan(store: Store, root: Path, **settings: object) -> ScanOutcome:
    return runner.scan(store, "shop", root, settings=Settings(**settings))  # type: ignore[arg-type]


def by_rule(outcome: ScanOutcome, rule: str) -> dict[str, object]:
    return dict(next(f for f in outcome.findings if f.rule_id == rule).evidence)


@pytest.mark.parametrize(
    ("name", "platforms"),
    [
        ("eccube4", ("ec-cube-4@4.2.3",)),
        ("magento2", ("magento-2@2.4.6",)),
        ("woocommerce", ("wordpress@6.5.2", "woocommerce@8.8.2")),
    ],
)
def test_clean_shops_have_no_findings(store: Store, shop: Shop, name: str, platforms: tuple[str, ...]) -> None:
    root = shop(name)
    first = scan(store, root)  # no baseline: every code file analysed once
    assert first.findings == () and first.platforms == platforms
    assert first.baseline_at is None and any("no baseline" in n for n in first.notes)
    taken = runner.baseline(store, "shop", root, actor="tester")
    assert taken.platforms == platforms
    again = scan(store, root)
    assert again.findings == () and again.counts.as_dict() == {"new": 0, "modified": 0, "deleted": 0, "permissions": 0}
    assert again.stats.read == 0 and again.stats.analysed == 0  # everything from the stat cache


def test_baseline_leaves_uploads_caches_and_logs_out(store: Store, shop: Shop) -> None:
    root = shop("eccube4")
    taken = runner.baseline(store, "shop", root, actor="tester")
    # 14 files: the upload image, the twig cache and the log stay out of integrity
    assert taken.files == 11
    from skimguard.webroot import storage

    rows = storage.load_files(store, storage.find_root(store, "shop", str(root)).id)  # type: ignore[union-attr]
    in_baseline = {p for p, r in rows.items() if r.base_sha256 is not None}
    assert "html/upload/save_image/0501120000_5fd1.jpg" not in in_baseline
    assert "html/upload/save_image/0501120000_5fd1.jpg" in rows  # hashed (PHP-inside check), not watched
    assert "var/cache/prod/twig/ab/ab12cd.php" in rows and "var/cache/prod/twig/ab/ab12cd.php" not in in_baseline
    assert "var/log/prod-2024-05-01.log" not in rows  # logs are not even read
    assert ".htaccess" in in_baseline and "html/template/default/assets/img/common/logo.png" in in_baseline


def test_webshell_in_an_upload_folder(store: Store, shop: Shop) -> None:
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    shell = root / "wp-content/uploads/2024/05/cache.php"
    shell.write_text(WEBSHELL)
    outcome = scan(store, root)
    path = "wp-content/uploads/2024/05/cache.php"
    # upload folders are outside integrity: no SG704, but the location and the content speak
    assert found(outcome) == {("SG707", path, "high"), ("SG701", path, "critical")}  # a critical engine hit
    ev = by_rule(outcome, "SG701")
    assert ev["zone"] == "upload" and ev["change"] == "untracked" and ev["line"] == 4
    assert ev["rule"] == "SG462"  # today's strongest hit (server rules SG461+); SG438 is also there
    assert {h["rule_id"] for h in ev["hits"]} == {"SG462", "SG438"}  # type: ignore[union-attr]
    assert ev["mtime"] == by_rule(outcome, "SG707")["mtime"] == iso_ns(shell.stat().st_mtime_ns)


def test_skimmer_injected_into_the_checkout_template(store: Store, shop: Shop) -> None:
    root = shop("eccube4")
    runner.baseline(store, "shop", root, actor="tester")
    assert scan(store, root).findings == ()  # the first scan analyses every code file once
    (root / "app/template/default/Shopping/index.twig").write_text(SKIMMED_TEMPLATE, encoding="utf-8")
    outcome = scan(store, root)
    path = "app/template/default/Shopping/index.twig"
    assert found(outcome) == {("SG701", path, "critical"), ("SG703", path, "medium")}
    ev = by_rule(outcome, "SG701")
    assert ev["zone"] == "checkout" and ev["change"] == "modified"
    assert ev["rule"] == "SG440" and ev["line"] == SKIMMER_LINE
    assert "collect.evil.test" in str(ev["excerpt"]) or "send" in str(ev["excerpt"])
    assert by_rule(outcome, "SG703")["baseline"]["sha256"] != ev["sha256"]  # type: ignore[index]
    assert outcome.counts.modified == 1 and outcome.stats.read == 1 and outcome.stats.analysed == 1


def test_payment_model_altered_to_mail_card_data(store: Store, shop: Shop) -> None:
    root = shop("magento2")
    runner.baseline(store, "shop", root, actor="tester")
    (root / "vendor/magento/module-payment/Model/Method/Cc.php").write_text(MAILING_PAYMENT_MODEL)
    outcome = scan(store, root)
    path = "vendor/magento/module-payment/Model/Method/Cc.php"
    assert found(outcome) == {("SG701", path, "critical"), ("SG703", path, "medium")}
    ev = by_rule(outcome, "SG701")
    assert ev["zone"] == "payment" and ev["rule"] == "SG458" and ev["line"] == 9
    assert {"SG458", "SG430"} <= {h["rule_id"] for h in ev["hits"]}  # type: ignore[union-attr]


def test_htaccess_redirect_to_an_outside_host(store: Store, shop: Shop) -> None:
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    (root / ".htaccess").write_text(REDIRECT_HTACCESS)
    outcome = scan(store, root)
    # SG711 (configuration changed) is ours; SG702 rests on today's server rule SG471 (redirect)
    assert found(outcome) == {("SG711", ".htaccess", "medium"), ("SG702", ".htaccess", "medium")}
    assert by_rule(outcome, "SG702")["rule"] == "SG471" and by_rule(outcome, "SG702")["line"] == 4


def test_php_inside_a_jpeg(store: Store, shop: Shop) -> None:
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    (root / "wp-content/uploads/2024/05/photo.jpg").write_bytes(POLYGLOT_JPEG)
    outcome = scan(store, root)
    path = "wp-content/uploads/2024/05/photo.jpg"
    assert found(outcome) == {("SG708", path, "high"), ("SG701", path, "critical")}
    assert by_rule(outcome, "SG708")["offset"] == POLYGLOT_OFFSET
    # today's engine reads a file with image magic as text with every rule (SG475: polyglot)
    ev = by_rule(outcome, "SG701")
    assert ev["rule"] == "SG461" and {h["rule_id"] for h in ev["hits"]} == {"SG461", "SG475", "SG438", "SG437"}  # type: ignore[union-attr]
    # unchanged on the next scan: offset, verdict and hits come from the stat cache, no read
    again = scan(store, root)
    assert found(again) == found(outcome) and again.stats.read == 0 and again.stats.analysed == 0
    assert by_rule(again, "SG708") == by_rule(outcome, "SG708")


def test_benign_update_to_known_good_release_files(
    store: Store, shop: Shop, tmp_path: Path, cli: Callable[..., object]
) -> None:
    """WooCommerce 8.8.2 -> 8.9.0 with both releases built into the known-good store: the changed
    files are known good, nothing above info."""
    root = shop("woocommerce")
    plugin = root / "wp-content/plugins/woocommerce"
    for version in ("8.8.2", "8.9.0"):
        release = tmp_path / f"release-{version}" / "woocommerce"
        shutil.copytree(plugin, release)
        (release / "woocommerce.php").write_text(
            (plugin / "woocommerce.php").read_text().replace("8.8.2", version), encoding="utf-8"
        )
        if version == "8.9.0":
            js = release / "assets/js/frontend/checkout.js"
            js.write_text(js.read_text() + "/* 8.9.0: debounce update_checkout */\n", encoding="utf-8")
        result = cli("webroot", "known-good", "build", str(release), "--platform", "woocommerce", "--version", version)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    runner.baseline(store, "shop", root, actor="tester")
    assert scan(store, root).findings == ()  # 8.8.2 files: known good, free
    shutil.copytree(tmp_path / "release-8.9.0" / "woocommerce", plugin, dirs_exist_ok=True)
    outcome = scan(store, root)
    assert outcome.releases == ("woocommerce@8.9.0",)
    assert found(outcome) == {
        ("SG703", "wp-content/plugins/woocommerce/woocommerce.php", "info"),
        ("SG703", "wp-content/plugins/woocommerce/assets/js/frontend/checkout.js", "info"),
    }
    assert outcome.stats.analysed == 0  # known good: the engine never ran


def test_benign_library_bump_marked_good_by_hand(store: Store, shop: Shop) -> None:
    root = shop("eccube4")
    runner.baseline(store, "shop", root, actor="tester")
    lib = root / "html/template/default/assets/js/vendor/slick.min.js"
    lib.parent.mkdir(parents=True)
    lib.write_text("/* slick 1.8.1 */ !function(i){i.fn.slick=function(){return this}}(jQuery);\n")
    runner.baseline(store, "shop", root, actor="tester")
    lib.write_text("/* slick 1.9.0 */ !function(i){i.fn.slick=function(){return this}}(jQuery);\n")
    import hashlib

    store.add_known_good([(hashlib.sha256(lib.read_bytes()).hexdigest(), "slick 1.9.0")], "manual", "tester")
    outcome = scan(store, root)
    assert found(outcome) == {("SG703", "html/template/default/assets/js/vendor/slick.min.js", "info")}
    assert max(f.severity for f in outcome.findings) <= Severity.LOW


def test_everyday_changes_stay_low(store: Store, shop: Shop) -> None:
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    (root / "wp-content/uploads/2024/06").mkdir(parents=True)
    (root / "wp-content/uploads/2024/06/new-product.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x01" * 500)
    (root / "wp-content/themes/storefront/style.css").write_text(
        "/* Theme Name: Storefront */\nbody { margin: 1px; }\n"
    )
    (root / "wp-content/themes/storefront/inc").mkdir()
    (root / "wp-content/themes/storefront/inc/helpers.php").write_text(
        "<?php\nfunction sf_year() { return date('Y'); }\n"
    )
    (root / "wp-content/cache/page_enhanced/shop.test/index.html").unlink()
    outcome = scan(store, root)
    assert found(outcome) == {
        ("SG703", "wp-content/themes/storefront/style.css", "info"),
        ("SG704", "wp-content/themes/storefront/inc/helpers.php", "low"),
    }


def test_core_file_differs_from_its_release_without_a_baseline(
    store: Store, shop: Shop, tmp_path: Path, cli: Callable[..., object]
) -> None:
    root = shop("eccube4")
    release = tmp_path / "eccube-4.2.3"
    shutil.copytree(root / "src", release / "src")
    shutil.copy(root / "index.php", release / "index.php")
    result = cli("webroot", "known-good", "build", str(release), "--platform", "ec-cube-4", "--version", "4.2.3")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    controller = root / "src/Eccube/Controller/ShoppingController.php"
    controller.write_text(controller.read_text() + "// patched by hand\n")
    outcome = scan(store, root)
    path = "src/Eccube/Controller/ShoppingController.php"
    assert found(outcome) == {("SG709", path, "high")}
    ev = by_rule(outcome, "SG709")
    assert ev["release"] == "ec-cube-4@4.2.3" and ev["release_sha256"] != ev["sha256"]
    # the 4 unmodified release files are free; of the changed one and the 6 code files outside the
    # release, the 4 PHP files have nothing the engine could use (prefilter) and 3 are analysed
    assert outcome.releases == ("ec-cube-4@4.2.3",)
    assert (outcome.stats.analysed, outcome.stats.prefiltered) == (3, 4)


def test_forged_timestamp_permissions_deletions_links(store: Store, shop: Shop, tmp_path: Path) -> None:
    root = shop("eccube4")
    outside = tmp_path / "secrets.txt"
    outside.write_text("db password")
    runner.baseline(store, "shop", root, actor="tester")
    kernel = root / "src/Eccube/Kernel.php"
    before = kernel.stat()
    kernel.write_text(kernel.read_text().replace("return $this;", "return $that;"))  # same size
    os.utime(kernel, ns=(before.st_atime_ns, before.st_mtime_ns))  # touch -r: the old mtime back
    assert kernel.stat().st_size == before.st_size
    os.chmod(root / "index.php", 0o666)
    os.chmod(root / "vendor/autoload.php", 0o600)
    (root / "html/template/default/assets/js/function.js").unlink()
    (root / ".htaccess").unlink()
    os.symlink(outside, root / "html/template/default/assets/js/config.txt")
    (root / "src/Eccube/.sess.php").write_text("<?php // nothing here\n")
    outcome = scan(store, root)
    assert found(outcome) == {
        ("SG703", "src/Eccube/Kernel.php", "low"),
        ("SG714", "src/Eccube/Kernel.php", "high"),
        ("SG706", "index.php", "medium"),  # became writable by everyone
        ("SG706", "vendor/autoload.php", "low"),
        ("SG705", "html/template/default/assets/js/function.js", "low"),
        ("SG711", ".htaccess", "medium"),  # a removed .htaccess
        ("SG710", "html/template/default/assets/js/config.txt", "info"),
        ("SG713", "html/template/default/assets/js/config.txt", "medium"),
        ("SG704", "src/Eccube/.sess.php", "low"),
        ("SG712", "src/Eccube/.sess.php", "medium"),
    }
    assert outcome.counts.as_dict() == {"new": 2, "modified": 1, "deleted": 2, "permissions": 2}


def test_scan_findings_are_stored_resolved_and_alerted(config: Config, store: Store, shop: Shop) -> None:
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    shell = root / "wp-content/uploads/2024/05/cache.php"
    shell.write_text(WEBSHELL)
    first = runner.record(config, store, scan(store, root), alert=False)
    assert first.scan_id is not None and first.scan_id.startswith("webroot-")
    stored = {s.finding.rule_id: s for s in store.findings("shop") if s.finding.page == page_of(str(root))}
    assert set(stored) == {"SG701", "SG707"} and stored["SG701"].finding.category is Category.SERVER
    row = store.scan(first.scan_id)
    assert row is not None and row.status == "failed"  # never ok: see runner.record
    assert all(f.first_seen is not None for f in first.findings)
    # the same again: nothing new, nothing stored
    second = runner.record(config, store, scan(store, root), alert=False)
    assert second.scan_id is None and {f.rule_id for f in second.findings} == {"SG701", "SG707"}
    # cleaned: both resolved by the next complete scan
    shell.unlink()
    third = runner.record(config, store, scan(store, root), alert=False)
    assert third.findings == () and third.scan_id is not None and third.resolved == 2
    assert [s for s in store.findings("shop") if s.finding.page == page_of(str(root))] == []


def test_process_pool_gives_the_same_findings(store: Store, shop: Shop) -> None:
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    (root / "wp-content/uploads/2024/05/cache.php").write_text(WEBSHELL)
    (root / "wp-content/uploads/2024/05/photo.jpg").write_bytes(POLYGLOT_JPEG)
    pooled = scan(store, root, workers=2)
    assert found(pooled) == {
        ("SG707", "wp-content/uploads/2024/05/cache.php", "high"),
        ("SG701", "wp-content/uploads/2024/05/cache.php", "critical"),
        ("SG708", "wp-content/uploads/2024/05/photo.jpg", "high"),
        ("SG701", "wp-content/uploads/2024/05/photo.jpg", "critical"),
    }
    assert pooled.stats.read == 15  # the first analysis of every code file: 8 PHP files prefiltered
    assert (pooled.stats.analysed, pooled.stats.prefiltered) == (7, 8)
    again = scan(store, root)  # from the stat cache: the same findings, nothing read
    assert found(again) == found(pooled) and again.stats.read == 0
    assert by_rule(again, "SG701") == by_rule(pooled, "SG701")


# --------------------------------------------------------------------------------------------- re-scans


def _split(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Split every re-scan in two processes (the shops here are far below SPLIT_MIN); returns a
    list that grows by one each time a child is started."""
    started: list[int] = []
    real_init = runner._OtherPart.__init__

    def init(self: runner._OtherPart, *args: object) -> None:
        started.append(1)
        real_init(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "SPLIT_MIN", 1)
    monkeypatch.setattr(runner._OtherPart, "__init__", init)
    return started


def _changes(root: Path) -> set[tuple[str, str, str]]:
    """Changes on both sides of a split (paths of even and odd length), and what they give."""
    shell, jpeg, css = (
        "wp-content/uploads/2024/05/cache.php",  # 36 characters: part 0
        "wp-content/uploads/2024/05/photo1.jpg",  # 37: part 1
        "wp-content/themes/storefront/style.css",  # 38
    )
    gone = ("wp-includes/version.php", "wp-content/plugins/woocommerce/woocommerce.php")  # 23, 46
    assert [len(p) % 2 for p in (shell, jpeg, css, *gone, "index.php")] == [0, 1, 0, 1, 0, 1]
    (root / shell).write_text(WEBSHELL)
    (root / jpeg).write_bytes(POLYGLOT_JPEG)
    (root / css).write_text("body { color: red }\n")
    for path in gone:
        (root / path).unlink()
    os.chmod(root / "index.php", 0o666)
    return {
        ("SG707", shell, "high"),
        ("SG701", shell, "critical"),
        ("SG708", jpeg, "high"),
        ("SG701", jpeg, "critical"),
        ("SG703", css, "info"),
        *(("SG705", path, "low") for path in gone),
        ("SG706", "index.php", "medium"),
    }


def test_a_split_rescan_finds_what_one_process_finds(
    store: Store, shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    assert scan(store, root).findings == ()  # every code file analysed once, in one process
    expected = _changes(root)
    started = _split(monkeypatch)
    outcome = scan(store, root)
    assert started == [1] and found(outcome) == expected
    assert outcome.counts.as_dict() == {"new": 0, "modified": 1, "deleted": 2, "permissions": 1}
    total = sum(1 for p in root.rglob("*") if p.is_file())
    assert (outcome.stats.files, outcome.stats.read) == (total, 4)  # shell, jpeg, css, index.php (chmod)
    again = scan(store, root)  # unchanged: cached verdicts from both parts, nothing read
    assert started == [1, 1] and found(again) == expected and again.stats.read == 0
    assert by_rule(again, "SG701") == by_rule(outcome, "SG701")
    # the same tree in one process, from scratch, finds the same
    monkeypatch.setattr(runner, "SPLIT_MIN", 10**9)
    other = tmp_path / "other.db"
    with Store.open(f"sqlite:///{other}") as alone:
        shutil.rmtree(root)
        fresh = shop("woocommerce")  # the clean tree again: baseline it, then the same changes
        runner.baseline(alone, "shop", fresh, actor="tester")
        scan(alone, fresh)
        _changes(fresh)
        assert found(scan(alone, fresh)) == expected


def test_a_split_rescan_survives_its_child_dying(store: Store, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    scan(store, root)
    expected = _changes(root)
    started = _split(monkeypatch)
    monkeypatch.setattr(runner.storage, "after_fork", lambda store: os._exit(3))  # the child dies at once
    outcome = scan(store, root)  # this process does the child's part itself
    assert started == [1] and found(outcome) == expected and outcome.stats.read == 4


def test_an_unchanged_rescan_reads_writes_and_imports_nothing(store: Store, shop: Shop, db_url: str) -> None:
    root = shop("magento2")
    runner.baseline(store, "shop", root, actor="tester")
    (root / "pub/media/catalog/product/a/b/x.php").write_text(WEBSHELL)
    first = scan(store, root)
    before = storage.load_files(store, storage.find_root(store, "shop", str(root)).id)  # type: ignore[union-attr]
    found_once = runner.survey(store, "shop", root)
    assert found_once.changed == () and found_once.gone == () and found_once.stats.read == 0
    # the only file with something to say
    assert {c.path for c in found_once.checks} == {"pub/media/catalog/product/a/b/x.php"}
    # a fresh process: the re-scan never imports the engine or tree-sitter, and starts no pool
    code = (
        "import sys, multiprocessing\n"
        "from skimguard.store import Store\n"
        "from skimguard.webroot import runner\n"
        f"with Store.open({db_url!r}) as store:\n"
        f"    out = runner.scan(store, 'shop', {str(root)!r})\n"
        "print(out.stats.read, sorted({f.rule_id for f in out.findings}), len(multiprocessing.active_children()),\n"
        "      [m for m in sys.modules if m.startswith(('skimguard.analyze.engine', 'tree_sitter'))])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split("\n")[0] == f"0 {sorted({f.rule_id for f in first.findings})} 0 []"
    after = storage.load_files(store, storage.find_root(store, "shop", str(root)).id)  # type: ignore[union-attr]
    assert after == before  # nothing written


def test_names_that_show_alike_are_both_scanned(store: Store, shop: Shop) -> None:
    """A second file whose name shows like the first (undecodable bytes vs a literal \\xNN)
    used to crash every scan; both are now checked, each under its own path."""
    root = shop("woocommerce")
    runner.baseline(store, "shop", root, actor="tester")
    uploads = os.fsencode(root / "wp-content/uploads/2024/05")
    for name in (b"sh\\xe9ll.php", b"sh\xe9ll.php"):
        with open(os.path.join(uploads, name), "wb") as f:
            f.write(WEBSHELL.encode())
    outcome = scan(store, root)
    shells = {"wp-content/uploads/2024/05/sh\\xe9ll.php", "wp-content/uploads/2024/05/sh\\xe9ll~2.php"}
    rules = (("SG707", "high"), ("SG701", "critical"))
    assert found(outcome) == {(rule, path, severity) for path in shells for rule, severity in rules}
    again = scan(store, root)
    assert found(again) == found(outcome) and again.stats.read == 0


# --------------------------------------------------------------------------------------------- marks


def _comparable(outcome: ScanOutcome) -> ScanOutcome:
    return replace(outcome, stats=replace(outcome.stats, seconds=0.0))


@pytest.mark.parametrize("split", [False, True])
def test_marked_rescans_find_what_unmarked_ones_find(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split: bool
) -> None:
    """The quiet marks only save work: two stores follow the same tree through edits, a forged
    timestamp, permissions, a webshell, deletions, a polyglot, a release built, a hash made known
    good, threat intel loaded and dropped, and a baseline with another scope; one scans with
    marks, the other without (no plan key), and every scan finds and counts exactly the same.
    Unchanged re-scans with marks classify only the files with something to say."""
    if split:
        _split(monkeypatch)
    root = shop("woocommerce")
    at = datetime(2026, 6, 1, tzinfo=UTC)
    css, shell, jpeg, index = (
        "wp-content/themes/storefront/style.css",
        "wp-content/uploads/2024/05/cache.php",
        "wp-content/uploads/2024/05/photo1.jpg",
        "index.php",
    )
    classified: list[str] = []
    real_reusable = runner._reusable

    def reusable(old: tuple[Any, ...], **kwargs: Any) -> tuple[bool, str]:
        classified.append(old[storage.PATH])
        return real_reusable(old, **kwargs)

    monkeypatch.setattr(runner, "_reusable", reusable)

    def forge(path: str) -> None:  # same size, same mtime, other content: only the ctime tells
        before = os.stat(root / path)
        text = (root / path).read_text()
        (root / path).write_text(text.replace("f", "g", 1))
        os.utime(root / path, ns=(before.st_atime_ns, before.st_mtime_ns))

    def release(store: Store) -> None:
        plugin = "wp-content/plugins/woocommerce/"
        paths = sorted(p for p in (root / plugin).rglob("*") if p.is_file())
        files = [(str(p.relative_to(root)), hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths]
        files[0] = (files[0][0], "0" * 64)  # one core file differs from its release: SG709
        storage.save_release(store, platform="woocommerce", version="8.8.2", prefix=plugin.rstrip("/"),
                             source="woo.zip", source_sha256="e" * 64, files=files, actor="t", at=at)  # fmt: skip

    def sha256_of(path: str) -> str:
        return hashlib.sha256((root / path).read_bytes()).hexdigest()

    def intel(store: Store, on: bool) -> None:
        listed = [Indicator(IndicatorKind.HASH, sha256_of(index), "feed")] if on else []
        store.replace_indicators("feed", listed, "t")

    steps: list[tuple[str, Callable[[Store], object] | None, Callable[[], object] | None]] = [
        ("unchanged", None, None),
        ("unchanged again", None, None),
        ("content", None, lambda: (root / css).write_text("body { color: red }\n")),
        ("forged time", None, lambda: forge("wp-content/themes/storefront/functions.php")),
        ("permissions", None, lambda: os.chmod(root / index, 0o666)),
        ("webshell", None, lambda: (root / shell).write_text(WEBSHELL)),
        ("deleted", None, lambda: (root / "wp-content/index.php").unlink()),
        ("polyglot", None, lambda: (root / jpeg).write_bytes(POLYGLOT_JPEG)),
        ("release", release, None),
        ("known good", lambda s: s.add_known_good([(sha256_of(css), "t")], "manual", "t"), None),
        ("intel", lambda s: intel(s, True), None),
        ("no intel", lambda s: intel(s, False), None),
        ("scope", lambda s: runner.baseline(s, "shop", root, exclude=["wp-*/themes/**"], actor="t", now=at), None),
        ("unchanged after baseline", None, None),
        ("unchanged at last", None, None),
    ]
    with Store.open(f"sqlite:///{tmp_path / 'marked.db'}") as marked, Store.open(
        f"sqlite:///{tmp_path / 'plain.db'}"
    ) as plain:
        for store in (marked, plain):
            runner.baseline(store, "shop", root, actor="t", now=at)
        rules: set[str] = set()
        for name, on_store, on_tree in [("first", None, None), *steps]:
            if on_tree is not None:
                on_tree()
            outcomes: list[ScanOutcome] = []
            for store in (marked, plain):
                if on_store is not None:
                    on_store(store)
                classified.clear()
                with monkeypatch.context() as m:
                    if store is plain:
                        m.setattr(runner, "_plan_key", lambda *args: "")
                    outcomes.append(_comparable(runner.scan(store, "shop", root, now=at)))
                if store is marked:
                    marked_classified = set(classified)
            assert outcomes[0] == outcomes[1], name
            rules |= {f.rule_id for f in outcomes[0].findings}
            if name.startswith("unchanged") and name != "unchanged after baseline":
                assert marked_classified <= {f.subject for f in outcomes[0].findings}, name
        assert rules == {"SG701", "SG703", "SG705", "SG706", "SG707", "SG708", "SG709", "SG714"}
        # every file with nothing to say is marked, under the plan of the last scan, in both parts
        plan_key = runner.survey(marked, "shop", root).marks.plan  # type: ignore[union-attr]
        root_row = storage.find_root(marked, "shop", str(root))
        assert root_row is not None
        cache = storage.read_stat_cache(marked, root_row.id, plan=plan_key)
        says = {f.subject for f in outcomes[0].findings}
        assert cache.quiet == {p for p, r in cache.rows.items() if r[storage.SHA256] is not None} - says
        assert {len(p) % 2 for p in cache.quiet} == {0, 1}


def test_the_plan_key_covers_what_the_quick_path_depends_on(shop: Shop) -> None:
    """A mark is taken only under the same plan: the key changes with the engine, the detected
    platforms and versions, the scope, each release compared with (a rebuilt one too) and the
    baseline's presence."""
    detected = platform.detect(platform.fs_probe(str(shop("woocommerce"))))
    at = datetime(2026, 6, 1, tzinfo=UTC)
    release = storage.ReleaseRow(1, "woocommerce", "8.8.2", "", "", "", 1, at, "")
    base = ("e" * 32, detected, Scope(), (release,), True)
    variants = [
        ("f" * 32, detected, Scope(), (release,), True),
        ("e" * 32, detected[:1], Scope(), (release,), True),
        ("e" * 32, platform.detect(platform.fs_probe(str(shop("magento2")))), Scope(), (release,), True),
        ("e" * 32, detected, Scope(exclude=("*.bak",)), (release,), True),
        ("e" * 32, detected, Scope(include=("*.bak",)), (release,), True),
        ("e" * 32, detected, Scope(), (), True),
        ("e" * 32, detected, Scope(), (replace(release, id=2),), True),
        ("e" * 32, detected, Scope(), (release,), False),
    ]
    keys = [runner._plan_key(*base), *(runner._plan_key(*v) for v in variants)]
    assert len(set(keys)) == len(keys) and runner._plan_key(*base) == keys[0]
