"""The ``skimguard webroot`` group: integrity baseline and malware scan of a shop's document root.

* ``webroot baseline PATH`` records path, size, mode, owner, mtime and sha256 of every watched
  file (upload, cache and log folders are left out of integrity, not out of the malware scan);
* ``webroot scan PATH`` reports new, modified, deleted and permission-changed files, runs the
  analysis engine on every code file once per engine version and on what changed since, flags
  executables in upload folders and PHP inside images; findings SG701-SG715 (``server``) are
  stored like a scan and alerted; table, JSON (``skimguard.webroot/1``) or SARIF 2.1.0;
* ``webroot known-good build ARCHIVE_OR_DIR --platform P --version V`` hashes a release the user
  downloaded into the known-good store, so unmodified core files cost nothing and modified ones
  stand out (SG709); ``known-good list`` shows what was built;
* ``webroot platforms [PATH]`` shows what was detected and where each zone is;
* ``webroot list`` shows the watched roots and their baselines.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from skimguard.cli import (
    DEFAULT_CONFIG,
    ByOpt,
    ConfigOpt,
    FailOnOpt,
    Format,
    FormatOpt,
    OutputOpt,
    SiteOpt,
    actor,
    app,
    dumps,
    emit,
    err,
    errors,
    fail,
    opened,
    out,
    parse_severity,
    pick_site,
    progress_display,
)
from skimguard.config import Site, load_config
from skimguard.webroot.walk import MAX_FILES

if TYPE_CHECKING:
    from skimguard.models import Finding
    from skimguard.store import Store
    from skimguard.webroot.correlate import Link

webroot_app = typer.Typer(
    help="The shop's document root: integrity baseline, malware scan (SG701-SG715), platform releases.",
    no_args_is_help=True,
)
known_good_app = typer.Typer(
    help="Hashes of platform releases: unmodified core files cost nothing, modified ones stand out.",
    no_args_is_help=True,
)
webroot_app.add_typer(known_good_app, name="known-good")
app.add_typer(webroot_app, name="webroot")


class ScanFormat(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


PathArg = Annotated[Path, typer.Argument(help="The shop's document root (the folder with index.php).")]
WorkersOpt = Annotated[
    int, typer.Option("--workers", min=0, max=64, help="Processes that hash and analyse (0: one per CPU).")
]
MaxFilesOpt = Annotated[
    int, typer.Option("--max-files", min=1, help="Stop listing after this many files (reported as SG715).")
]


def _progress_callback(progress: Progress) -> Callable[[str, int, int], None]:
    """Show the runner's phases (listing, hashing and analysing) on the progress display."""
    tasks: dict[str, TaskID] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            label = {"walk": "listing files", "read": "hashing and analysing"}.get(phase, phase)
            tasks[phase] = progress.add_task(label, total=max(total, 1))
        progress.update(tasks[phase], completed=done, total=max(total, 1))

    return update


@webroot_app.command("baseline")
def baseline_cmd(
    path: PathArg,
    site: SiteOpt = None,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", help="Keep matching files in the baseline even in upload/cache/log folders (glob)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Leave matching files out of the baseline (glob, repeatable).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why this state is good (kept in the audit trail).")] = "",
    format: FormatOpt = Format.table,
    output: OutputOpt = None,
    workers: WorkersOpt = 0,
    max_files: MaxFilesOpt = MAX_FILES,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Record the integrity baseline of a document root: path, size, mode, owner, mtime, sha256.

    Upload, cache and log folders of the detected platform stay out (they are still scanned for
    executables); without --include/--exclude the previous baseline's globs are kept."""
    from skimguard.webroot.report import baseline_to_json, render_baseline
    from skimguard.webroot.runner import Settings, baseline

    with errors():
        config = load_config(config_path)
        chosen = pick_site(config, site)
        with opened(config) as store, progress_display() as progress:
            outcome = baseline(
                store,
                chosen.name,
                path,
                include=include,
                exclude=exclude,
                actor=actor(by),
                note=note,
                settings=Settings(workers=workers, max_files=max_files),
                progress=_progress_callback(progress),
            )
    if format is Format.json:
        emit(dumps(baseline_to_json(outcome)), output)
        return
    console = out if output is None else Console(file=io.StringIO(), width=160, highlight=False)
    render_baseline(console, outcome)
    if output is not None:
        emit(console.file.getvalue(), output)  # type: ignore[attr-defined]


@webroot_app.command("scan")
def scan_cmd(
    path: PathArg,
    site: SiteOpt = None,
    format: Annotated[ScanFormat, typer.Option("--format", "-f", help="Output format.")] = ScanFormat.table,
    output: OutputOpt = None,
    fail_on: FailOnOpt = "high",
    alerts: Annotated[bool, typer.Option("--alerts/--no-alerts", help="Send alerts to the configured sinks.")] = True,
    release: Annotated[
        list[str] | None,
        typer.Option("--release", help="Also compare with this built release (platform@version, repeatable)."),
    ] = None,
    workers: WorkersOpt = 0,
    max_files: MaxFilesOpt = MAX_FILES,
    correlate: Annotated[
        bool,
        typer.Option(
            "--correlate", help="Link the site's open browser findings to the files this scan reported (kept on them)."
        ),
    ] = False,
    config_path: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """New, modified, deleted and permission-changed files against the baseline, and malware in
    code, uploads and images (SG701-SG715). Exit 1 at or above --fail-on (default high)."""
    from skimguard.webroot.report import render_scan, scan_to_json
    from skimguard.webroot.runner import Settings, record, scan
    from skimguard.webroot.sarif import to_sarif

    threshold = parse_severity(fail_on)
    with errors():
        config = load_config(config_path)
        chosen = pick_site(config, site)
        with opened(config) as store:
            with progress_display() as progress:
                outcome = scan(
                    store,
                    chosen.name,
                    path,
                    now=None,
                    settings=Settings(workers=workers, max_files=max_files, releases=tuple(release or ())),
                    progress=_progress_callback(progress),
                )
            outcome = record(config, store, outcome, alert=alerts, console=err)
            links: tuple[Link, ...] = _correlate(store, chosen, Path(path), outcome.findings) if correlate else ()
    if outcome.alerts is not None and not outcome.alerts.ok:
        for problem in outcome.alerts.errors:
            err.print(f"alert not delivered: {escape(problem)}")
    if format is ScanFormat.json:
        document = scan_to_json(outcome)
        if correlate:
            document["links"] = [link.to_dict() for link in links]
        emit(dumps(document), output)
    elif format is ScanFormat.sarif:
        emit(dumps(to_sarif(outcome)), output)
    else:
        console = out if output is None else Console(file=io.StringIO(), width=160, highlight=False)
        render_scan(console, outcome)
        for link in links:
            console.print(
                f"  explains browser finding {link.rule_id} {link.finding[:10]}: {escape(link.location)} "
                f"({escape(link.reason)})"
            )
        if output is not None:
            emit(console.file.getvalue(), output)  # type: ignore[attr-defined]
    worst = max((f.severity for f in outcome.findings), default=None)
    raise typer.Exit(1 if worst is not None and worst >= threshold else 0)


MAX_CORRELATE_FILES = 2000
MAX_CORRELATE_BYTES = 1024 * 1024


def _correlate(store: Store, site: Site, root: Path, findings: Sequence[Finding]) -> tuple[Link, ...]:
    """Link the site's open browser findings to the files this scan reported (read again, bounded),
    and keep the links on those findings (``explained_by``) for incident scoping."""
    from skimguard.webroot.correlate import correlate
    from skimguard.webroot.links import record_links

    paths = list(dict.fromkeys(str(f.evidence.get("path", "")) for f in findings if f.evidence.get("path")))
    base = root.resolve()

    def items() -> Iterator[tuple[str, str, datetime | None]]:
        for rel in paths[:MAX_CORRELATE_FILES]:
            file = (base / rel).resolve()
            if not file.is_relative_to(base) or file.is_symlink() or not file.is_file():
                continue
            try:
                with file.open("rb") as fh:
                    data = fh.read(MAX_CORRELATE_BYTES)
                mtime = datetime.fromtimestamp(file.stat().st_mtime, UTC)
            except OSError:
                continue
            yield rel, data.decode("utf-8", "replace"), mtime

    browser = [s.finding for s in store.findings(site.name, status="open")]
    links = correlate(browser, items(), body=store.body, own_hosts=(site.host,))
    record_links(store, site.name, links, actor="webroot scan")
    return links


@webroot_app.command("list")
def list_cmd(site: SiteOpt = None, format: FormatOpt = Format.table, config_path: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Watched web roots: platform, baseline (when, by whom, files), last scan."""
    from skimguard.webroot import storage
    from skimguard.webroot.runner import platforms_line

    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            rows = storage.roots(store, site)
    if format is Format.json:
        emit(
            dumps(
                [
                    {
                        "site": r.site,
                        "root": r.root,
                        "platforms": list(r.platforms),
                        "baseline_at": r.baseline_at.isoformat() if r.baseline_at else None,
                        "baseline_by": r.baseline_by or None,
                        "baseline_files": r.baseline_files,
                        "last_scan_at": r.last_scan_at.isoformat() if r.last_scan_at else None,
                    }
                    for r in rows
                ]
            ),
            None,
        )
        return
    table = Table("site", "web root", "platform", "baseline (UTC)", "files", "last scan (UTC)")
    for r in rows:
        table.add_row(
            escape(r.site),
            escape(r.root),
            escape(platforms_line(r.platforms)),
            f"{r.baseline_at:%Y-%m-%d %H:%M} {escape(r.baseline_by)}" if r.baseline_at else "-",
            str(r.baseline_files),
            f"{r.last_scan_at:%Y-%m-%d %H:%M}" if r.last_scan_at else "-",
        )
    out.print(table)


@webroot_app.command("platforms")
def platforms_cmd(
    path: Annotated[Path | None, typer.Argument(help="Detect the platform of this document root.")] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,  # accepted like on every command; not needed here
) -> None:
    """Supported platforms and where their zones are (checkout, payment, upload, media, cache, log)."""
    from skimguard.webroot.platform import GENERIC, PROFILES, Zone, describe, detect, fs_probe
    from skimguard.webroot.runner import resolve_root

    if path is not None:
        with errors():
            found = detect(fs_probe(resolve_root(path)))
        out.print(f"{escape(str(path))}: {escape(describe(found))}")
        profiles = [d.profile for d in found]
    else:
        profiles = [*PROFILES, GENERIC]
    table = Table("platform", "zone", "globs", show_lines=True)
    for p in profiles:
        for zone in (Zone.CHECKOUT, Zone.PAYMENT, Zone.UPLOAD, Zone.CACHE, Zone.LOG):
            globs = p.globs(zone)
            if globs:
                table.add_row(escape(p.name), zone.value, escape(", ".join(globs)))
    out.print(table)


@known_good_app.command("build")
def known_good_build(
    source: Annotated[
        Path, typer.Argument(help="The release as downloaded: .zip, .tar.gz (.tgz, .tar.xz...) or a folder.")
    ],
    platform: Annotated[str, typer.Option("--platform", help="ec-cube-4, magento-2, wordpress, woocommerce, ...")],
    version: Annotated[str, typer.Option("--version", help="The release's version, as the shop reports it.")],
    prefix: Annotated[
        str | None,
        typer.Option("--prefix", help="Folder of the release in the web root (default: the platform's, a plugin's)."),
    ] = None,
    config_path: ConfigOpt = DEFAULT_CONFIG,
    by: ByOpt = None,
) -> None:
    """Hash a platform release into the known-good store (and remember each file's path).

    Download the release from the platform's official source (GitHub releases, the vendor's
    download page, `composer create-project`, wordpress.org); the archive's single top folder is
    dropped, so paths match the document root."""
    from skimguard.webroot import storage
    from skimguard.webroot.platform import PLATFORM_NAMES, profile
    from skimguard.webroot.release import read_release

    if platform not in PLATFORM_NAMES:
        fail(f"--platform {platform}: unknown", f"choose from {', '.join(PLATFORM_NAMES)}")
    version = version.strip()
    if not version or len(version) > 40 or any(c.isspace() for c in version):
        fail(f"--version {version!r}: give the release version, e.g. 4.2.3")
    where = profile(platform).prefix if prefix is None else prefix
    who = actor(by)
    with errors():
        release = read_release(source, where)
        config = load_config(config_path)
        with opened(config) as store:
            row = storage.save_release(
                store,
                platform=platform,
                version=version,
                prefix=where,
                source=str(source),
                source_sha256=release.source_sha256,
                files=release.files,
                actor=who,
                at=datetime.now(UTC),
            )
            digests = sorted({d for _, d in release.files})
            notes: dict[str, str] = {}
            for path, digest in release.files:
                notes.setdefault(digest, f"{platform}@{version}/{path}")
            added = store.add_known_good([(d, notes[d]) for d in digests], f"release:{platform}@{version}", who)
    skipped = f"; {release.skipped} link(s) or unsafe member(s) skipped" if release.skipped else ""
    top = f" (top folder {escape(release.stripped)}/ dropped)" if release.stripped else ""
    out.print(
        f"{escape(row.label)}: {row.files} file(s){top} under {escape(where or '/')}; "
        f"{len(digests)} hash(es), {added} new in the known-good store{skipped}"
    )


@known_good_app.command("list")
def known_good_list(format: FormatOpt = Format.table, config_path: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Releases built with `known-good build`: platform, version, files, prefix, source."""
    from skimguard.webroot import storage

    with errors():
        config = load_config(config_path)
        with opened(config) as store:
            rows = storage.releases(store)
    if format is Format.json:
        emit(
            dumps(
                [
                    {
                        "platform": r.platform,
                        "version": r.version,
                        "files": r.files,
                        "prefix": r.prefix,
                        "source": r.source,
                        "source_sha256": r.source_sha256 or None,
                        "built_at": r.built_at.isoformat(),
                        "built_by": r.built_by,
                    }
                    for r in rows
                ]
            ),
            None,
        )
        return
    table = Table("release", "files", "prefix", "source", "built (UTC)")
    for r in rows:
        table.add_row(
            escape(r.label), str(r.files), escape(r.prefix or "/"), escape(r.source), f"{r.built_at:%Y-%m-%d %H:%M}"
        )
    out.print(table)
