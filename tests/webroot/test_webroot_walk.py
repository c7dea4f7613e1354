"""Walking a hostile tree, naming what files are, reading them once (hash, PHP inside, engine),
and hashing release archives."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from skimguard.webroot import WebrootError, hashing, kinds
from skimguard.webroot.release import read_release, safe_member, strip_top
from skimguard.webroot.walk import Entry, Problem, display, entry_of, listing, part_of, walk


def entries(root: Path, **kw: int) -> list[Entry | Problem]:
    return list(walk(root, **kw))


def test_walk_lists_files_and_links_without_following(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "b" / "c").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("x")
    (root / "a.php").write_text("<?php")
    (root / "b" / "c" / "d.js").write_text("1")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    os.symlink(outside, root / "b" / "linkdir")
    os.symlink("../a.php", root / "b" / "link.php")
    os.mkfifo(root / "fifo")
    found = entries(root)
    assert all(isinstance(e, Entry) for e in found)
    assert sorted((e.path, e.kind, e.target) for e in found if isinstance(e, Entry)) == [
        ("a.php", "file", ""),
        ("b/c/d.js", "file", ""),
        ("b/link.php", "symlink", "../a.php"),
        ("b/linkdir", "symlink", str(outside)),
    ]
    first = next(e for e in found if isinstance(e, Entry) and e.path == "a.php")
    os.chmod(root / "a.php", 0o640)
    st = (root / "a.php").stat()
    again = next(e for e in entries(root) if isinstance(e, Entry) and e.path == "a.php")
    assert (again.size, again.mode, again.mtime_ns, again.ctime_ns, again.inode, again.uid) == (
        5,
        0o640,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_uid,
    )
    assert again.ctime_ns >= first.ctime_ns and again.mode != first.mode


def test_walk_limits(tmp_path: Path) -> None:
    root = tmp_path / "root"
    deep = root / "1" / "2" / "3"
    deep.mkdir(parents=True)
    (deep / "x.txt").write_text("x")
    for i in range(5):
        (root / f"f{i}.txt").write_text("x")
    truncated = entries(root, max_files=3)
    assert len([e for e in truncated if isinstance(e, Entry)]) == 3
    last = truncated[-1]
    assert isinstance(last, Problem) and last.reason == "more than 3 files: the rest of the tree was not listed"
    shallow = entries(root, max_depth=3)
    assert Problem("1/2/3", "deeper than 3 folders: not listed") in shallow
    with pytest.raises(OSError):
        entries(tmp_path / "missing")


def test_undecodable_names_are_shown_escaped(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    raw = os.path.join(os.fsencode(root), b"caf\xe9.php")
    with open(raw, "wb") as f:
        f.write(b"<?php")
    (found,) = entries(root)
    assert isinstance(found, Entry) and found.path == "caf\\xe9.php"
    assert Path(found.abspath).read_bytes() == b"<?php"  # the real name still opens
    assert display("ok.php") == "ok.php"


def test_names_that_show_alike_get_distinct_paths(tmp_path: Path) -> None:
    """An undecodable name shows like a literal ``\\xNN`` one; both are listed under distinct
    paths that keep what the name says (extension, double extension, hidden), folders too."""
    root = tmp_path / "root"
    root.mkdir()
    base = os.fsencode(root)
    for raw in (b"caf\\xe9.php", b"caf\xe9.php", b"caf\\xe9~2.php", b"x\\xff.php.jpg", b"x\xff.php.jpg",
                b".h\\xff.php", b".h\xff.php"):  # fmt: skip
        with open(os.path.join(base, raw), "wb") as f:
            f.write(raw)
    for folder in (b"d\\xe9", b"d\xe9"):
        os.mkdir(os.path.join(base, folder))
        with open(os.path.join(base, folder, b"a.php"), "wb") as f:
            f.write(folder)
    found = {e.path: Path(e.abspath).read_bytes() for e in entries(root) if isinstance(e, Entry)}
    assert len(found) == 9  # nothing lost
    assert found["caf\\xe9~2.php"] == b"caf\\xe9~2.php"  # a real name keeps its path
    assert {found["caf\\xe9.php"], found["caf\\xe9~3.php"]} == {b"caf\\xe9.php", b"caf\xe9.php"}
    assert {found["x\\xff.php.jpg"], found["x\\xff~2.php.jpg"]} == {b"x\\xff.php.jpg", b"x\xff.php.jpg"}
    assert {found[".h\\xff.php"], found[".h\\xff~2.php"]} == {b".h\\xff.php", b".h\xff.php"}
    assert {found["d\\xe9/a.php"], found["d\\xe9~2/a.php"]} == {b"d\\xe9", b"d\xe9"}
    assert kinds.disguised_executable("x\\xff~2.php.jpg") == "double extension"
    assert kinds.disguised_executable(".h\\xff~2.php") == "hidden executable"


def test_listing_and_walk_agree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x.php").write_text("<?php")
    (root / "y.js").write_text("1")
    os.symlink("a/b/x.php", root / "l.php")
    listed = [i for i in listing(root) if not isinstance(i, Problem)]
    assert [entry_of(i) for i in listed] == entries(root)
    by_path = {i[0]: i for i in listed}
    assert set(by_path) == {"a/b/x.php", "y.js", "l.php"}
    _, abspath, st, target = by_path["l.php"]
    assert abspath == str(root / "l.php") and target == "a/b/x.php" and st.st_ino == os.lstat(abspath).st_ino
    assert by_path["a/b/x.php"][1] == str(root / "a" / "b" / "x.php") and by_path["a/b/x.php"][3] == ""


def test_parts_of_a_split_listing_cover_the_tree_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for i in range(40):
        folder = root / f"d{i % 7}" / ("x" * (i % 3))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.php").write_text("<?php")
    (root / "1" / "2" / "3").mkdir(parents=True)
    (root / "1" / "2" / "3" / "deep.php").write_text("<?php")
    whole = {i[0] for i in listing(root, max_depth=3) if not isinstance(i, Problem)}
    parts = [list(listing(root, max_depth=3, share=(k, 2))) for k in (0, 1)]
    files = [{i[0] for i in part if not isinstance(i, Problem)} for part in parts]
    assert files[0] | files[1] == whole and not files[0] & files[1] and all(files)
    assert all(part_of(path, 2) == k for k in (0, 1) for path in files[k])
    for part in parts:  # each part says what it could not list: the caller merges
        assert [p for p in part if isinstance(p, Problem)] == [Problem("1/2/3", "deeper than 3 folders: not listed")]
    capped = [list(listing(root, max_files=10, share=(k, 2))) for k in (0, 1)]
    for part in capped:  # each part stops at its half of the limit
        assert len([i for i in part if not isinstance(i, Problem)]) == 5
        assert part[-1] == Problem(part[-1].path, "more than 10 files: the rest of the tree was not listed")


def test_a_folder_swapped_for_a_link_is_not_followed(tmp_path: Path) -> None:
    """Folders below the root are opened with O_NOFOLLOW: a link put in a folder's place after
    it was listed is reported, not followed."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.php").write_text("<?php")
    (root / "index.php").write_text("<?php")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.php").write_text("<?php // not ours")
    items = listing(root)
    first = next(items)  # the root is being listed: 'sub' was seen as a folder; now it becomes a link
    (root / "sub" / "a.php").unlink()
    (root / "sub").rmdir()
    os.symlink(outside, root / "sub")
    rest = [first, *items]
    assert [i[0] for i in rest if not isinstance(i, Problem)] == ["index.php"]
    assert [(p.path, p.reason) for p in rest if isinstance(p, Problem)] == [("sub", os.strerror(errno.ENOTDIR))]


@pytest.mark.parametrize(
    ("name", "executable", "code", "image", "disguised"),
    [
        ("index.php", True, True, False, ""),
        ("shell.PHTML", True, True, False, ""),
        ("x.phar", True, True, False, ""),
        (".htaccess", True, True, False, ""),
        ("app.user.ini", True, True, False, ""),
        ("app.js", False, True, False, ""),
        ("index.twig", False, True, False, ""),
        ("photo.jpg", False, False, True, ""),
        ("shell.php.jpg", False, False, True, "double extension"),
        ("x.phtml.png", False, False, True, "double extension"),
        ("backup.php.bak", False, False, False, "double extension"),
        ("config.inc.php", True, True, False, ""),
        (".cache.php", True, True, False, "hidden executable"),
        ("style.css", False, False, False, ""),
    ],
)
def test_kinds(name: str, executable: bool, code: bool, image: bool, disguised: str) -> None:
    low = name.lower()
    assert (kinds.is_executable(low), kinds.is_code(low), kinds.is_image(low)) == (executable, code, image)
    assert kinds.disguised_executable(low) == disguised


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"\xff\xd8<?php system($_GET['c']);", 2),
        (b"abc<?PHP\neval($x)", 3),
        (b"GIF89a<?= $_POST['x'] ?>", 6),
        (b"xx<?=@eval($a)?>", 2),
        (b"random <? bytes <?= 12 and <?phpinfo", -1),
        (b"", -1),
    ],
)
def test_php_inside(data: bytes, offset: int) -> None:
    assert kinds.php_inside(data) == offset


def test_php_tag_split_between_chunks_is_found(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    head = b"\xff\xd8" + b"\x00" * (hashing.CHUNK - 5)
    data = head + b"<?php system($_GET['c']); ?>" + b"\x01" * 1000
    path.write_bytes(data)
    hashing.init_worker(frozenset(), ())
    out = hashing.process(hashing.Job("big.jpg", str(path), "file", analyse=False, sniff=True))
    assert out.php_at == len(head) and out.sha256 == hashlib.sha256(data).hexdigest() and out.size == len(data)
    assert out.verdict == "malicious" and out.file_verdict is not None  # analysed because PHP is inside


def test_reading_is_bounded_and_safe(tmp_path: Path) -> None:
    hashing.init_worker(frozenset({hashlib.sha256(b"known").hexdigest()}), ())
    good = tmp_path / "good.js"
    good.write_bytes(b"known")
    assert hashing.process(hashing.Job("good.js", str(good), "file", analyse=True, sniff=False)).verdict == "good"
    core = tmp_path / "core.php"
    core.write_bytes(b"<?php eval($_POST['x']);")
    digest = hashlib.sha256(core.read_bytes()).hexdigest()
    as_core = hashing.process(hashing.Job("core.php", str(core), "file", True, False, core_sha256=digest))
    assert as_core.verdict == "good" and as_core.file_verdict is None  # the release's own bytes: free
    fifo = tmp_path / "pipe.php"
    os.mkfifo(fifo)  # would block a plain open()
    assert (
        hashing.process(hashing.Job("pipe.php", str(fifo), "file", True, False)).error == "not a regular file any more"
    )
    os.symlink(core, tmp_path / "link.php")
    swapped = hashing.process(hashing.Job("link.php", str(tmp_path / "link.php"), "file", True, False))
    assert swapped.sha256 is None and swapped.error  # O_NOFOLLOW: a file swapped for a link is not followed
    link = hashing.process(hashing.Job("l", "", "symlink", True, False, target="/etc/passwd"))
    assert link.sha256 == hashing.symlink_digest("/etc/passwd") and link.verdict == ""


def test_verdict_cache_round_trip(tmp_path: Path) -> None:
    from skimguard.analyze.engine import analyze_bytes

    verdict = analyze_bytes(b"<?php\nif ($_GET['c']) { system($_REQUEST['c']); }\n", "x.php")
    assert verdict.verdict.value != "clean"
    again = hashing.verdict_from_json("x.php", verdict.sha256, hashing.verdict_to_json(verdict))
    assert again == verdict
    assert hashing.verdict_from_json("x.php", "0" * 64, {"hits": [{"rule_id": 1}]}) is None


# --------------------------------------------------------------------------------------------- releases


def _zip(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            z.writestr(info, "target")
    return path


def test_release_from_zip_strips_the_top_folder_and_skips_unsafe_members(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "woocommerce.8.9.0.zip",
        {
            "woocommerce/woocommerce.php": b"<?php // 8.9.0",
            "woocommerce/assets/js/frontend/checkout.js": b"jQuery(function(){});",
            "woocommerce/./x/../escape.php": b"x",
        },
        links=("woocommerce/link.php",),
    )
    release = read_release(archive, "wp-content/plugins/woocommerce")
    assert release.stripped == "woocommerce" and release.skipped == 1
    assert [p for p, _ in release.files] == [
        "wp-content/plugins/woocommerce/assets/js/frontend/checkout.js",
        "wp-content/plugins/woocommerce/escape.php",  # normalised
        "wp-content/plugins/woocommerce/woocommerce.php",
    ]
    assert release.source_sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (
        dict(release.files)["wp-content/plugins/woocommerce/woocommerce.php"]
        == hashlib.sha256(b"<?php // 8.9.0").hexdigest()
    )


def test_release_from_tar_gz_and_folder(tmp_path: Path) -> None:
    archive = tmp_path / "eccube-4.2.3.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in {
            "eccube-4.2.3/index.php": b"<?php",
            "eccube-4.2.3/src/Eccube/Kernel.php": b"<?php k",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        evil = tarfile.TarInfo("/etc/cron.d/x")
        evil.size = 1
        tar.addfile(evil, io.BytesIO(b"x"))
        link = tarfile.TarInfo("eccube-4.2.3/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    release = read_release(archive)
    assert [p for p, _ in release.files] == ["index.php", "src/Eccube/Kernel.php"]
    assert release.skipped == 2 and release.stripped == "eccube-4.2.3"
    folder = tmp_path / "unpacked"
    (folder / "src").mkdir(parents=True)
    (folder / "index.php").write_bytes(b"<?php")
    (folder / "src" / "a.php").write_bytes(b"<?php a")
    from_dir = read_release(folder)
    assert [p for p, _ in from_dir.files] == ["index.php", "src/a.php"] and from_dir.source_sha256 == ""
    only_src = read_release(folder / "src", "src")  # one folder inside: taken as it is, not stripped
    assert [p for p, _ in only_src.files] == ["src/a.php"] and only_src.stripped == ""


def test_release_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(WebrootError, match="not a readable zip"):
        read_release(bad)
    other = tmp_path / "x.rar"
    other.write_bytes(b"x")
    with pytest.raises(WebrootError, match=r"not a \.zip"):
        read_release(other)
    with pytest.raises(WebrootError, match="no such file"):
        read_release(tmp_path / "missing.zip")
    empty = _zip(tmp_path / "empty.zip", {})
    with pytest.raises(WebrootError, match="no regular files"):
        read_release(empty)
    with pytest.raises(WebrootError, match="--prefix"):
        read_release(_zip(tmp_path / "one.zip", {"a.php": b"x"}), "../outside")


@pytest.mark.parametrize(
    ("name", "safe"),
    [("a/b.php", "a/b.php"), ("./a/./b.php", "a/b.php"), ("/etc/passwd", None), ("../x", None), ("a/../../x", None),
     ("C:/x", None), ("a\\b.php", "a/b.php")],
)  # fmt: skip
def test_safe_member(name: str, safe: str | None) -> None:
    assert safe_member(name) == safe


def test_strip_top_only_with_one_shared_folder() -> None:
    assert strip_top([("a/x", "1"), ("a/y/z", "2")]) == ([("x", "1"), ("y/z", "2")], "a")
    assert strip_top([("a/x", "1"), ("b/y", "2")]) == ([("a/x", "1"), ("b/y", "2")], "")
    assert strip_top([("a/x", "1"), ("a", "2")]) == ([("a/x", "1"), ("a", "2")], "")


def test_pool_workers_collect_garbage_cycles_when_their_parent_does_not() -> None:
    """`skimguard webroot` runs without the cyclic collector (skimguard.cli.UNCOLLECTED_COMMANDS);
    the workers it forks turn it back on, for the engine's parsers, with what they inherited frozen."""
    code = (
        "import gc, multiprocessing\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from skimguard.webroot import hashing\n"
        "gc.disable()\n"
        "context = multiprocessing.get_context('fork')\n"
        "with ProcessPoolExecutor(1, mp_context=context, initializer=hashing._init_pool_worker,\n"
        "                         initargs=(frozenset(), ())) as pool:\n"
        "    print(pool.submit(gc.isenabled).result(), gc.isenabled(),\n"
        "          pool.submit(gc.get_freeze_count).result() > 1000, gc.get_freeze_count())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["True", "False", "True", "0"]
