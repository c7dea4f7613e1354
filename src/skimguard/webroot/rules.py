"""The rules of ``skimguard webroot scan`` (SG701-SG719, category ``server``).

Severity is tuned so that what a shop does every week stays at ``low`` or below (a library
updated to a release on a known-good list, new product images, a log rotated), and what an
attacker does rises: code that the engine convicts, an executable where uploads go, PHP inside
an image, a core file that differs from its release, a file changed with its date kept. A file's
``zone`` (:mod:`.platform`) raises the severity of changes to checkout templates and payment
code, which PCI DSS 11.6.1 asks to be alerted on.

Evidence of a file finding always holds ``path``, ``root``, ``sha256``, ``size``, ``mtime`` (ISO
8601 UTC: evidence for the incident window), ``zone`` and ``change``; code findings add ``rule``,
``line``, ``excerpt`` (of the strongest engine hit) and ``hits``.
"""

from __future__ import annotations

from typing import Final

from skimguard.detect.base import Rule
from skimguard.models import Category, Confidence, Severity

SG701 = Rule(
    id="SG701",
    title="File with malicious code",
    category=Category.SERVER,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""The static analysis engine convicts a file of the web root (verdict malicious): a
skimmer, a webshell or backdoor, payment code that copies card data. The evidence lists the engine
hits (SG4xx rule, line, excerpt). Critical when the file is a checkout template or payment code, or
when a hit is critical. Reported whether or not the file changed since the baseline: a shop can be
infected before its baseline was taken.

Why: on self-hosted shops the skimmer and the webshell that planted it live in the shop's own files.
Known false positives: licence-encoded commercial extensions; security tools that keep malware
samples (move them out of the web root).
How to fix: treat it as a breach: keep a copy of the file for the investigation (its mtime dates the
change), restore the file from a clean release, find how it got there (the webshell, a vulnerable
plugin, a stolen admin password), rotate credentials, then `skimguard webroot baseline`.""",
)

SG702 = Rule(
    id="SG702",
    title="File with suspicious code",
    category=Category.SERVER,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc="""The engine finds traits of skimmers or backdoors in a file (verdict suspicious) but
no convicting combination. Low when the file is unchanged since the baseline (it was there when the
baseline was accepted); high when it is new or changed in a checkout, payment or upload location.

Why: obfuscated loaders and droppers often show only traits until the payload they fetch arrives.
Known false positives: minified or encoded vendor code, debug code that logs requests.
How to fix: read the hits; if the file is legitimate vendor code, add it with `skimguard knowngood
add FILE --note ...` or build the release's hashes (`skimguard webroot known-good build`).""",
)

SG703 = Rule(
    id="SG703",
    title="File modified since the baseline",
    category=Category.SERVER,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    doc="""A file in the integrity baseline has different content now. Info when the new content
is known good (a library or release file on a known-good list: an update) or is not code (an image,
a font); medium for checkout templates, checkout scripts and payment code (PCI DSS 11.6.1 asks for
an alert on unauthorized changes to payment pages).

Why: the second founding incident was an altered checkout template; integrity is what catches a
change the rules cannot judge.
Known false positives: deployments and updates (take a new baseline after each).
How to fix: confirm the change with whoever deployed it, then `skimguard webroot baseline PATH`.""",
)

SG704 = Rule(
    id="SG704",
    title="New code file since the baseline",
    category=Category.SERVER,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    doc="""A server-executable or browser code file (PHP, JavaScript, HTML, templates) appeared
that the baseline does not have. Info when its content is known good, medium in checkout or payment
locations.

Why: webshells, droppers and skimmer loaders are new files; most webshells are small PHP files
with innocent names.
Known false positives: plugin or module installs, deployments (take a new baseline afterwards).
How to fix: find out who added it; if legitimate, take a new baseline.""",
)

SG705 = Rule(
    id="SG705",
    title="File deleted since the baseline",
    category=Category.SERVER,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    doc="""A file of the baseline is gone. Info for files that are not code; medium for server
configuration (a removed .htaccess can re-enable PHP in an upload folder).

Why: attackers remove protections and clean up after themselves.
Known false positives: deployments, plugin removal.
How to fix: confirm the removal, then take a new baseline.""",
)

SG706 = Rule(
    id="SG706",
    title="Permission or owner changed",
    category=Category.SERVER,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    doc="""A file's permission bits or owner differ from the baseline. Medium when it became
writable by everyone or gained setuid/setgid bits.

Why: a file the web server can write is a file a webshell can rewrite; attackers also chmod their
files to make cleanup fail.
Known false positives: deployment tools that reset permissions, hosting panels fixing ownership.
How to fix: restore the intended permissions (code should not be writable by the web server user),
then take a new baseline.""",
)

SG707 = Rule(
    id="SG707",
    title="Executable file in an upload or media folder",
    category=Category.SERVER,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""A PHP (or other server-executable) file sits where the shop keeps uploaded media
(wp-content/uploads, pub/media, html/upload...) or in an image folder of the code (medium there).
Reported on every scan, whatever the baseline says: upload folders are outside the integrity
baseline, and an executable there is never part of the shop.

Why: an upload form that does not check file types is the classic way in; the webshell then plants
the skimmer.
Known false positives: a few plugins that store PHP cache or protection stubs (index.php with
"silence is golden") in uploads; check the content.
How to fix: remove it, block PHP execution in upload folders (web server configuration), find the
upload hole.""",
)

SG708 = Rule(
    id="SG708",
    title="PHP code inside an image or media file",
    category=Category.SERVER,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""A file named as an image, document or other media contains a PHP open tag ("<?php"
followed by a space, or a short echo of request data or of a code-running call). Found while
hashing, so it costs no extra read; reported on every scan.

Why: polyglot images pass upload filters that check the extension or the image header, and run as
PHP when a vulnerable include or a handler rule (.htaccess) loads them.
Known false positives: none known for a real image; a text file documenting PHP.
How to fix: remove the file and look for what includes it (an .htaccess handler, an include in a
changed PHP file).""",
)

SG709 = Rule(
    id="SG709",
    title="Platform core file differs from its release",
    category=Category.SERVER,
    severity=Severity.HIGH,
    confidence=Confidence.HIGH,
    doc="""A file at a path of the shop platform's release (hashed with `skimguard webroot
known-good build`) does not have the release's content. Low for files that are not code; info when
the content is known good anyway (a file of another release: a half-done update).

Why: attackers edit core files (the payment model, the checkout controller, a bundled script) because
shop owners never look at them; a release hash shows the change even without a baseline.
Known false positives: core patches applied by hand (apply them as a module, or add the patched file
with `skimguard knowngood add`); a release built for another version.
How to fix: compare the file with the release, restore it from the release archive.""",
)

SG710 = Rule(
    id="SG710",
    title="New file since the baseline",
    category=Category.SERVER,
    severity=Severity.INFO,
    confidence=Confidence.HIGH,
    doc="""A file that is not code (image, style sheet, document) appeared that the baseline does
not have.

Why: a record of what changed; a new file is also where stolen data gets dumped (a card log named
like an image shows in SG432/SG457 of the code that writes it).
Known false positives: content added by the shop.
How to fix: nothing to do if expected; take a new baseline.""",
)

SG711 = Rule(
    id="SG711",
    title="Server configuration file added, changed or removed",
    category=Category.SERVER,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc=""".htaccess, .user.ini, php.ini or web.config differs from the baseline (new, modified or
deleted). These stay in the integrity baseline even inside upload and cache folders.

Why: they can redirect shoppers to a phishing checkout, prepend a skimmer to every PHP page
(auto_prepend_file), or make images run as PHP.
Known false positives: cache and security plugins rewriting .htaccess.
How to fix: read the change; remove redirects, handlers and auto_prepend_file lines you did not add.""",
)

SG712 = Rule(
    id="SG712",
    title="File name disguises an executable",
    category=Category.SERVER,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc="""A file name hides a server-executable file: a PHP extension before another one
(shell.php.jpg runs as PHP where Apache maps handlers by any extension), or a hidden PHP file
(.cache.php, invisible to ls and many file managers).

Why: both are how webshells stay unnoticed.
Known false positives: rare; some backup tools name copies file.php.bak (not executable, not reported).
How to fix: look at the content; remove it if nobody can explain it.""",
)

SG713 = Rule(
    id="SG713",
    title="Symbolic link points outside the web root",
    category=Category.SERVER,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc="""A symbolic link in the web root points outside it. Info when it is unchanged since the
baseline (deployment tools link shared folders this way).

Why: attackers on shared hosting link to other sites' configuration files or to /etc to read them
through the web server.
Known false positives: release-based deployments (Capistrano, Deployer) linking shared media folders.
How to fix: remove links you did not create.""",
)

SG714 = Rule(
    id="SG714",
    title="File content changed but its modification time was kept",
    category=Category.SERVER,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""A file has the size and modification time the baseline recorded, to the nanosecond,
but different content. A re-scan notices because the inode change time (which cannot be set) moved,
so the file is hashed again.

Why: attackers who alter core shop files reset their dates (touch -r, PHP touch()) so that a
listing by date or an mtime-based integrity check does not show them.
Known false positives: restoring a file from a backup that kept timestamps, when the backup's
content differs.
How to fix: treat as SG701: the file was altered on purpose to hide; restore it and investigate.""",
)

SG715 = Rule(
    id="SG715",
    title="Web root scan incomplete",
    category=Category.SERVER,
    severity=Severity.LOW,
    confidence=Confidence.HIGH,
    doc="""Part of the web root could not be checked: unreadable files or folders, too many
files, files analysed only in part (the first 4 MiB) or with the engine's time budget spent, or
findings dropped over the per-scan limit. The evidence counts each kind and lists examples.

Why: a blind spot must be visible; attackers make files unreadable to scanners running as another
user.
Known false positives: files owned by another user on purpose (run the scan as a user who can read
the whole web root).
How to fix: fix the permissions or run as a user that can read everything; raise --max-files.""",
)

WEBROOT_RULES: Final[tuple[Rule, ...]] = (
    SG701, SG702, SG703, SG704, SG705, SG706, SG707, SG708, SG709, SG710, SG711, SG712, SG713, SG714, SG715,
)  # fmt: skip
