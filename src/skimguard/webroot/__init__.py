"""Server side: the shop's document root (and, in :mod:`.database`, its database).

The founding incidents show where skimmers live on self-hosted shops: in the shop's own checkout
template or payment code, altered through a site vulnerability, next to the webshell that planted
them. This package watches the document root:

* :mod:`.walk` lists every file with ``os.scandir`` (symbolic links are recorded, never followed);
* :mod:`.platform` recognises EC-CUBE, Magento, WordPress/WooCommerce or generic PHP and knows
  their checkout templates, payment modules, upload, cache and log folders;
* :mod:`.hashing` hashes files (streamed), looks for PHP hidden in images and runs the static
  analysis engine, in a process pool;
* :mod:`.scan` compares what it saw with the integrity baseline and turns it into findings
  (pure; rules in :mod:`.rules`, SG701-SG719);
* :mod:`.runner` ties them together with the store (:mod:`.storage`): the baseline, a stat cache
  so that a re-scan reads only files whose size, times or inode changed, cached verdicts;
* :mod:`.release` hashes a platform release archive into the known-good store;
* :mod:`.report` and :mod:`.sarif` are the output formats.
"""

from __future__ import annotations

from skimguard.errors import SkimguardError

__all__ = ["WebrootError"]


class WebrootError(SkimguardError):
    """The web root or a release archive cannot be read as asked (not a directory, no baseline...)."""

    hint = "check the path given; `skimguard webroot --help` lists the commands"
