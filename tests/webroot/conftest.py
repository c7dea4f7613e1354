"""Shop trees for the web-root tests: small EC-CUBE 4, Magento 2 and WordPress/WooCommerce
layouts with clean files, a config whose database lives in ``tmp_path``, and a CLI runner.

The file contents are written for these tests (nothing here comes from the corpus). The planted
samples (webshell, skimmer, altered payment model, .htaccess redirect, polyglot) are in
``webroot_samples.py`` next to this file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner, Result

import skimguard.cli_webroot  # noqa: F401  (registers `skimguard webroot` on the app)
from skimguard.cli import app
from skimguard.config import Config, load_config
from skimguard.store import Store

PG_ENV = "SKIMGUARD_TEST_POSTGRES_URL"

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200)) * 4 + b"IEND\xaeB`\x82"

PHP_CLASS = """<?php

namespace {ns};

class {name}
{{
    private $items = [];

    public function add($key, $value)
    {{
        $this->items[$key] = $value;

        return $this;
    }}

    public function get($key, $default = null)
    {{
        return array_key_exists($key, $this->items) ? $this->items[$key] : $default;
    }}
}}
"""

ECCUBE4: dict[str, str | bytes] = {
    "index.php": (
        "<?php\n\nuse Eccube\\Kernel;\nuse Symfony\\Component\\HttpFoundation\\Request;\n\n"
        "require __DIR__.'/vendor/autoload.php';\n\n$kernel = new Kernel('prod', false);\n"
        "$request = Request::createFromGlobals();\n$response = $kernel->handle($request);\n$response->send();\n"
        "$kernel->terminate($request, $response);\n"
    ),
    ".htaccess": 'DirectoryIndex index.php\n<FilesMatch "\\.(env|yml|lock)$">\n  Require all denied\n</FilesMatch>\n',
    "vendor/autoload.php": "<?php\n\nreturn require __DIR__.'/composer/autoload_real.php';\n",
    "src/Eccube/Kernel.php": PHP_CLASS.format(ns="Eccube", name="Kernel"),
    "src/Eccube/Common/Constant.php": (
        "<?php\n\nnamespace Eccube\\Common;\n\nclass Constant\n{\n    const VERSION = '4.2.3';\n\n"
        "    const TOKEN_NAME = '_token';\n}\n"
    ),
    "src/Eccube/Controller/ShoppingController.php": PHP_CLASS.format(
        ns="Eccube\\Controller", name="ShoppingController"
    ),
    "src/Eccube/Resource/template/default/Shopping/index.twig": (
        "{% extends 'default_frame.twig' %}\n{% block main %}\n"
        '<form id="shopping-form" method="post" action="{{ url(\'shopping_confirm\') }}">\n'
        '  {{ form_widget(form.Payment) }}\n  <button type="submit">確認する</button>\n</form>\n{% endblock %}\n'
    ),
    "app/template/default/Shopping/index.twig": (
        "{% extends 'default_frame.twig' %}\n{% block main %}\n"
        '<form id="shopping-form" method="post" action="{{ url(\'shopping_confirm\') }}">\n'
        "  {{ form_widget(form.Payment) }}\n  <p class=\"note\">{{ 'front.shopping.note'|trans }}</p>\n"
        '  <button type="submit">確認する</button>\n</form>\n{% endblock %}\n'
    ),
    "app/Plugin/SamplePayment42/Service/Method/CreditCard.php": (
        "<?php\n\nnamespace Plugin\\SamplePayment42\\Service\\Method;\n\nclass CreditCard\n{\n"
        "    public function checkout($order, $token)\n    {\n"
        "        return $this->client->charge(['order' => $order->getId(), 'token' => $token]);\n    }\n}\n"
    ),
    "html/template/default/assets/js/function.js": (
        "$(function () {\n  $('.ec-headerNaviRole__nav').on('click', function () {\n"
        "    $(this).toggleClass('is-active');\n  });\n});\n"
    ),
    "html/template/default/assets/img/common/logo.png": PNG,
    "html/upload/save_image/0501120000_5fd1.jpg": JPEG,
    "var/cache/prod/twig/ab/ab12cd.php": PHP_CLASS.format(ns="Twig", name="Template_ab12cd"),
    "var/log/prod-2024-05-01.log": '[2024-05-01 12:00:00] request.INFO: Matched route "homepage".\n',
}

MAGENTO2: dict[str, str | bytes] = {
    "index.php": (
        "<?php\n\nrequire __DIR__ . '/app/bootstrap.php';\n"
        "$bootstrap = \\Magento\\Framework\\App\\Bootstrap::create(BP, $_SERVER);\n"
    ),
    "bin/magento": "#!/usr/bin/env php\n<?php\n\nrequire __DIR__ . '/../app/bootstrap.php';\n",
    "app/etc/di.xml": '<?xml version="1.0"?>\n<config></config>\n',
    "app/bootstrap.php": "<?php\n\ndefine('BP', dirname(__DIR__));\n",
    "vendor/magento/magento2-base/composer.json": '{\n  "name": "magento/magento2-base",\n  "version": "2.4.6"\n}\n',
    "vendor/magento/module-payment/Model/Method/Cc.php": (
        "<?php\nnamespace Magento\\Payment\\Model\\Method;\n\nclass Cc extends AbstractMethod\n{\n"
        "    public function validate()\n    {\n        $info = $this->getInfoInstance();\n"
        "        $ccType = $info->getCcType();\n        if (!$ccType) {\n"
        "            throw new \\Magento\\Framework\\Exception\\LocalizedException(__('Invalid credit card type.'));\n"
        "        }\n        return parent::validate();\n    }\n}\n"
    ),
    "vendor/magento/module-checkout/view/frontend/templates/onepage.phtml": (
        "<?php /** @var $block \\Magento\\Checkout\\Block\\Onepage */ ?>\n"
        '<div id="checkout" data-bind="scope:\'checkout\'" class="checkout-container">\n'
        "  <!-- ko template: getTemplate() --><!-- /ko -->\n</div>\n"
    ),
    "vendor/magento/module-checkout/view/frontend/web/js/view/progress-bar.js": (
        "define(['jquery', 'uiComponent'], function ($, Component) {\n  'use strict';\n"
        "  return Component.extend({ defaults: { template: 'Magento_Checkout/progress-bar' } });\n});\n"
    ),
    "pub/index.php": "<?php\n\nrequire realpath(__DIR__) . '/../app/bootstrap.php';\n",
    "pub/media/.htaccess": "Options -Indexes\n<IfModule mod_php7.c>\n  php_flag engine 0\n</IfModule>\n",
    "pub/media/catalog/product/a/b/ab_tee.jpg": JPEG,
    "pub/static/frontend/Magento/luma/en_US/requirejs-config.js": (
        "(function(require){ require.config({}); })(require);\n"
    ),
    "generated/code/Magento/Catalog/Model/Product/Interceptor.php": PHP_CLASS.format(
        ns="Magento\\Catalog\\Model\\Product", name="Interceptor"
    ),
    "var/cache/mage--0/mage---abc_CONFIG": "a:0:{}",
    "var/log/system.log": "[2024-05-01T12:00:00] main.INFO: Cache cleaned.\n",
}

WOOCOMMERCE: dict[str, str | bytes] = {
    "index.php": "<?php\ndefine( 'WP_USE_THEMES', true );\nrequire __DIR__ . '/wp-blog-header.php';\n",
    "wp-blog-header.php": "<?php\nrequire_once __DIR__ . '/wp-load.php';\nwp();\n",
    "wp-load.php": "<?php\ndefine( 'ABSPATH', __DIR__ . '/' );\n",
    ".htaccess": (
        "# BEGIN WordPress\n<IfModule mod_rewrite.c>\nRewriteEngine On\nRewriteBase /\n"
        "RewriteRule ^index\\.php$ - [L]\nRewriteCond %{REQUEST_FILENAME} !-f\n"
        "RewriteCond %{REQUEST_FILENAME} !-d\nRewriteRule . /index.php [L]\n</IfModule>\n# END WordPress\n"
    ),
    "wp-includes/version.php": "<?php\n$wp_version = '6.5.2';\n$wp_db_version = 57155;\n",
    "wp-includes/js/jquery/jquery-migrate.min.js": (
        "/*! jQuery Migrate */\n(function(t){t.migrateVersion='3.4.1'})(jQuery);\n"
    ),
    "wp-content/index.php": "<?php\n// Silence is golden.\n",
    "wp-content/themes/storefront/functions.php": (
        "<?php\n$theme = wp_get_theme( 'storefront' );\n$storefront_version = $theme['Version'];\n"
        "require 'inc/class-storefront.php';\n"
    ),
    "wp-content/themes/storefront/style.css": "/* Theme Name: Storefront */\nbody { margin: 0; }\n",
    "wp-content/plugins/woocommerce/woocommerce.php": (
        "<?php\n/**\n * Plugin Name: WooCommerce\n * Version: 8.8.2\n */\n\ndefined( 'ABSPATH' ) || exit;\n"
    ),
    "wp-content/plugins/woocommerce/templates/checkout/form-checkout.php": (
        "<?php\ndefined( 'ABSPATH' ) || exit;\ndo_action( 'woocommerce_before_checkout_form', $checkout );\n?>\n"
        '<form name="checkout" method="post" class="checkout woocommerce-checkout" '
        'action="<?php echo esc_url( wc_get_checkout_url() ); ?>">\n</form>\n'
    ),
    "wp-content/plugins/woocommerce/includes/gateways/cod/class-wc-gateway-cod.php": (
        "<?php\ndefined( 'ABSPATH' ) || exit;\n\nclass WC_Gateway_COD extends WC_Payment_Gateway {\n"
        "\tpublic function process_payment( $order_id ) {\n\t\t$order = wc_get_order( $order_id );\n"
        "\t\t$order->update_status( 'processing' );\n\t\treturn array( 'result' => 'success' );\n\t}\n}\n"
    ),
    "wp-content/plugins/woocommerce/assets/js/frontend/checkout.js": (
        "jQuery( function( $ ) {\n\tvar wc_checkout_form = {\n\t\tinit: function() {\n"
        "\t\t\t$( document.body ).on( 'update_checkout', this.update_checkout );\n\t\t},\n"
        "\t\tupdate_checkout: function() { $( document.body ).trigger( 'updated_checkout' ); }\n\t};\n"
        "\twc_checkout_form.init();\n});\n"
    ),
    "wp-content/uploads/2024/05/shirt.jpg": JPEG,
    "wp-content/uploads/2024/05/shirt-150x150.jpg": JPEG[:-2] + b"\x00\x01\xff\xd9",
    "wp-content/cache/page_enhanced/shop.test/index.html": "<html><body>cached</body></html>\n",
}

PLATFORMS: dict[str, dict[str, str | bytes]] = {"eccube4": ECCUBE4, "magento2": MAGENTO2, "woocommerce": WOOCOMMERCE}


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'skimguard.db'}"


@pytest.fixture
def config_file(tmp_path: Path, db_url: str) -> Path:
    """A config with one site ``shop`` whose database is in ``tmp_path`` (no alert sinks)."""
    data = {
        "version": 1,
        "database": db_url,
        "sites": [
            {"name": "shop", "base_url": "https://shop.test/", "journeys": [{"name": "home", "steps": [{"goto": "/"}]}]}
        ],
        "alerts": {"min_severity": "high", "sinks": []},
    }
    path = tmp_path / "skimguard.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    return load_config(config_file)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as opened:
        yield opened


@pytest.fixture
def shop(tmp_path: Path) -> Callable[[str], Path]:
    """``shop("eccube4")`` writes that clean tree under ``tmp_path/<name>`` and returns its root."""

    def build(name: str) -> Path:
        return write_tree(tmp_path / name, PLATFORMS[name])

    return build


@pytest.fixture
def cli(config_file: Path) -> Callable[..., Result]:
    """Run ``skimguard`` with this test's config."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, [*args, "-c", str(config_file)], env={"SKIMGUARD_CONFIG": None})

    return run


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL: SQLite, and PostgreSQL (a new schema) when $SKIMGUARD_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'any' / 'skimguard.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"sg_webroot_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield (
            sa.make_url(base)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
