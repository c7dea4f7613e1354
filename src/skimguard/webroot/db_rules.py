"""The rules of ``skimguard db scan`` (SG720-SG739, category ``server``).

Skimmers on self-hosted shops are often not in a file at all: Magento's "Miscellaneous Scripts" and
footer settings (``core_config_data``), CMS blocks and pages, WordPress widgets and options,
EC-CUBE page meta tags and product free areas are printed into every page as they are stored. The
database scan reads those rows and runs the same static analysis engine as ``skimguard analyze`` on
every value that holds markup or code; these rules say what it found. A finding's subject is
``table:primary key:column`` (stable from scan to scan, and the same for a live database and its
dump), its evidence names the table, primary key, column, the row's label (config path, option
name, page) and a bounded excerpt.
"""

from __future__ import annotations

from skimguard.detect.base import Rule
from skimguard.models import Category, Confidence, Severity

__all__ = ["DB_RULES", "SG720", "SG721", "SG722", "SG723"]

SG720 = Rule(
    id="SG720",
    title="Skimmer code in a database row",
    category=Category.SERVER,
    severity=Severity.CRITICAL,
    confidence=Confidence.HIGH,
    doc="""A value stored in the shop's database (a Magento design/footer setting, a CMS block, a
WordPress widget or post, an EC-CUBE page meta tag or free area, or a column you named) holds code
that the static analysis engine judges malicious: card data read and sent out, a fake payment form,
decoding tradecraft around a sink. Critical when a rule of the verdict is critical or convicting
(card data staged or a fake form), high otherwise. The evidence names the table, primary key,
column, the row's label and the engine's hits with excerpts.

Why: the database is where many Magecart injections live (Magento's "Miscellaneous Scripts" and
absolute footer, WordPress widgets): the shop prints the value into every page, no file changes,
and file-integrity monitoring never sees it.
Known false positives: a payment provider's own inline integration code pasted into a CMS block
(it reads card fields by design); review the hosts it sends to.
How to fix: treat it as an incident: remove the value through the shop's admin (or SQL), find how
it was written (admin accounts, a vulnerable extension, the web server logs around the row's update
time), rotate admin credentials, and scan the web root for the backdoor that wrote it.""",
)

SG721 = Rule(
    id="SG721",
    title="Suspicious code in a database row",
    category=Category.SERVER,
    severity=Severity.MEDIUM,
    confidence=Confidence.MEDIUM,
    doc="""A value stored in the shop's database holds code the static analysis engine finds
suspicious but does not convict: obfuscation, dynamic code loading, form data sent out without the
card-stealing combination. The evidence lists the engine's hits.

Why: loaders and first stages of skimmers are often small obfuscated snippets in a config value or
widget that fetch the real skimmer from elsewhere.
Known false positives: tag-manager, chat and analytics snippets pasted into header/footer settings;
minified vendor widgets.
How to fix: read the value (the evidence has an excerpt; `skimguard analyze` on the value explains
every hit); remove it if nobody on the team put it there, otherwise mark its hash known good.""",
)

SG722 = Rule(
    id="SG722",
    title="Database row loads a script from an unapproved host",
    category=Category.SERVER,
    severity=Severity.HIGH,
    confidence=Confidence.MEDIUM,
    doc="""A value stored in the shop's database contains a ``<script src>`` (or an iframe) from a
host that is neither the site's own, a configured payment host, nor a host the site's script
inventory approves. Low when no site was given (``--site``): the host is listed but not checked.

Why: the most common database injection is a single script tag in a header/footer setting that
loads the skimmer from a look-alike domain; the stored value holds no code for the engine to judge.
Known false positives: a new analytics, chat or marketing tag added by the team without approving
it in the inventory first.
How to fix: if the tag is wanted, approve its script in the inventory (`skimguard inventory
approve`); otherwise remove the value and treat it as an incident.""",
)

SG723 = Rule(
    id="SG723",
    title="Database scan incomplete",
    category=Category.SERVER,
    severity=Severity.MEDIUM,
    confidence=Confidence.HIGH,
    doc="""Part of the database could not be read: a table or column was missing or unreadable, a
statement hit the time limit, the row limit cut a table short, or the dump was truncated, corrupt
or held a value larger than the analysis limit. The evidence names the table and the problem.

Why: a scan that silently skipped the table the skimmer lives in is worse than no scan; the gap must
be visible.
Known false positives: a custom table or column named with `--table`/`--column` that does not exist
in this shop's version.
How to fix: raise `--max-rows` or `--timeout`, grant the scanning user SELECT on the table, or take
a fresh dump (`mysqldump --single-transaction`, `pg_dump`), then scan again.""",
)

DB_RULES: tuple[Rule, ...] = (SG720, SG721, SG722, SG723)
