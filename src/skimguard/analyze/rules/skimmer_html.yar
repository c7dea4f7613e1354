/*
 * skimguard: markup traits of web skimmers (HTML pages, templates, anything that carries markup).
 * Same meta contract and the same "traits, not verdicts" policy as skimmer_js.yar.
 */

rule SG403_base64_checkout_keywords
{
    meta:
        id = "SG403"
        severity = "medium"
        confidence = "medium"
        title = "Checkout or card keyword hidden in a short base64 string"
        description = "A short base64 string literal decodes to text containing a checkout path or card field keyword (checkout, onepage, onestep, cc_number, cardNumber, cc_cid). Skimmers and their PHP droppers base64 these words to slip past keyword scanners; ordinary code has no reason to hide them."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Short base64 tokens that happen to embed these words."
        language = "any"
    strings:
        // Each keyword in its three base64 alignments, inside a quoted literal of at most ~170 chars;
        // long literals (encoded PHP or JS payloads, data URIs) are left to the normalizer.
        $b64 = /["'\x60][A-Za-z0-9+\/]{0,80}(Y2hlY2tvdX|NoZWNrb3V0|jaGVja291d|b25lcGFnZ|9uZXBhZ2|vbmVwYWdl|b25lc3Rlc|9uZXN0ZX|vbmVzdGVw|Y2NfbnVtYmVy|NjX251bWJlc|jY19udW1iZX|Y2FyZE51bWJlc|NhcmROdW1iZX|jYXJkTnVtYmVy|Y2NfY2lk|NjX2NpZ|jY19jaW)[A-Za-z0-9+\/]{0,80}={0,2}\\?["'\x60]/
    condition:
        $b64
}

rule SG415_offsite_card_form
{
    meta:
        id = "SG415"
        severity = "medium"
        confidence = "low"
        title = "Card form posting to an absolute off-page address"
        description = "A form with card number and security code or expiry inputs posts to an absolute URL. Phishing pages and fake payment forms send card data to the attacker this way; shops keep card forms on their own origin or in a payment provider's iframe."
        references = "https://sansec.io/research/fake-payment-form"
        false_positives = "Legacy direct-post integrations that post the card form to the payment provider."
        language = "html"
    strings:
        $form = /<form[^>]{0,400}action\s*=\s*["']?(https?:)?\/\/[a-z0-9]/ nocase
        $in_num = /<input[^>]{0,250}(c(c[_\-]?num(ber)?|ard([_\-]?(num(ber)?|no)[^a-z]|number))|カード番号)/ nocase
        $in_cvv = /<input[^>]{0,250}(c(v[vc]|c_?cid|ard[_\-]?code)|security[_\-]?code|セキュリティコード)/ nocase
        $in_exp = /<(input|select)[^>]{0,250}(exp(ir(y|ation|e))?[_\-]?(date|month|year|mm|yy)|c(c|ard)[_\-]?exp|有効期限)/ nocase
    condition:
        $form and $in_num and ($in_cvv or $in_exp)
}

rule SG427_lookalike_library_host
{
    meta:
        id = "SG427"
        severity = "low"
        confidence = "low"
        title = "Script or endpoint on a look-alike library host"
        description = "An address uses a host named like a popular library, analytics or shop brand (jquery, mage, googie, google-analytic...) under a cheap top-level domain. Skimmer crews register such names so their loader looks like a familiar dependency."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Small legitimate sites that happen to use such names."
        language = "any"
    strings:
        $host = /\/\/([a-z0-9\-]{1,30}\.){0,3}(jquery|js-?cdn|cdn-js|mage(nto)?|goo(gie|g1e|qle|gle(-?analytic|tag))|g00gle|gstatic-?cdn|bootstrap-?cdn|analytic|cloudflare-?cdn|paypal-?cdn|braintree-?cdn)[a-z0-9\-]{0,30}\.(su|pw|ru|link|top|xyz|cc|gq|ml|tk|cf|ga|club|host|space|ws|site|online|store|icu|bid|biz|info|me|pro|us|cn|in|at|to|is)[\/:"'?]/ nocase
    condition:
        $host
}
