"""Platform detection from marker files, versions, and the zones of each platform's paths."""

from __future__ import annotations

import pytest

from skimguard.webroot.platform import (
    GENERIC,
    Detected,
    Layout,
    Zone,
    compile_globs,
    describe,
    detect,
    dict_probe,
    from_manifest,
    glob_regex,
    manifest,
    profile,
)

ECCUBE4 = {
    "src/Eccube/Kernel.php": b"<?php class Kernel {}",
    "src/Eccube/Application.php": b"<?php",  # EC-CUBE 4 still ships it; Kernel.php decides
    "src/Eccube/Common/Constant.php": b"<?php class Constant { const VERSION = '4.2.3'; }",
}
ECCUBE3 = {
    "src/Eccube/Application.php": b"<?php class Application {}",
    "src/Eccube/Common/Constant.php": b"<?php\nclass Constant\n{\n    const VERSION = '3.0.18';\n}\n",
}
ECCUBE2 = {"data/class/SC_Initial.php": b"<?php\n        define('ECCUBE_VERSION', '2.13.5');\n"}
MAGENTO1 = {
    "app/Mage.php": (
        b"<?php\n    public static function getVersionInfo()\n    {\n        return array(\n"
        b"            'major'     => '1',\n            'minor'     => '9',\n            'revision'  => '4',\n"
        b"            'patch'     => '5',\n            'stability' => '',\n        );\n    }\n"
    )
}
MAGENTO2 = {
    "bin/magento": b"#!/usr/bin/env php",
    "app/etc/di.xml": b"<config/>",
    "vendor/magento/magento2-base/composer.json": b'{"name": "magento/magento2-base", "version": "2.4.7-p1"}',
}
WORDPRESS = {"wp-includes/version.php": b"<?php\n$wp_version = '6.5.2';\n"}
WOO = {**WORDPRESS, "wp-content/plugins/woocommerce/woocommerce.php": b"<?php\n/**\n * Version: 8.8.2\n */"}


@pytest.mark.parametrize(
    ("files", "labels"),
    [
        (ECCUBE4, ["ec-cube-4@4.2.3"]),
        (ECCUBE3, ["ec-cube-3@3.0.18"]),
        (ECCUBE2, ["ec-cube-2@2.13.5"]),
        (MAGENTO1, ["magento-1@1.9.4.5"]),
        (MAGENTO2, ["magento-2@2.4.7-p1"]),
        (WORDPRESS, ["wordpress@6.5.2"]),
        (WOO, ["wordpress@6.5.2", "woocommerce@8.8.2"]),
        ({"wp-content/plugins/woocommerce/woocommerce.php": b"Version: 8.8.2"}, ["generic-php"]),  # needs WordPress
        ({"index.php": b"<?php echo 1;"}, ["generic-php"]),
        ({"src/Eccube/Kernel.php": b"<?php"}, ["ec-cube-4"]),  # version file missing: version unknown
    ],
)
def test_detect(files: dict[str, bytes], labels: list[str]) -> None:
    assert manifest(detect(dict_probe(files))) == labels


def test_manifest_round_trip_and_description() -> None:
    found = detect(dict_probe(WOO))
    again = from_manifest([*manifest(found), "no-such-platform@1"])
    assert [d.label for d in again] == ["wordpress@6.5.2", "woocommerce@8.8.2"]
    assert describe(again) == "WordPress 6.5.2 + WooCommerce 8.8.2"
    assert profile("woocommerce").prefix == "wp-content/plugins/woocommerce"
    with pytest.raises(KeyError):
        profile("shopify")


@pytest.mark.parametrize(
    ("files", "path", "zone"),
    [
        (ECCUBE4, "app/template/default/Shopping/index.twig", Zone.CHECKOUT),
        (ECCUBE4, "src/Eccube/Resource/template/default/Entry/index.twig", Zone.CHECKOUT),
        (ECCUBE4, "html/template/default/assets/js/function.js", Zone.CHECKOUT),
        (ECCUBE4, "app/Plugin/GmoPaymentGateway42/Service/Method/CreditCard.php", Zone.PAYMENT),
        (ECCUBE4, "app/Plugin/ProductReview42/Controller/ReviewController.php", Zone.OTHER),
        (ECCUBE4, "html/upload/save_image/0501120000_5fd1.jpg", Zone.UPLOAD),
        (ECCUBE4, "html/user_data/shell.php", Zone.UPLOAD),
        (ECCUBE4, "var/cache/prod/twig/ab/ab12.php", Zone.CACHE),
        (ECCUBE4, "var/log/prod.log", Zone.LOG),
        (ECCUBE4, "html/template/default/assets/img/common/logo.png", Zone.MEDIA),
        (ECCUBE4, "src/Eccube/Entity/Order.php", Zone.OTHER),
        (ECCUBE2, "data/Smarty/templates/default/shopping/payment.tpl", Zone.CHECKOUT),
        (ECCUBE2, "data/downloads/module/mdl_gmo/class/LC_Page.php", Zone.PAYMENT),
        (ECCUBE2, "data/Smarty/templates_c/default/%%12^123^abc.tpl.php", Zone.CACHE),
        (ECCUBE2, "html/user_data/__default.php", Zone.OTHER),  # EC-CUBE 2 keeps user PHP pages there
        (MAGENTO2, "vendor/magento/module-checkout/view/frontend/templates/onepage.phtml", Zone.CHECKOUT),
        (MAGENTO2, "vendor/magento/module-payment/Model/Method/Cc.php", Zone.PAYMENT),
        (MAGENTO2, "vendor/magento/module-paypal/Model/Express.php", Zone.PAYMENT),
        (MAGENTO2, "app/code/Vendor/CustomPayment/Model/Pay.php", Zone.PAYMENT),
        (MAGENTO2, "pub/media/catalog/product/a/b/x.jpg", Zone.UPLOAD),
        (MAGENTO2, "generated/code/Magento/Foo/Interceptor.php", Zone.CACHE),
        (MAGENTO2, "vendor/magento/module-catalog/Model/Product.php", Zone.OTHER),
        (MAGENTO1, "app/design/frontend/rwd/default/template/checkout/onepage.phtml", Zone.CHECKOUT),
        (MAGENTO1, "js/varien/js.js", Zone.CHECKOUT),
        (MAGENTO1, "app/code/local/Acme/Paygate/Model/Api.php", Zone.PAYMENT),
        (MAGENTO1, "media/wysiwyg/banner.jpg", Zone.UPLOAD),
        (WOO, "wp-content/plugins/woocommerce/templates/checkout/form-checkout.php", Zone.CHECKOUT),
        (WOO, "wp-content/themes/storefront/functions.php", Zone.CHECKOUT),
        (WOO, "wp-content/plugins/woocommerce/includes/gateways/cod/class-wc-gateway-cod.php", Zone.PAYMENT),
        (WOO, "wp-content/plugins/woocommerce-gateway-stripe/includes/class-wc-stripe.php", Zone.PAYMENT),
        (WOO, "wp-content/uploads/2024/05/shirt.jpg", Zone.UPLOAD),
        (WOO, "wp-content/uploads/wc-logs/fatal-errors-2024-05-01.log", Zone.UPLOAD),  # upload wins
        (WOO, "wp-content/cache/page.html", Zone.CACHE),
        (WOO, "wp-admin/error_log", Zone.LOG),
        (WOO, "wp-includes/class-wp.php", Zone.OTHER),
        ({"index.php": b""}, "uploads/files/a.php", Zone.UPLOAD),
        ({"index.php": b""}, "shop/checkout/confirm.php", Zone.CHECKOUT),
        ({"index.php": b""}, "lib/PaymentGateway.php", Zone.PAYMENT),
        ({"index.php": b""}, "cache/x.php", Zone.CACHE),
    ],
)
def test_zones(files: dict[str, bytes], path: str, zone: Zone) -> None:
    assert Layout(detect(dict_probe(files))).zone(path) is zone


def test_generic_globs_do_not_apply_to_a_recognised_platform() -> None:
    eccube = Layout(detect(dict_probe(ECCUBE4)))
    assert eccube.zone("vendor/acme/uploads/Uploader.php") is Zone.OTHER
    assert Layout((detect(dict_probe({}))[0],)).zone("vendor/acme/uploads/Uploader.php") is Zone.UPLOAD
    assert detect(dict_probe({}))[0].profile is GENERIC


def test_wordfence_data_in_uploads_is_expected() -> None:
    wordpress = Layout(detect(dict_probe(WORDPRESS)))
    assert wordpress.executable_expected("wp-content/uploads/wflogs/config.php")
    assert not wordpress.executable_expected("wp-content/uploads/2024/05/config.php")
    assert not Layout(detect(dict_probe(ECCUBE4))).executable_expected("html/upload/wflogs/config.php")


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        ("*.log", ["a.log", "var/log/x.log"], ["a.logs", "log/a"]),
        ("var/cache/**", ["var/cache/a", "var/cache/a/b/c.php"], ["var/cachex/a", "x/var/cache/a"]),
        ("app/template/*/Shopping/**", ["app/template/default/Shopping/index.twig"], ["app/template/a/b/Shopping/x"]),
        ("**/images/**", ["images/a.png", "a/b/images/c/d.png"], ["a/imagesx/b.png"]),
        ("html/upload/?.jpg", ["html/upload/a.jpg"], ["html/upload/ab.jpg", "html/upload/a/b.jpg"]),
        ("/wp-config.php", ["wp-config.php"], ["x/wp-config.php"]),
    ],
)
def test_glob_semantics(glob: str, matches: list[str], misses: list[str]) -> None:
    pattern = compile_globs([glob])
    assert pattern is not None, glob_regex(glob)
    assert [m for m in matches if pattern.match(m)] == matches
    assert [m for m in misses if pattern.match(m)] == []
    assert compile_globs(["", "  "]) is None


def test_zone_by_folder_equals_zone_by_whole_path() -> None:
    """Layout.zone matches folder globs once per folder; it must agree with matching every glob
    against the whole path (in zone order) for files below the folders."""
    import itertools
    import re

    from skimguard.webroot.platform import COMMON_LOG, COMMON_MEDIA, PROFILES, ZONE_ORDER

    folders = [
        "", "html/upload/save_image", "html/user_data/packages/default/js", "var/cache/prod/twig", "var/log",
        "app/template/default/Shopping", "app/Plugin/GmoPaymentGateway42/Resource/template", "src/Eccube/Controller",
        "wp-content/uploads/2024/05", "wp-content/themes/storefront",
        "wp-content/plugins/woocommerce/templates/checkout", "pub/media/catalog/product/a/b",
        "vendor/magento/module-payment/Model", "app/design/frontend/A/b/Magento_Checkout",
        "skin/frontend/rwd/default/js", "data/Smarty/templates_c/default", "a/images/b", "lib/web/mage",
    ]  # fmt: skip
    names = ["index.php", "header.php", "functions.php", "x.js", "site.log", "error_log", "default_frame.twig",
             "ShoppingController.php", "checkout.phtml", "PaymentService.php", "a.jpg"]  # fmt: skip
    for platforms in ([p] for p in (*PROFILES, GENERIC)):
        layout = Layout(tuple(Detected(p, None, "") for p in platforms))
        alternatives = []
        for zone in ZONE_ORDER:
            globs = [g for p in platforms for g in p.globs(zone)]
            globs += list(COMMON_MEDIA) if zone is Zone.MEDIA else list(COMMON_LOG) if zone is Zone.LOG else []
            if globs:
                alternatives.append(f"(?P<{zone.value}>" + "|".join(glob_regex(g) for g in globs) + r")\Z")
        whole = re.compile("|".join(alternatives), re.IGNORECASE)
        for folder, name in itertools.product(folders, names):
            path = f"{folder}/{name}" if folder else name
            found = whole.match(path)
            expected = Zone(found.lastgroup) if found is not None and found.lastgroup else Zone.OTHER
            assert layout.zone(path) is expected, (platforms[0].name, path)
