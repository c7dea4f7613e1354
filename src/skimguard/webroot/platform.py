"""Which shop software a web root runs, and where its sensitive and noisy places are.

A skimmer on a self-hosted shop lives in a few places: the checkout templates and the layout that
wraps them, the shop's own JavaScript loaded on every page, payment modules, and, as its
webshell, the upload folders. Caches and logs change all the time and prove nothing. Each
:class:`Profile` says where these are for one platform, as globs over paths relative to the web
root (``*`` stays within a folder, ``**`` crosses folders, a glob without ``/`` matches a file
name anywhere):

========== =========================================================================================
zone       meaning
========== =========================================================================================
checkout   templates, controllers and scripts that print or run on the pages where shoppers type
           card or personal data (checkout, registration, account), and the layouts around them
payment    payment modules, gateways and plugins (server code that sees card data)
upload     media and files uploaded through the shop: never code, so an executable there is the
           classic webshell; left out of the integrity baseline
media      image folders of the code (themes' ``img/``): no executable belongs there either
cache      caches and generated code: left out of the integrity baseline, executables still scanned
log        logs: left out of the integrity baseline, not read
========== =========================================================================================

:func:`detect` recognises EC-CUBE 2, 3 and 4, Magento 1 and 2, WordPress (and WooCommerce on it)
from marker files and reads their version; with none of them it is ``generic-php``. Pure, apart
from :func:`fs_probe`, which reads at most :data:`MAX_MARKER_BYTES` of a marker file.
"""

from __future__ import annotations

import enum
import functools
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAX_MARKER_BYTES: Final = 256 * 1024


class Zone(enum.StrEnum):
    CHECKOUT = "checkout"
    PAYMENT = "payment"
    UPLOAD = "upload"
    MEDIA = "media"
    CACHE = "cache"
    LOG = "log"
    OTHER = "other"


# A path in several zones takes the first of this order.
ZONE_ORDER: Final = (Zone.UPLOAD, Zone.CACHE, Zone.LOG, Zone.PAYMENT, Zone.CHECKOUT, Zone.MEDIA)
OUT_OF_INTEGRITY: Final = frozenset({Zone.UPLOAD, Zone.CACHE, Zone.LOG})
SENSITIVE: Final = frozenset({Zone.CHECKOUT, Zone.PAYMENT})


@dataclass(frozen=True)
class Profile:
    """Where things are on one platform. ``markers``: files that all exist on it; ``unless``: a
    file whose presence rules it out (EC-CUBE 3 vs 4); ``version_file`` and ``version`` (a
    pattern whose groups, joined with dots, are the version); ``prefix``: where the platform's
    release archive sits in a web root (a plugin's folder)."""

    name: str
    title: str
    markers: tuple[str, ...]
    version_file: str = ""
    version: str = ""
    unless: str = ""
    checkout: tuple[str, ...] = ()
    payment: tuple[str, ...] = ()
    upload: tuple[str, ...] = ()
    media: tuple[str, ...] = ()
    cache: tuple[str, ...] = ()
    log: tuple[str, ...] = ()
    prefix: str = ""
    requires: str = ""  # the platform this one is a component of (WooCommerce needs WordPress)
    exec_ok: tuple[str, ...] = ()  # executables that popular plugins keep in upload folders

    def globs(self, zone: Zone) -> tuple[str, ...]:
        return {
            Zone.CHECKOUT: self.checkout,
            Zone.PAYMENT: self.payment,
            Zone.UPLOAD: self.upload,
            Zone.MEDIA: self.media,
            Zone.CACHE: self.cache,
            Zone.LOG: self.log,
        }.get(zone, ())


_PAYMENT_WORDS: Final = (
    "*pay*", "*gmo*", "*epsilon*", "*sln*", "*veritrans*", "*sbps*", "*zeus*", "*yamato*", "*stripe*", "*square*",
    "*credit*", "*card*", "*gateway*", "*braintree*", "*authorize*", "*adyen*", "*worldpay*", "*klarna*",
)  # fmt: skip


def _under(folder: str, words: tuple[str, ...] = _PAYMENT_WORDS) -> tuple[str, ...]:
    return tuple(f"{folder}/{w}/**" for w in words)


# Everywhere: image folders of the code, log files.
COMMON_MEDIA: Final = ("**/images/**", "**/image/**", "**/img/**")
COMMON_LOG: Final = ("*.log", "error_log")
_ECCUBE_VERSION = r"const\s+VERSION\s*=\s*['\"]([0-9][0-9A-Za-z.\-]*)['\"]"

PROFILES: Final[tuple[Profile, ...]] = (
    Profile(
        name="ec-cube-4",
        title="EC-CUBE 4",
        markers=("src/Eccube/Kernel.php",),
        version_file="src/Eccube/Common/Constant.php",
        version=_ECCUBE_VERSION,
        checkout=(
            "src/Eccube/Resource/template/*/Shopping/**",
            "app/template/*/Shopping/**",
            "src/Eccube/Resource/template/*/Entry/**",
            "app/template/*/Entry/**",
            "src/Eccube/Resource/template/*/Mypage/**",
            "app/template/*/Mypage/**",
            "src/Eccube/Resource/template/*/default_frame.twig",
            "app/template/*/default_frame.twig",
            "src/Eccube/Controller/ShoppingController.php",
            "src/Eccube/Controller/EntryController.php",
            "html/template/*/assets/js/**",
        ),
        payment=("src/Eccube/Service/Payment/**", "src/Eccube/Service/PurchaseFlow/**", *_under("app/Plugin")),
        upload=("html/upload/**", "html/user_data/**"),
        cache=("var/cache/**", "var/sessions/**"),
        log=("var/log/**",),
    ),
    Profile(
        name="ec-cube-3",
        title="EC-CUBE 3",
        markers=("src/Eccube/Application.php",),
        unless="src/Eccube/Kernel.php",
        version_file="src/Eccube/Common/Constant.php",
        version=_ECCUBE_VERSION,
        checkout=(
            "src/Eccube/Resource/template/*/Shopping/**",
            "app/template/*/Shopping/**",
            "src/Eccube/Resource/template/*/Entry/**",
            "app/template/*/Entry/**",
            "src/Eccube/Resource/template/*/Mypage/**",
            "app/template/*/Mypage/**",
            "src/Eccube/Resource/template/*/default_frame.twig",
            "app/template/*/default_frame.twig",
            "src/Eccube/Controller/ShoppingController.php",
            "src/Eccube/Controller/EntryController.php",
            "html/template/*/js/**",
        ),
        payment=(
            "src/Eccube/Service/PaymentService.php",
            "src/Eccube/Service/ShoppingService.php",
            *_under("app/Plugin"),
        ),
        upload=("html/upload/**", "html/user_data/**"),
        cache=("app/cache/**",),
        log=("app/log/**",),
    ),
    Profile(
        name="ec-cube-2",
        title="EC-CUBE 2",
        markers=("data/class/SC_Initial.php",),
        version_file="data/class/SC_Initial.php",
        version=r"define\s*\(\s*['\"]ECCUBE_VERSION['\"]\s*,\s*['\"]([0-9][0-9A-Za-z.\-]*)['\"]",
        checkout=(
            "data/Smarty/templates/*/shopping/**",
            "data/Smarty/templates/*/entry/**",
            "data/Smarty/templates/*/mypage/**",
            "data/Smarty/templates/*/site_frame.tpl",
            "data/class/pages/shopping/**",
            "data/class/pages/entry/**",
            "html/shopping/**",
            "html/entry/**",
            "html/js/**",
            "html/user_data/packages/*/js/**",
        ),
        payment=(
            "data/downloads/module/**",
            "data/class/helper/SC_Helper_Purchase.php",
            "data/class_extends/helper_extends/SC_Helper_Purchase_Ex.php",
        ),
        upload=("html/upload/**",),
        cache=("data/cache/**", "data/Smarty/templates_c/**"),
        log=("data/logs/**",),
    ),
    Profile(
        name="magento-2",
        title="Magento 2 (Adobe Commerce)",
        markers=("bin/magento", "app/etc/di.xml"),
        version_file="vendor/magento/magento2-base/composer.json",
        version=r"\"version\"\s*:\s*\"([0-9][0-9A-Za-z.\-]*)\"",
        checkout=(
            "vendor/magento/module-checkout/**",
            "app/code/Magento/Checkout/**",
            "app/design/frontend/**/Magento_Checkout/**",
            "app/design/frontend/**/Magento_Customer/**",
            "pub/static/frontend/**/Magento_Checkout/**",
            "lib/web/mage/**",
            "vendor/magento/magento2-base/lib/web/mage/**",
            "app/design/frontend/**/Magento_Theme/templates/**",
            "vendor/magento/module-customer/view/frontend/**",
        ),
        payment=(
            "vendor/magento/module-payment/**",
            "vendor/magento/module-vault/**",
            "vendor/magento/module-*pay*/**",
            "vendor/magento/module-braintree*/**",
            "vendor/magento/module-sales/Model/Order/Payment*",
            "vendor/magento/module-quote/Model/Quote/Payment*",
            "app/code/Magento/Payment/**",
            *_under("app/code/*"),
            *(f"vendor/*/module-{w}/**" for w in _PAYMENT_WORDS),
        ),
        upload=("pub/media/**",),
        cache=("var/cache/**", "var/page_cache/**", "var/view_preprocessed/**", "var/session/**", "generated/**"),
        log=("var/log/**", "var/report/**", "var/debug/**"),
    ),
    Profile(
        name="magento-1",
        title="Magento 1 (OpenMage)",
        markers=("app/Mage.php",),
        version_file="app/Mage.php",
        version=(
            r"'major'\s*=>\s*'(\d+)',\s*'minor'\s*=>\s*'(\d+)',\s*'revision'\s*=>\s*'(\d+)',\s*'patch'\s*=>\s*'(\d+)'"
        ),
        checkout=(
            "app/design/frontend/**/template/checkout/**",
            "app/design/frontend/**/template/onestepcheckout/**",
            "app/design/frontend/**/template/persistent/checkout/**",
            "app/design/frontend/**/template/page/**",
            "app/code/core/Mage/Checkout/**",
            "app/code/*/*/*Checkout*/**",
            "js/varien/**",
            "js/mage/**",
            "js/prototype/**",
            "skin/frontend/**/*.js",
        ),
        payment=(
            "app/code/core/Mage/Payment/**",
            "app/code/core/Mage/Sales/Model/Order/Payment*",
            "app/code/core/Mage/Sales/Model/Quote/Payment*",
            *_under("app/code/*/*"),
        ),
        upload=("media/**",),
        cache=("var/cache/**", "var/full_page_cache/**", "var/session/**", "var/locks/**"),
        log=("var/log/**", "var/report/**"),
    ),
    Profile(
        name="wordpress",
        title="WordPress",
        markers=("wp-includes/version.php",),
        version_file="wp-includes/version.php",
        version=r"\$wp_version\s*=\s*['\"]([0-9][0-9A-Za-z.\-]*)['\"]",
        checkout=(
            "wp-content/themes/*/header.php",
            "wp-content/themes/*/footer.php",
            "wp-content/themes/*/functions.php",
            "wp-includes/js/jquery/**",
        ),
        payment=_under("wp-content/plugins"),
        upload=("wp-content/uploads/**",),
        cache=("wp-content/cache/**", "wp-content/upgrade/**", "wp-content/et-cache/**"),
        log=("wp-content/debug.log",),
        exec_ok=("wp-content/uploads/wflogs/*.php",),  # Wordfence's firewall data (guarded by exit())
    ),
    Profile(
        name="woocommerce",
        title="WooCommerce",
        requires="wordpress",
        markers=("wp-content/plugins/woocommerce/woocommerce.php",),
        version_file="wp-content/plugins/woocommerce/woocommerce.php",
        version=r"\*\s*Version:\s*([0-9][0-9A-Za-z.\-]*)",
        checkout=(
            "wp-content/plugins/woocommerce/templates/checkout/**",
            "wp-content/plugins/woocommerce/templates/myaccount/**",
            "wp-content/plugins/woocommerce/assets/js/frontend/**",
            "wp-content/themes/*/woocommerce/checkout/**",
            "wp-content/themes/*/woocommerce/myaccount/**",
            "wp-content/plugins/woocommerce/includes/class-wc-checkout.php",
            "wp-content/plugins/woocommerce/includes/shortcodes/class-wc-shortcode-checkout.php",
        ),
        payment=(
            "wp-content/plugins/woocommerce/includes/gateways/**",
            "wp-content/plugins/woocommerce/includes/abstracts/abstract-wc-payment-gateway.php",
            "wp-content/plugins/woocommerce-gateway-*/**",
            "wp-content/plugins/woocommerce-payments/**",
        ),
        prefix="wp-content/plugins/woocommerce",
    ),
)

GENERIC: Final = Profile(
    name="generic-php",
    title="Generic PHP shop",
    markers=(),
    checkout=("**/*checkout*", "**/*checkout*/**", "**/*register*"),
    payment=("**/*payment*/**", "**/*payment*", "**/*gateway*"),
    upload=("upload/**", "uploads/**", "**/upload/**", "**/uploads/**", "**/user_upload*/**"),
    cache=("cache/**", "**/cache/**", "tmp/**", "**/templates_c/**"),
    log=("log/**", "logs/**", "**/logs/**"),
)

PLATFORM_NAMES: Final = tuple(p.name for p in (*PROFILES, GENERIC))


def profile(name: str) -> Profile:
    """The profile called ``name`` (one of :data:`PLATFORM_NAMES`); ``KeyError`` otherwise."""
    for p in (*PROFILES, GENERIC):
        if p.name == name:
            return p
    raise KeyError(name)


@dataclass(frozen=True)
class Detected:
    """A platform found in a web root: its profile, its version (None: not read), and the
    marker file that gave it away."""

    profile: Profile
    version: str | None
    marker: str

    @property
    def label(self) -> str:
        return f"{self.profile.name}@{self.version}" if self.version else self.profile.name


class Probe:
    """What detection may ask of a web root: does a file exist, and its first bytes."""

    def __init__(self, exists: Callable[[str], bool], read: Callable[[str], bytes | None]) -> None:
        self.exists = exists
        self.read = read


def fs_probe(root: str | os.PathLike[str]) -> Probe:
    """A probe over a real directory: regular files only (a marker that is a link is not trusted)."""
    base = Path(root)

    def exists(rel: str) -> bool:
        path = base / rel
        return path.is_file() and not path.is_symlink()

    def read(rel: str) -> bytes | None:
        if not exists(rel):
            return None
        try:
            with (base / rel).open("rb") as f:
                return f.read(MAX_MARKER_BYTES)
        except OSError:
            return None

    return Probe(exists, read)


def dict_probe(files: dict[str, bytes]) -> Probe:
    """A probe over an in-memory tree (path -> content): for tests and archives."""
    return Probe(lambda rel: rel in files, lambda rel: files.get(rel, b"")[:MAX_MARKER_BYTES] if rel in files else None)


def read_version(p: Profile, probe: Probe) -> str | None:
    if not p.version_file:
        return None
    data = probe.read(p.version_file)
    if data is None:
        return None
    found = re.search(p.version, data.decode("utf-8", "replace"))
    if found is None:
        return None
    version = ".".join(g for g in found.groups() if g)
    return version[:40] or None


def detect(probe: Probe) -> tuple[Detected, ...]:
    """The platforms of a web root (a component after the platform it needs); ``generic-php``
    alone when none is recognised."""
    found: list[Detected] = []
    for p in PROFILES:
        if not p.markers or not all(probe.exists(m) for m in p.markers):
            continue
        if p.unless and probe.exists(p.unless):
            continue
        if p.requires and not any(d.profile.name == p.requires for d in found):
            continue
        found.append(Detected(p, read_version(p, probe), p.markers[0]))
    return tuple(found) if found else (Detected(GENERIC, None, ""),)


def manifest(detected: Iterable[Detected]) -> list[str]:
    """Detected platforms as stored: ``name@version`` (or ``name``)."""
    return [d.label for d in detected]


def from_manifest(labels: Iterable[str]) -> tuple[Detected, ...]:
    """The inverse of :func:`manifest` (unknown names are dropped)."""
    out: list[Detected] = []
    for label in labels:
        name, _, version = str(label).partition("@")
        try:
            out.append(Detected(profile(name), version or None, ""))
        except KeyError:
            continue
    return tuple(out)


# --------------------------------------------------------------------------------------------
# globs
# --------------------------------------------------------------------------------------------


def glob_regex(glob: str) -> str:
    """A regular expression (without anchors) for a path glob: ``**`` crosses folders, ``*`` and
    ``?`` stay within one, a glob without ``/`` matches a file name in any folder (``/name``: only
    at the root)."""
    glob = glob.strip()
    anywhere = "/" not in glob  # a leading "/" anchors a name to the root (as in .gitignore)
    glob = glob.lstrip("/")
    out: list[str] = ["(?:.*/)?"] if anywhere else []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("(?:/.*)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def compile_globs(globs: Iterable[str], *, ignore_case: bool = False) -> re.Pattern[str] | None:
    """One pattern matching a whole path when any glob does; None for no globs."""
    parts = [glob_regex(g) for g in globs if g.strip()]
    if not parts:
        return None
    return re.compile("(?:" + "|".join(parts) + r")\Z", re.IGNORECASE if ignore_case else 0)


_ORDER: Final = {z.value: i for i, z in enumerate(ZONE_ORDER)}


def _zone_globs(names: tuple[str, ...], zone: Zone) -> list[str]:
    globs = [g for n in names for g in profile(n).globs(zone)]
    if zone is Zone.MEDIA:
        globs += COMMON_MEDIA
    if zone is Zone.LOG:
        globs += COMMON_LOG
    return globs


def _first_zone_pattern(names: tuple[str, ...], *, folders: bool) -> re.Pattern[str] | None:
    """One pattern whose ``lastgroup`` is the first zone (in :data:`ZONE_ORDER`) with a matching
    glob: ``folders`` True takes the globs that end in ``/**`` (a whole folder), False the others."""
    groups: list[str] = []
    for zone in ZONE_ORDER:
        globs = [g for g in _zone_globs(names, zone) if g.endswith("/**") is folders]
        if globs:
            groups.append(f"(?P<{zone.value}>" + "|".join(glob_regex(g) for g in globs) + r")\Z")
    return re.compile("|".join(groups), re.IGNORECASE) if groups else None


@functools.lru_cache(maxsize=32)
def _zone_patterns(names: tuple[str, ...]) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    return _first_zone_pattern(names, folders=True), _first_zone_pattern(names, folders=False)


@functools.lru_cache(maxsize=32)
def _exec_ok_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    return compile_globs([g for n in names for g in profile(n).exec_ok], ignore_case=True)


@dataclass(frozen=True)
class Layout:
    """The zones of one web root, from its detected platforms."""

    platforms: tuple[Detected, ...]

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(d.profile.name for d in self.platforms)

    @functools.cached_property
    def _folder_zones(self) -> dict[str, int]:
        return {}  # folder -> index in ZONE_ORDER of its folder-glob zone (len: none); filled as used

    def zone(self, path: str) -> Zone:
        """The zone of a relative path: the first in :data:`ZONE_ORDER` with a matching glob.

        Globs over whole folders (``html/upload/**``) are matched once per folder (a shop has a few
        thousand folders and a hundred thousand files), the others against the path; a path equal to
        a folder glob's folder itself (a file named ``html/upload``) counts as outside it."""
        folders, files = _zone_patterns(self.names)
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        cache = self._folder_zones
        best = cache.get(folder)
        if best is None:
            found = folders.match(folder) if folders is not None else None
            best = _ORDER[found.lastgroup] if found is not None and found.lastgroup else len(ZONE_ORDER)
            cache[folder] = best
        if files is not None:
            found = files.match(path)
            if found is not None and found.lastgroup and _ORDER[found.lastgroup] < best:
                best = _ORDER[found.lastgroup]
        return ZONE_ORDER[best] if best < len(ZONE_ORDER) else Zone.OTHER

    def executable_expected(self, path: str) -> bool:
        """Whether a popular plugin keeps executables at this upload path (SG707 is then low)."""
        pattern = _exec_ok_pattern(self.names)
        return pattern is not None and pattern.match(path) is not None


def describe(detected: Iterable[Detected]) -> str:
    """One line for people: ``WordPress 6.4.2 + WooCommerce 8.2.1``."""
    return " + ".join(f"{d.profile.title} {d.version}" if d.version else d.profile.title for d in detected)
