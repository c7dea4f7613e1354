"""The ``skimguard knowngood`` group: files declared good by their sha256.

``skimguard analyze`` (and the scanner) call a file whose sha256 is known good clean without
analysing it. Hashes come from the lists packaged with skimguard (popular library releases as
published on npm, see :mod:`skimguard.analyze.known_good`) and from the database, where
``knowngood add`` puts the files a human vouches for (a shop's own bundle, a vendor's widget),
each with a note saying why; every change is in the audit trail (site ``*``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from skimguard.cli import (
    DEFAULT_CONFIG,
    ByOpt,
    ConfigOpt,
    Format,
    FormatOpt,
    actor,
    app,
    dumps,
    emit,
    errors,
    fail,
    opened,
    out,
)
from skimguard.config import load_config

knowngood_app = typer.Typer(
    help="Files known to be good, by sha256: `analyze` and scans call them clean without analysis.",
    no_args_is_help=True,
)
app.add_typer(knowngood_app, name="knowngood")

SHA256 = re.compile(r"[0-9a-fA-F]{64}")
MAX_LIST_BYTES = 32 * 1024 * 1024
MANUAL = "manual"


def digest_of(target: str) -> str:
    """A 64-hex argument as it is (lower-cased), otherwise the sha256 of the file it names."""
    if SHA256.fullmatch(target):
        return target.lower()
    path = Path(target)
    if path.is_dir():
        fail(f"{target}: is a directory", "give the files themselves (a sha256 is 64 hexadecimal digits)")
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        fail(f"{target}: no such file, and not a sha256", "give a file path or 64 hexadecimal digits")
    except OSError as exc:
        fail(f"{target}: cannot read: {exc.strerror}")


@knowngood_app.command("add")
def knowngood_add(
    targets: Annotated[list[str], typer.Argument(help="Files (hashed here) or sha256 digests (64 hex digits).")],
    note: Annotated[str, typer.Option("--note", help="Why these files are good (required).")] = "",
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Mark files good by their sha256; adding a hash again replaces its note."""
    if not note.strip():
        fail("--note is required: say what the files are and why they are good")
    digests = {digest_of(target): target for target in targets}
    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            added = store.add_known_good([(d, note.strip()) for d in digests], MANUAL, actor(by))
    for digest, target in digests.items():
        out.print(digest if digest == target.lower() else f"{digest}  {escape(target)}")
    out.print(f"known good: {added} added, {len(digests) - added} updated")


@knowngood_app.command("import")
def knowngood_import(
    file: Annotated[Path, typer.Argument(help="A list: sha256<TAB>description a line, # comments.")],
    source: Annotated[str | None, typer.Option("--source", help="Name of the list (default: the file name).")] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Add every hash of a list (the format of the packaged lists), each described by its line."""
    from skimguard.analyze.known_good import parse_list

    name = source or file.stem
    if name == MANUAL:
        fail(f"--source {MANUAL} is for `knowngood add`", "name the list after where it comes from")
    try:
        with file.open("rb") as f:
            raw = f.read(MAX_LIST_BYTES + 1)
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror}")
    if len(raw) > MAX_LIST_BYTES:
        fail(f"{file}: larger than {MAX_LIST_BYTES // (1024 * 1024)} MiB")
    try:
        entries = parse_list(raw.decode("utf-8", errors="replace"), str(file))
    except ValueError as exc:
        fail(str(exc))
    if not entries:
        fail(f"{file}: no sha256 found")
    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            added = store.add_known_good(sorted(entries.items()), name, actor(by))
    out.print(f"known good {escape(name)}: {len(entries)} hash(es), {added} added, {len(entries) - added} updated")


@knowngood_app.command("remove")
def knowngood_remove(
    sha256: Annotated[str, typer.Argument(help="The sha256 to forget.")],
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Forget a hash added with `knowngood add` or `import` (packaged lists cannot be changed)."""
    from skimguard.analyze.known_good import packaged_lists

    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            removed = store.remove_known_good(sha256, actor(by))
    if not removed:
        packaged = packaged_lists().get(sha256.strip().lower())
        if packaged is not None:
            fail(f"{sha256.strip()} is {packaged}, on a list packaged with skimguard", "packaged lists cannot change")
        fail(f"{sha256.strip()} is not known good in this database", "see `skimguard knowngood list`")
    out.print(f"{escape(sha256.strip().lower())} is no longer known good")


@knowngood_app.command("list")
def knowngood_list(
    packaged: Annotated[
        bool, typer.Option("--packaged", help="List the packaged library hashes instead of the database's.")
    ] = False,
    format: FormatOpt = Format.table,
    config_path: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Known-good hashes of the database (source, note), or with --packaged those shipped with skimguard."""
    from skimguard.analyze.known_good import packaged_lists

    rows: list[tuple[str, str, str]]
    if packaged:
        rows = sorted(((d, "packaged", name) for d, name in packaged_lists().items()), key=lambda r: (r[2], r[0]))
    else:
        with errors():
            config = load_config(config_path)
            with opened(config) as store:
                good = store.known_good()
        rows = sorted(((d, src, note) for d, (src, note) in good.items()), key=lambda r: (r[1], r[2], r[0]))
    if format is Format.json:
        emit(dumps([{"sha256": d, "source": src, "note": note} for d, src, note in rows]), None)
        return
    table = Table("sha256", "source", "release and file" if packaged else "note")
    for digest, src, note in rows:
        table.add_row(digest, escape(src), escape(note))
    out.print(table)
