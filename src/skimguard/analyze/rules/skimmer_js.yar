/*
 * skimguard: client-side (JavaScript) traits of web skimmers.
 *
 * Rules are traits, not verdicts: the analysis engine combines them with tree-sitter structure
 * traits into a score. A trait that benign code also shows is info/low; high is reserved for
 * combinations that benign shop code does not show (card fields + exfiltration + a checkout gate,
 * a collector URL, an encoding or staging; known skimmer kit skeletons).
 *
 * Every rule carries the meta keys id, severity, confidence, title, description, references,
 * false_positives and language; IDs are stable once released (SG401..SG439 and SG451..SG460;
 * the IDs between belong to the tree-sitter structure layer and to threat intel).
 *
 * Conventions:
 * - Rules see raw text and the normalizer's output, where string arrays are resolved into
 *   bracket lookups, so property access is matched both ways: `(\.|\[\s*["'])name(["']\s*\])?`.
 * - No slow patterns (the compiler rejects them): every regex has a literal of three or more
 *   bytes and every gap is bounded. A word list after a long gap (`<input[^>]{0,250}(...)`) is a
 *   prefix tree (`c(v[vc]|c_?cid|...)`): the verifier tries each branch at every byte of the gap.
 * - Proximity is expressed with match offsets, e.g. a card field within 4000 bytes of a sink,
 *   so unrelated code of a large bundle does not combine.
 * - Code kept inside a string (a payload in a database dump or a PHP echo) has escaped quotes;
 *   patterns whose quotes matter for such loaders accept an optional backslash: `\\?["']`.
 */

rule SG401_card_field_names
{
    meta:
        id = "SG401"
        severity = "info"
        confidence = "low"
        title = "Card number and security code or expiry field names"
        description = "The code names a card number field together with a card security code or expiry field (including the Japanese labels カード番号, セキュリティコード and 有効期限 used on EC-CUBE shops). Checkout pages, payment SDKs and skimmers all do this, so it only counts together with other evidence."
        references = "https://owasp.org/www-community/attacks/Magecart"
        false_positives = "Checkout templates, payment SDKs, card formatting and validation libraries."
        language = "any"
    strings:
        $num_cc = /cc[_\-]?(number|num|no)[^a-z]/ nocase
        $num_card = /card[_\-\s]?(number|num|no)[^a-z]/ nocase
        $num_jp = /(カード番号|\\u30ab\\u30fc\\u30c9\\u756a\\u53f7)/ nocase
        $cvv = /[^a-z0-9](cvv2?|cvc2?|cvn|cc_?cid|card_?cvv|card_?cvc|card_?code|security_?code)[^a-z0-9]/ nocase
        $cvv_jp = /(セキュリティコード|\\u30bb\\u30ad\\u30e5\\u30ea\\u30c6\\u30a3\\u30b3\\u30fc\\u30c9)/ nocase
        $exp = /(exp(iry|iration|ire)?[_\-\s]?(date|month|year|mon|yr|mm|yy)|cc[_\-]?exp(iry|iration|ire)?|card[_\-]?exp(iry|iration)?)[^a-z]/ nocase
        $exp_jp = /(有効期限|\\u6709\\u52b9\\u671f\\u9650)/ nocase
    condition:
        any of ($num*) and any of ($cvv*, $exp*)
}

rule SG402_platform_card_fields
{
    meta:
        id = "SG402"
        severity = "low"
        confidence = "low"
        title = "Shop-platform card field names"
        description = "The code refers to the card fields of a specific shop platform (Magento payment[cc_number] or <method>_cc_number, WooCommerce card form, OpenCart, EC-CUBE). Skimmers target these names, but so does the platform's own checkout code."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "The platform's own checkout JavaScript and payment extensions."
        language = "any"
    strings:
        $magento_name = /payment\[cc_(number|cid|exp_month|exp_year|owner|type)\]/ nocase
        $magento_id = /[a-z0-9]_cc_(number|cid)[^a-z]/ nocase
        $woo_form = /wc-credit-card-form-card-(number|expiry|cvc)/ nocase
        $woo_id = /wc-[a-z0-9_\-]{2,40}-(cc|card)-(number|cvc|expiry)/ nocase
        $opencart = /cc_(cvv2|expire_date_month|expire_date_year|start_date_month)/ nocase
        $eccube = /card_(no0[1-4]|name0[12])[^0-9]/ nocase
    condition:
        any of them
}

rule SG404_checkout_url_gate
{
    meta:
        id = "SG404"
        severity = "low"
        confidence = "medium"
        title = "Behaviour gated on a checkout URL"
        description = "The code tests the page address for checkout, one-page, one-step or payment paths before acting. Skimmers run only on checkout pages to stay hidden, though analytics and payment widgets sometimes check the path too."
        references = "https://www.riskiq.com/blog/labs/magecart-british-airways-breach/"
        false_positives = "Analytics or conversion tracking that only fires on the checkout page; payment widgets loaded on checkout."
        language = "js"
    strings:
        $loc_call = /location\s*(["']\s*\])?\s*((\.|\[\s*["'])\s*(href|pathname|search)(["']\s*\])?|\.toString\s*\(\s*\))?\s*\)?\s*(\.|\[\s*["'])\s*(indexOf|includes|match|search|startsWith|endsWith)(["']\s*\])?\s*\(\s*["'\x60\/][^"'\x60\)]{0,40}(checkout|onepage|one-page|onestep|one-step|firecheckout|payment|billing)/ nocase
        $loc_test = /(checkout|onepage|onestep|firecheckout|payment)[^\n]{0,80}(\.|\[\s*["'])test(["']\s*\])?\s*\(\s*((window|document|self|top)\s*(\.|\[\s*["'])\s*)?location/ nocase
        $slug_list = /(onepage|checkout|onestep|firecheckout|simplecheckout|osc|payment|billing)\|(onepage|checkout|onestep|firecheckout|simplecheckout|osc|payment|billing)/ nocase
        $loc_eq = /location\s*(["']\s*\])?\s*((\.|\[\s*["'])\s*(href|pathname)(["']\s*\])?)?\s*(==|===|!=|!==)\s*["'\x60][^"'\x60]{0,80}(checkout|onepage|payment)/ nocase
        $path_check = /(indexOf|includes|search|match)(["']\s*\])?\s*\(\s*["'\x60]\/?(checkout|onepage|onestep|firecheckout|onestepcheckout)[\/"'\x60]/ nocase
    condition:
        any of them
}

rule SG405_collector_url_shape
{
    meta:
        id = "SG405"
        severity = "medium"
        confidence = "medium"
        title = "Hard-coded collector URL shape"
        description = "A hard-coded URL has the shape of a skimmer collector: a gate.php endpoint, a PHP endpoint keyed by token or hash, a PHP script inside a media or static folder, a 'gate' setting, a Telegram bot or Discord webhook, or data POSTed to an address disguised as a script, style sheet or image. Benign shop code rarely posts to such addresses."
        references = "https://github.com/gwillem/magento-malware-scanner, https://www.group-ib.com/blog/inter/"
        false_positives = "Self-hosted tracking endpoints named gate.php; APIs that take a token in the query string."
        language = "js"
    strings:
        $gate_php = /["'\x60](https?:)?\/\/[a-z0-9.\-]{3,80}(:\d{2,5})?\/[^"'\x60\s]{0,100}gate\.php/ nocase
        $php_token = /["'\x60](https?:)?\/\/[a-z0-9.\-]{3,80}(:\d{2,5})?\/[^"'\x60\s?]{0,100}\.php\?(token|hash|key|p|host)=[A-Za-z0-9]{2,40}/ nocase
        $media_php = /["'\x60](https?:)?(\/\/[a-z0-9.\-]{3,80})?\/(media|skin|pub\/media|pub\/static|wp-content\/uploads|catalog\/product)\/[^"'\x60\s]{0,150}\.php["'\x60]/ nocase
        $gate_key = /[^a-z_](gate|glink|gateway_url|collector|grabber)["']?\s*[:=]\s*["'\x60](https?:)?\/\/[a-z0-9]/ nocase
        $post_static = /(\.|\[\s*["'])open(["']\s*\])?\s*\(\s*["']POST["']\s*,\s*["'\x60](https?:)?\/\/[^"'\x60]{3,150}\.(js|css|png|jpe?g|gif|ico|svg|woff2?)(\?[^"'\x60]{0,60})?["'\x60]/ nocase
        $chat_bot = /(api\.telegram\.org\/bot[0-9]{5,12}:[A-Za-z0-9_\-]{20,60}|discord(app)?\.com\/api\/webhooks\/[0-9]{10,25}\/)/ nocase
        $ajax_static = /["']?url["']?\s*:\s*["'\x60](https?:)?\/\/[^"'\x60]{3,150}\.(js|css|png|jpe?g|gif|ico|svg|woff2?)["'\x60][^}]{0,300}["']?(type|method)["']?\s*:\s*["']POST/ nocase
    condition:
        any of them
}

rule SG406_image_beacon_with_data
{
    meta:
        id = "SG406"
        severity = "low"
        confidence = "low"
        title = "Image beacon carrying concatenated data"
        description = "An image is pointed at a hard-coded absolute URL with data appended to it. Skimmers use image requests to leak card data past content security policies; analytics pixels look the same."
        references = "https://www.trendmicro.com/en_us/research/19/j/fin6-compromised-e-commerce-platform-via-magecart-to-inject-credit-card-skimmers-into-thousands-of-online-shops.html"
        false_positives = "Tracking pixels of analytics and advertising tags."
        language = "js"
    strings:
        $new_image = /new\s+Image\s*\([^)]{0,10}\)\s*\)?\s*(\.|\[\s*["'])src(["']\s*\])?\s*=\s*["'\x60](https?:)?\/\/[^"'\x60]{3,200}["'\x60]\s*\+/
        $src_encoded = /(\.|\[\s*["'])src(["']\s*\])?\s*=\s*["'\x60](https?:)?\/\/[^"'\x60]{3,200}["'\x60]\s*\+\s*(window\s*\.\s*)?(encodeURIComponent|btoa|escape|encodeURI|JSON\s*\.\s*stringify)\s*\(/
    condition:
        any of them
}

rule SG407_send_to_hardcoded_url
{
    meta:
        id = "SG407"
        severity = "info"
        confidence = "low"
        title = "Data sent to a hard-coded absolute URL"
        description = "The code POSTs, beacons or opens a WebSocket to a hard-coded absolute URL. Every skimmer needs such a sink, but so does every analytics or payment SDK."
        references = ""
        false_positives = "Analytics, error reporting, payment and chat SDKs talking to their own service."
        language = "js"
    strings:
        $xhr = /(\.|\[\s*["'])open(["']\s*\])?\s*\(\s*["']POST["']\s*,\s*["'\x60](https?:)?\/\// nocase
        $ajax1 = /["']?(type|method)["']?\s*:\s*["']POST["'][^}]{0,300}["']?url["']?\s*:\s*["'\x60](https?:)?\/\// nocase
        $ajax2 = /["']?url["']?\s*:\s*["'\x60](https?:)?\/\/[^"'\x60]{3,200}["'\x60][^}]{0,300}["']?(type|method)["']?\s*:\s*["']POST/ nocase
        $fetch = /fetch(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\/[^"'\x60]{3,200}["'\x60]\s*,\s*\{[^}]{0,300}["']?method["']?\s*:\s*["']POST/ nocase
        $beacon = /sendBeacon(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\//
        $ws = /WebSocket(["']\s*\])?\s*\(\s*["'\x60]wss?:\/\//
        $post = /(\.|\[\s*["'])post(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\//
    condition:
        any of them
}

rule SG408_encoded_serialized_data
{
    meta:
        id = "SG408"
        severity = "low"
        confidence = "low"
        title = "Collected data encoded or encrypted before sending"
        description = "Serialized form or object data is base64-encoded or reversed (btoa of JSON.stringify, of serialize() or of joined values), or encrypted with CryptoJS or SJCL under a key written in the code. Skimmers disguise stolen card data in transit this way."
        references = "https://www.malwarebytes.com/blog/news/2019/07/magecart-skimmers-found-on-amazon-cloudfront-cdn"
        false_positives = "Apps that base64 state into URLs or cookies; client-side obfuscation of local storage. Inline source maps are ignored."
        language = "js"
    strings:
        $btoa_json = /btoa(["']\s*\])?\s*\(\s*(unescape\s*\(\s*)?(encodeURIComponent\s*\(\s*)?JSON\s*(\.|\[\s*["'])\s*stringify/
        $btoa_serialize = /btoa(["']\s*\])?\s*\(\s*(unescape\s*\(\s*)?(encodeURIComponent\s*\(\s*)?[a-zA-Z_$][\w$.]{0,60}(\.|\[\s*["'])(serialize|serializeArray|join)(["']\s*\])?\s*\(/
        $b64_json = /base64_?encode\s*\(\s*JSON\s*\.\s*stringify\s*\(/ nocase
        $json_reverse = /JSON\s*\.\s*stringify\s*\([^)]{0,80}\)\s*\.\s*split\s*\(\s*["']["']\s*\)\s*\.\s*reverse\s*\(\s*\)/
        $cryptojs = /CryptoJS\s*\.\s*(AES|DES|TripleDES|Rabbit|RC4)\s*\.\s*encrypt\s*\([^,]{1,160},\s*["'\x60][^"'\x60]{4,80}["'\x60]/
        $sjcl = /sjcl\s*\.\s*encrypt\s*\(\s*["'\x60][^"'\x60]{4,80}["'\x60]/
        // style-loader and friends base64 their source maps: "sourceMappingURL=data:...base64," + btoa(...)
        $sourcemap = "sourceMappingURL=data:"
    condition:
        any of ($b64_json, $json_reverse, $cryptojs, $sjcl) or
        for any of ($btoa_json, $btoa_serialize) : (
            for any i in (1..#) : ( not for any j in (1..#sourcemap) : ( @[i] > @sourcemap[j] and @[i] < @sourcemap[j] + 200 ) )
        )
}

rule SG409_string_reversal
{
    meta:
        id = "SG409"
        severity = "low"
        confidence = "low"
        title = "String reversal used to hide a literal"
        description = "A string is reversed with split('').reverse().join('') or a spread-and-reverse, a common trick to hide a URL or keyword from scanners. Ordinary code reverses strings rarely."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "String utility code, palindrome checks, right-to-left text helpers."
        language = "js"
    strings:
        $split_reverse = /(\.|\[\s*["'])split(["']\s*\])?\s*\(\s*["']["']\s*\)\s*(\.|\[\s*["'])reverse(["']\s*\])?\s*\(\s*\)\s*(\.|\[\s*["'])join(["']\s*\])?\s*\(\s*["']["']\s*\)/
        $spread_reverse = /\[\s*\.\.\.\s*[\w$.]{1,40}\s*\]\s*\.\s*reverse\s*\(\s*\)\s*\.\s*join\s*\(\s*["']["']\s*\)/
    condition:
        any of them
}

rule SG410_card_field_name_list
{
    meta:
        id = "SG410"
        severity = "low"
        confidence = "medium"
        title = "Pattern listing card field names"
        description = "A pattern joins card field names with | (cc_number|cvv|cardNumber...). Skimmers match every input's name or id against such a list to find card fields on any checkout; session-replay tools use similar lists to mask inputs."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Input-masking lists of session-replay and analytics tools; autofill helpers."
        language = "any"
    strings:
        $list = /(card_?number|cc_?number|ccnum|cc_?num|cvv2?|cvc2?|cc_?cid|card_?code|security_?code|cc_?exp)\|(card_?number|cc_?number|ccnum|cc_?num|cvv2?|cvc2?|cc_?cid|cid|card_?code|security_?code|cc_?exp|exp(iry|iration)?|cc|card|payment|billing)[^a-z]/ nocase
        $list_rev = /(cc|card|payment|billing|exp(iry|iration)?|cid)\|(card_?number|cc_?number|ccnum|cvv2?|cvc2?|cc_?cid|card_?code|security_?code)[^a-z]/ nocase
    condition:
        any of them
}

rule SG411_anti_analysis
{
    meta:
        id = "SG411"
        severity = "low"
        confidence = "low"
        title = "Anti-analysis: devtools, automation or own-tag tricks"
        description = "The code checks whether developer tools are open or the browser is automated (window size gap, Firebug, debugger timing, devtools-detect's open/orientation event, navigator.webdriver, headless markers), or removes or reads its own script tag. Skimmers such as Pipka hide from analysts and scanners this way; bot-detection libraries do some of the same checks."
        references = "https://usa.visa.com/dam/VCOM/global/support-legal/documents/pfd-identifies-new-javascript-skimmer.pdf"
        false_positives = "Bot-detection, fingerprinting and analytics libraries; devtools-detect; loader snippets that tidy up their bootstrap tag."
        language = "js"
    strings:
        $webdriver = /navigator\s*(\.|\[\s*["'])\s*webdriver/
        $size_gap = /outer(Height|Width)(["']\s*\])?\s*-\s*(window\s*(\.|\[\s*["'])\s*)?inner(Height|Width)(["']\s*\])?\s*\)?\s*>\s*\d{2,3}/
        $firebug = /(console\s*\.\s*firebug|Firebug\s*\.\s*chrome|window\s*\.\s*Firebug)/
        $devtools = /(devtools\s*\.\s*(open|isOpen|orientation)[^a-z]|["']devtoolschange["'])/
        // devtools-detect's event detail, kept when the event name itself is hidden
        $devtools_detail = /detail\s*:\s*\{\s*["']?open["']?\s*:\s*[\w$!.]{1,12}\s*,\s*["']?orientation["']?\s*:/
        $debugger_timing1 = /debugger[\s;]{0,8}[^\n]{0,120}(performance\s*\.\s*now|Date\s*\.\s*now|new Date)/
        $debugger_timing2 = /(performance\s*\.\s*now|Date\s*\.\s*now)\s*\(\s*\)[^\n]{0,120}debugger/
        $id_getter = /Object\s*\.\s*defineProperty\s*\(\s*[\w$.]{1,40}\s*,\s*["']id["']\s*,\s*\{\s*get\s*:/
        $phantom = /window\s*\.\s*(callPhantom|_phantom|__nightmare|domAutomation)/
        $headless = "HeadlessChrome"
        $current_remove = /currentScript(["']\s*\])?\s*(\.|\[\s*["'])\s*(remove(["']\s*\])?\s*\(|parentNode(["']\s*\])?\s*(\.|\[\s*["'])\s*removeChild)/
        $remove_current = /removeChild(["']\s*\])?\s*\(\s*document\s*(\.|\[\s*["'])\s*currentScript/
        $last_script = /getElementsByTagName\s*\(\s*["']script["']\s*\)\s*\[[^\]]{1,80}length["']?\s*\]?\s*-\s*1\s*\]\s*(\.|\[\s*["'])\s*(innerHTML|textContent|text|remove|parentNode)/
    condition:
        any of them
}

rule SG412_hidden_url_literal
{
    meta:
        id = "SG412"
        severity = "medium"
        confidence = "medium"
        title = "URL hidden by reversal or base64"
        description = "The code contains a URL written backwards (//:sptth) or as a base64 literal (aHR0cHM6Ly...), to be decoded at run time. This hides a loader or collector address from scanners and has no good reason in shop code."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Test data of string utilities; advertising tags that encode their CDN address."
        language = "any"
    strings:
        $reversed = /[a-z0-9]\/\/:s?ptth/ nocase
        $reversed_script = /tpircs\/?<[^\n]{0,200}tpircs</ nocase
        $base64_url = /["'\x60](aHR0cHM6Ly|aHR0cDovL)[A-Za-z0-9+\/]{4}/
    condition:
        any of them
}

rule SG413_cookie_gate_with_card_fields
{
    meta:
        id = "SG413"
        severity = "medium"
        confidence = "low"
        title = "Once-per-visitor cookie near card field access"
        description = "A cookie is written and checked close to code that reads card fields. Skimmers mark visitors they already robbed so the stolen data is sent once and the theft stays quiet."
        references = "https://www.riskiq.com/blog/labs/magecart-ticketmaster-breach/"
        false_positives = "Checkout code that remembers a form step in a cookie."
        language = "js"
    strings:
        $cookie_set = /document\s*(\.|\[\s*["'])\s*cookie(["']\s*\])?\s*=[^=]/
        $cookie_get = /document\s*(\.|\[\s*["'])\s*cookie(["']\s*\])?\s*\)?\s*(\.|\[\s*["'])\s*(match|indexOf|includes|search|split)/
        $num = /(cc[_\-]?(number|num|no)|card[_\-\s]?(number|num|no))[^a-z]/ nocase
        $sec = /([^a-z0-9](cvv2?|cvc2?|cc_?cid|card_?code|security_?code)[^a-z0-9]|exp(iry|iration)?[_\-\s]?(date|month|year|mm|yy)[^a-z])/ nocase
    condition:
        $cookie_get and $sec and
        for any i in (1..#cookie_set) : (
            for any j in (1..#num) : ( @num[j] > @cookie_set[i] - 4000 and @num[j] < @cookie_set[i] + 4000 )
        )
}

rule SG414_injected_card_form
{
    meta:
        id = "SG414"
        severity = "medium"
        confidence = "medium"
        title = "Card form markup injected from script"
        description = "Script writes markup with card number, security code and expiry inputs into the page (innerHTML, an iframe srcdoc, insertAdjacentHTML, document.write, jQuery html/append). Fake payment forms are injected this way where the real checkout uses a hosted payment page."
        references = "https://sansec.io/research/fake-payment-form"
        false_positives = "Single-page checkouts that render their own card form from templates."
        language = "js"
    strings:
        $in_num = /<input[^>]{0,250}(c(c[_\-]?num(ber)?|ard([_\-]?(num(ber)?|no)[^a-z]|number))|カード番号)/ nocase
        $in_cvv = /<input[^>]{0,250}(c(v[vc]|c_?cid|ard[_\-]?code)|security[_\-]?code|セキュリティコード)/ nocase
        $in_exp = /<(input|select)[^>]{0,250}(exp(ir(y|ation|e))?[_\-]?(date|month|year|mm|yy)|c(c|ard)[_\-]?exp|有効期限)/ nocase
        $sink = /((innerHTML|outerHTML|srcdoc)(["']\s*\])?\s*\+?=|insertAdjacentHTML(["']\s*\])?\s*\(|document\s*(\.|\[\s*["'])\s*write(ln)?(["']\s*\])?\s*\(|(\.|\[\s*["'])(html|append|prepend|after|before|replaceWith)(["']\s*\])?\s*\(\s*["'\x60<])/
    condition:
        $in_num and $in_cvv and $in_exp and $sink
}

rule SG416_computed_script_loader
{
    meta:
        id = "SG416"
        severity = "medium"
        confidence = "medium"
        title = "Script loaded from a computed or encoded address"
        description = "A script element gets its src from atob, fromCharCode, unescape or a reversed string (directly, or through a variable decoded just before), or document.write emits decoded markup. Loaders hide the skimmer's real address this way; legitimate tags use a plain URL."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Some advertising loaders that obfuscate their CDN address."
        language = "js"
    strings:
        $create = /createElement(["']\s*\])?\s*\(\s*\\?["']script\\?["']\s*\)/ nocase
        $src_decoded = /(\.|\[\s*["'])src(["']\s*\])?\s*=\s*(window\s*(\.|\[\s*["'])\s*)?(atob|unescape|decodeURIComponent|String\s*\.\s*fromCharCode)(["']\s*\])?\s*\(/
        $src_reversed = /(\.|\[\s*["'])src(["']\s*\])?\s*=\s*[^;\n]{0,160}(\.|\[\s*["'])split(["']\s*\])?\s*\(\s*["']["']\s*\)\s*(\.|\[\s*["'])reverse/
        $attr_decoded = /setAttribute(["']\s*\])?\s*\(\s*["']src["']\s*,\s*(window\s*(\.|\[\s*["'])\s*)?(atob|unescape|decodeURIComponent|String\s*\.\s*fromCharCode)(["']\s*\])?\s*\(/
        $write_decoded = /document\s*(\.|\[\s*["'])\s*write(ln)?(["']\s*\])?\s*\([^;\n]{0,300}(atob(["']\s*\])?\s*\(|unescape(["']\s*\])?\s*\(|fromCharCode|reverse(["']\s*\])?\s*\(\s*\))/
        // var u = atob('...'); ... s = createElement('script'); s.src = u;
        $decoded_var = /[\w$]{1,12}\s*=\s*(window\s*(\.|\[\s*["'])\s*)?(atob|String\s*\.\s*fromCharCode)(["']\s*\])?\s*\(/
        $src_var = /(\.|\[\s*["'])src(["']\s*\])?\s*=\s*[\w$]{1,12}\s*[;,\n}]/
    condition:
        ($create and any of ($src_decoded, $src_reversed, $attr_decoded)) or $write_decoded or
        for any i in (1..#create) : (
            for any j in (1..#decoded_var) : ( @decoded_var[j] < @create[i] and @decoded_var[j] > @create[i] - 800 ) and
            for any k in (1..#src_var) : ( @src_var[k] > @create[i] and @src_var[k] < @create[i] + 400 )
        )
}

rule SG417_checkout_gated_loader
{
    meta:
        id = "SG417"
        severity = "medium"
        confidence = "medium"
        title = "Script loaded only on checkout pages"
        description = "A new script is added right after a test of the page address for checkout paths. Skimmer loaders fetch their payload only on checkout; a shop that loads a payment widget there looks similar, so check where the script comes from."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Payment or tracking widgets deliberately loaded only on the checkout page."
        language = "js"
    strings:
        $gate = /(location[^;\n]{0,40}(indexOf|includes|match|search|startsWith)(["']\s*\])?\s*\(\s*["'\x60\/][^"'\x60\)]{0,40}(checkout|onepage|onestep|firecheckout|payment)|(checkout|onepage|onestep|firecheckout)[^\n]{0,80}test(["']\s*\])?\s*\(\s*((window|document)\s*(\.|\[\s*["'])\s*)?location|(onepage|checkout|onestep|firecheckout)\|(onepage|checkout|onestep|firecheckout))/ nocase
        $load = /(createElement(["']\s*\])?\s*\(\s*["']script["']\s*\)|document\s*(\.|\[\s*["'])\s*write(ln)?(["']\s*\])?\s*\(\s*["'\x60]<script|getScript(["']\s*\])?\s*\(|new\s+Element\s*\(\s*["']script["'])/ nocase
    condition:
        for any i in (1..#gate) : (
            for any j in (1..#load) : ( @load[j] > @gate[i] and @load[j] < @gate[i] + 1500 )
        )
}

rule SG418_checkout_gated_encoded_loader
{
    meta:
        id = "SG418"
        severity = "high"
        confidence = "medium"
        title = "Checkout-only loader with a hidden address"
        description = "Right after a test for checkout paths, the code loads or writes a script whose address is encoded (atob, fromCharCode, unescape, base64 or reversed). Hiding the address of a checkout-only script is a skimmer loader's signature."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "None known."
        language = "js"
    strings:
        $gate = /(location[^;\n]{0,40}(indexOf|includes|match|search|startsWith)(["']\s*\])?\s*\(\s*["'\x60\/][^"'\x60\)]{0,40}(checkout|onepage|onestep|firecheckout|payment)|(checkout|onepage|onestep|firecheckout)[^\n]{0,80}test(["']\s*\])?\s*\(\s*((window|document)\s*(\.|\[\s*["'])\s*)?location|(onepage|checkout|onestep|firecheckout)\|(onepage|checkout|onestep|firecheckout))/ nocase
        $hidden = /((\.|\[\s*["'])src(["']\s*\])?\s*=\s*(window\s*(\.|\[\s*["'])\s*)?(atob|unescape|decodeURIComponent|String\s*\.\s*fromCharCode)(["']\s*\])?\s*\(|setAttribute(["']\s*\])?\s*\(\s*["']src["']\s*,\s*(window\s*\.\s*)?(atob|unescape|String\s*\.\s*fromCharCode)\s*\(|split(["']\s*\])?\s*\(\s*["']["']\s*\)\s*(\.|\[\s*["'])reverse|document\s*(\.|\[\s*["'])\s*write(ln)?(["']\s*\])?\s*\([^;\n]{0,200}(atob\s*\(|unescape\s*\(|fromCharCode)|[a-z0-9]\/\/:s?ptth|["'\x60](aHR0cHM6Ly|aHR0cDovL))/
    condition:
        for any i in (1..#gate) : (
            for any j in (1..#hidden) : ( @hidden[j] > @gate[i] and @hidden[j] < @gate[i] + 1500 )
        )
}

rule SG419_storage_staging_of_card_data
{
    meta:
        id = "SG419"
        severity = "medium"
        confidence = "low"
        title = "Card fields staged in browser storage"
        description = "Values are written to localStorage or sessionStorage close to code that reads card fields. Skimmers stage stolen card data in storage and send it later, from another page, to avoid detection at checkout."
        references = "https://www.group-ib.com/blog/inter/"
        false_positives = "Checkout code that persists non-sensitive form state next to the card form."
        language = "js"
    strings:
        $store = /(localStorage|sessionStorage)(["']\s*\])?\s*((\.|\[\s*["'])\s*setItem(["']\s*\])?\s*\(|\[\s*["'][^"'\]]{1,40}["']\s*\]\s*=[^=])/
        $card = /(cc[_\-]?(number|num|no)[^a-z]|card[_\-\s]?(number|num|no)[^a-z]|[^a-z0-9](cvv2?|cvc2?|cc_?cid)[^a-z0-9])/ nocase
    condition:
        for any i in (1..#store) : (
            for any j in (1..#card) : ( @card[j] > @store[i] - 600 and @card[j] < @store[i] + 600 )
        )
}

rule SG420_form_harvest_to_absolute_url
{
    meta:
        id = "SG420"
        severity = "medium"
        confidence = "medium"
        title = "Whole form harvested and posted to a hard-coded URL"
        description = "All inputs of a form or page are collected (serializeArray, serialize, FormData, a loop over input, select and textarea) and POSTed close by to a hard-coded absolute URL. This is how generic skimmers grab checkout forms without knowing field names."
        references = "https://www.riskiq.com/blog/labs/magecart-british-airways-breach/, https://www.riskiq.com/blog/labs/magecart-newegg/"
        false_positives = "Forms posting to the shop's own absolute API URL (newsletter, contact)."
        language = "js"
    strings:
        $harvest = /((\.|\[\s*["'])serializeArray(["']\s*\])?\s*\(\s*\)|(\.|\[\s*["'])serialize(["']\s*\])?\s*\(\s*\)|Form\s*(\.|\[\s*["'])serialize(["']\s*\])?\s*\(|new\s+FormData\s*\(|querySelectorAll(["']\s*\])?\s*\(\s*["']input\s*,\s*(select|textarea)|\(\s*["']input\s*,\s*(select|textarea)|getElementsByTagName(["']\s*\])?\s*\(\s*["']input["']\s*\))/ nocase
        $send = /((\.|\[\s*["'])open(["']\s*\])?\s*\(\s*["']POST["']\s*,\s*["'\x60](https?:)?\/\/|["']?(type|method)["']?\s*:\s*["']POST["'][^}]{0,300}["']?url["']?\s*:\s*["'\x60](https?:)?\/\/|["']?url["']?\s*:\s*["'\x60](https?:)?\/\/[^"'\x60]{3,200}["'\x60][^}]{0,300}["']?(type|method)["']?\s*:\s*["']POST|fetch(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\/[^"'\x60]{3,200}["'\x60]\s*,\s*\{[^}]{0,300}method["']?\s*:\s*["']POST|sendBeacon(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\/|(\.|\[\s*["'])post(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\/|[^a-z_](gate|glink)["']?\s*[:=]\s*["'\x60](https?:)?\/\/)/ nocase
    condition:
        for any i in (1..#harvest) : (
            for any j in (1..#send) : ( @send[j] > @harvest[i] - 2000 and @send[j] < @harvest[i] + 2000 )
        )
}

rule SG421_card_exfiltration
{
    meta:
        id = "SG421"
        severity = "high"
        confidence = "medium"
        title = "Card or form data sent out with skimmer tradecraft"
        description = "Card fields (or every input of the page) are read close to a network sink, and the code also gates on checkout, uses a collector-shaped or hidden URL, encodes the data right before sending, stages card data in a cookie or storage, sends over a WebSocket or hides from analysis. Benign payment code does not combine these."
        references = "https://owasp.org/www-community/attacks/Magecart, https://github.com/gwillem/magento-malware-scanner"
        false_positives = "None known; a payment SDK posting to its own API lacks the gate, collector, hiding and staging traits."
        language = "js"
    strings:
        $num = /(cc[_\-]?(number|num|no)|card[_\-\s]?(number|num|no)|カード番号)[^a-z]/ nocase
        $harvest = /((\.|\[\s*["'])serializeArray(["']\s*\])?\s*\(\s*\)|(\.|\[\s*["'])serialize(["']\s*\])?\s*\(\s*\)|Form\s*(\.|\[\s*["'])serialize(["']\s*\])?\s*\(|new\s+FormData\s*\(|querySelectorAll(["']\s*\])?\s*\(\s*["']input\s*,\s*(select|textarea)|\(\s*["']input\s*,\s*(select|textarea)|getElementsByTagName(["']\s*\])?\s*\(\s*["']input["']\s*\))/ nocase
        // any network sink, whatever its URL
        $sink = /((\.|\[\s*["'])open(["']\s*\])?\s*\(\s*["']POST["']|["']?(type|method)["']?\s*:\s*["']POST["']|sendBeacon(["']\s*\])?\s*\(|WebSocket(["']\s*\])?\s*\(|(\.|\[\s*["'])(ajax|post)(["']\s*\])?\s*\(|fetch(["']\s*\])?\s*\([^)]{0,200}POST|(\.|\[\s*["'])src(["']\s*\])?\s*=\s*["'\x60](https?:)?\/\/[^"'\x60]{3,200}["'\x60]\s*\+)/ nocase
        // a sink with a hard-coded absolute URL
        $sink_abs = /((\.|\[\s*["'])open(["']\s*\])?\s*\(\s*["']POST["']\s*,\s*["'\x60](https?:)?\/\/|["']?url["']?\s*:\s*["'\x60](https?:)?\/\/|fetch(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\/|sendBeacon(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\/|(\.|\[\s*["'])post(["']\s*\])?\s*\(\s*["'\x60](https?:)?\/\/|[^a-z_](gate|glink)["']?\s*[:=]\s*["'\x60](https?:)?\/\/|(\.|\[\s*["'])src(["']\s*\])?\s*=\s*["'\x60](https?:)?\/\/[^"'\x60]{3,200}["'\x60]\s*\+|WebSocket(["']\s*\])?\s*\(\s*["'\x60]wss?:\/\/)/ nocase
        $t_gate = /(location[^;\n]{0,40}(indexOf|includes|match|search)(["']\s*\])?\s*\(\s*["'\x60\/][^"'\x60\)]{0,40}(checkout|onepage|onestep|firecheckout)|(checkout|onepage|onestep|firecheckout)[^\n]{0,80}test(["']\s*\])?\s*\(\s*((window|document)\s*(\.|\[\s*["'])\s*)?location|(onepage|checkout|onestep|firecheckout)\|(onepage|checkout|onestep|firecheckout))/ nocase
        $t_collector = /(api\.telegram\.org\/bot|discord(app)?\.com\/api\/webhooks|gate\.php|\/(media|skin|pub\/media|pub\/static|wp-content\/uploads|catalog\/product)\/[^"'\x60\s]{0,150}\.php["'\x60]|\.php\?(token|hash|key|p|host)=[A-Za-z0-9]{2,40}|open(["']\s*\])?\s*\(\s*["']POST["']\s*,\s*["'\x60](https?:)?\/\/[^"'\x60]{3,150}\.(js|css|png|jpe?g|gif|ico)["'\x60?])/ nocase
        $t_hidden = /([a-z0-9]\/\/:s?ptth|["'\x60](aHR0cHM6Ly|aHR0cDovL)|split(["']\s*\])?\s*\(\s*["']["']\s*\)\s*(\.|\[\s*["'])reverse)/
        $t_ws = /WebSocket(["']\s*\])?\s*\(\s*["'\x60]wss?:\/\//
        $t_anti = /(navigator\s*(\.|\[\s*["'])\s*webdriver|outer(Height|Width)(["']\s*\])?\s*-\s*(window\s*(\.|\[\s*["'])\s*)?inner(Height|Width)|devtools\s*\.\s*(open|isOpen))/
        $t_encode = /(btoa(["']\s*\])?\s*\(\s*(unescape\s*\(\s*)?(encodeURIComponent\s*\(\s*)?JSON|btoa(["']\s*\])?\s*\([^)]{0,40}(serialize|join)|CryptoJS\s*\.\s*(AES|DES|TripleDES|Rabbit|RC4)\s*\.\s*encrypt|["']?mode["']?\s*:\s*["']no-cors["'])/
        $t_stage = /(document\s*(\.|\[\s*["'])\s*cookie(["']\s*\])?\s*=[^=]|(localStorage|sessionStorage)(["']\s*\])?\s*((\.|\[\s*["'])\s*setItem|\[\s*["'][^"'\]]{1,40}["']\s*\]\s*=[^=]))/
        $t_poll = /setInterval(["']\s*\])?\s*\(/
    condition:
        (
            // card fields read within 4000 bytes of a sink ...
            for any j in (1..#num) : ( for any i in (1..#sink) : ( @sink[i] > @num[j] - 4000 and @sink[i] < @num[j] + 4000 ) ) and
            // ... plus tradecraft: anywhere in the file for the rare traits, next to the sink for
            // encoding, next to the card fields for staging, and polling only with a fixed URL sink
            (
                any of ($t_gate, $t_collector, $t_hidden, $t_ws, $t_anti) or
                for any i in (1..#t_encode) : ( for any j in (1..#sink) : ( @sink[j] > @t_encode[i] - 1500 and @sink[j] < @t_encode[i] + 1500 ) ) or
                for any i in (1..#t_stage) : ( for any j in (1..#num) : ( @num[j] > @t_stage[i] - 1500 and @num[j] < @t_stage[i] + 1500 ) ) or
                ($t_poll and for any i in (1..#sink_abs) : ( for any j in (1..#num) : ( @num[j] > @sink_abs[i] - 4000 and @num[j] < @sink_abs[i] + 4000 ) ))
            )
        ) or (
            // every input harvested near a sink, with tradecraft benign form code never shows
            for any j in (1..#harvest) : ( for any i in (1..#sink) : ( @sink[i] > @harvest[j] - 2000 and @sink[i] < @harvest[j] + 2000 ) ) and
            (
                any of ($t_collector, $t_hidden, $t_ws, $t_anti) or
                for any i in (1..#t_encode) : ( for any j in (1..#sink) : ( @sink[j] > @t_encode[i] - 1500 and @sink[j] < @t_encode[i] + 1500 ) )
            )
        )
}

rule SG422_card_field_polling
{
    meta:
        id = "SG422"
        severity = "low"
        confidence = "low"
        title = "Timer polling card fields"
        description = "A setInterval timer reads card fields over and over. Skimmers poll until the shopper has typed a complete card number and code; checkout code normally reacts to events instead."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Checkout code waiting for a late-rendered payment form."
        language = "js"
    strings:
        $timer = /setInterval(["']\s*\])?\s*\(/
        $card = /(cc[_\-]?(number|num|no)[^a-z]|card[_\-\s]?(number|num|no)[^a-z]|[^a-z0-9](cvv2?|cvc2?|cc_?cid)[^a-z0-9])/ nocase
    condition:
        for any i in (1..#timer) : (
            for any j in (1..#card) : ( @card[j] > @timer[i] - 1500 and @card[j] < @timer[i] + 1500 )
        )
}

rule SG423_generic_card_harvester
{
    meta:
        id = "SG423"
        severity = "high"
        confidence = "medium"
        title = "Generic card harvester: field-name list, all inputs, POST to a fixed address"
        description = "The code matches field names against a list of card field names, walks every input, select and textarea, and POSTs to a hard-coded address. This is the skeleton of kit skimmers that work on any checkout; it survives string-array obfuscation because the pieces are plain strings."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "None known; session-replay tools mask card inputs but do not post their values to a fixed address."
        language = "js"
    strings:
        $list = /(card_?number|cc_?number|ccnum|cc_?num|cvv2?|cvc2?|cc_?cid|card_?code|security_?code|cc_?exp)\|(card_?number|cc_?number|ccnum|cc_?num|cvv2?|cvc2?|cc_?cid|cid|card_?code|security_?code|cc_?exp|exp(iry|iration)?|cc|card|payment|billing)[^a-z]/ nocase
        $all_inputs = /(["']input\s*,\s*(select|textarea)|getElementsByTagName(["']\s*\])?\s*\(\s*["']input["']|querySelectorAll(["']\s*\])?\s*\(\s*["']input["'])/ nocase
        $post = /["']POST["']/ nocase
        $dest_url = /["'\x60](https?:)?\/\/[a-z0-9][a-z0-9.\-]{2,80}(:\d{2,5})?\/[^"'\x60\s]{0,150}["'\x60]/ nocase
        $dest_host_php = /["'\x60][a-z0-9\-]{2,60}(\.[a-z0-9\-]{2,60}){1,3}\/[^"'\x60\s]{0,150}\.php["'\x60]/ nocase
    condition:
        $list and $all_inputs and $post and any of ($dest*)
}

rule SG424_websocket_code_delivery
{
    meta:
        id = "SG424"
        severity = "medium"
        confidence = "medium"
        title = "Code received over a WebSocket and executed"
        description = "A WebSocket to a hard-coded server hands its messages to eval, Function or a new script element. WebSocket skimmers load their payload this way because such traffic is seldom inspected."
        references = "https://www.akamai.com/blog/security-research/new-magecart-style-campaign-abusing-legitimate-websites"
        false_positives = "Development live-reload servers (not expected in production shop code)."
        language = "js"
    strings:
        $ws = /WebSocket(["']\s*\])?\s*\(\s*["'\x60]wss?:\/\//
        $onmessage = /(onmessage(["']\s*\])?\s*=|addEventListener(["']\s*\])?\s*\(\s*["']message["'])/
        $exec = /(eval(["']\s*\])?\s*\(|new\s+Function\s*\(|[^a-z]Function\s*\(\s*[\w$.]{1,40}\.data|createElement(["']\s*\])?\s*\(\s*["']script["']\s*\))/
    condition:
        $ws and
        for any i in (1..#onmessage) : (
            for any j in (1..#exec) : ( @exec[j] > @onmessage[i] and @exec[j] < @onmessage[i] + 800 )
        )
}

rule SG425_inter_kit_markers
{
    meta:
        id = "SG425"
        severity = "high"
        confidence = "medium"
        title = "Inter skimmer kit structure"
        description = "The code has the method names of the Inter sniffer kit (SaveParam, SaveAllFields, GetCCInfo, TrySend, SendData, LoadImage, GetImageUrl). Inter is a skimmer kit sold to many crews; its skeleton survives obfuscation of the rest."
        references = "https://www.group-ib.com/blog/inter/"
        false_positives = "None known; one or two of these names alone are common and not enough."
        language = "js"
    strings:
        $save_param = "SaveParam"
        $save_all = "SaveAllFields"
        $cc_info = "GetCCInfo"
        $try_send = "TrySend"
        $send_data = "SendData"
        $load_image = "LoadImage"
        $image_url = "GetImageUrl"
    condition:
        3 of them and any of ($save_param, $save_all, $cc_info, $try_send)
}

rule SG426_grelos_family_markers
{
    meta:
        id = "SG426"
        severity = "high"
        confidence = "high"
        title = "Grelos-style skimmer structure"
        description = "The code has two or more marks of the Grelos skimmer family and its offshoots: a visitor ID cookie such as setidd built from Math.random()*(999999999-11111111+1)+11111111, field values concatenated into a snd buffer, a Glink setting, or the tell-tale selectors 'input, select, textarea, checkbox' and 'button, input, submit'. This family has hit thousands of shops."
        references = "https://www.riskiq.com/blog/labs/magecart-ticketmaster-breach/, https://github.com/gwillem/magento-malware-scanner"
        false_positives = "None known."
        language = "js"
    strings:
        $cookie_name = /["']setidd["']/
        $name = "grelos_v"
        $rand = /Math\s*\.\s*random\s*\(\s*\)\s*\*\s*\(\s*9{9}\s*(-|\xe2\x80\x93)\s*1{8}\s*\+\s*1\s*\)/
        $snd = /[^a-z_]snd\s*\+=\s*[\w$.]{1,40}\[\w{1,5}\]\s*\.\s*(name|id)\s*\+/
        $button_selector = /["'][^"'\n]{0,60}button\s*,\s*input\s*,\s*submit/ nocase
        $glink = /[^a-z]Glink\s*:\s*["'\x60](https?:)?\/\//
        $checkbox_selector = /["']input\s*,\s*select\s*,\s*textarea\s*,\s*checkbox/ nocase
    condition:
        2 of them
}

rule SG428_eval_of_decoded_code
{
    meta:
        id = "SG428"
        severity = "low"
        confidence = "low"
        title = "Decoded string executed"
        description = "A string is decoded (atob, unescape, fromCharCode) or unpacked and passed straight to eval or Function, or eval is reached through a bracket lookup such as this['eval']. Skimmers and loaders hide their code this way; some packers do too."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Dean Edwards packer output and similar legacy packers."
        language = "js"
    strings:
        $eval_decoded = /eval\s*\)?\s*\(\s*(window\s*\.\s*|this\s*\.\s*)?(atob|unescape|decodeURIComponent|String\s*\.\s*fromCharCode)\s*\(/
        $bracket_eval = /(this|window|self|top|globalThis)\s*\[\s*["']eval["']\s*\]\s*\(/
        $function_decoded = /new\s+Function\s*\(\s*(window\s*\.\s*)?(atob|unescape|decodeURIComponent)\s*\(/
        $packer = /eval\s*\(\s*function\s*\(\s*p\s*,\s*a\s*,\s*c\s*,\s*k\s*,\s*e\s*,\s*[dr]\s*\)/
    condition:
        any of them
}

/*
 * Obfuscation runtimes. A skimmer that hides its strings or code needs a decoder that ships with
 * it; the normalizer undoes the common, data-only encodings (escapes, atob, obfuscator.io string
 * arrays), these rules describe the decoders it cannot undo. Commercial obfuscators put the same
 * decoders into benign code (including payment SDKs), so a decoder alone is medium, a decoder whose
 * output is run is high at low confidence (suspicious, not convicted), and a decoder in code with
 * card, checkout or exfiltration traits adds a medium hit: suspicious, convicted only by the
 * behaviour rules that see through the obfuscation.
 */

rule SG451_custom_string_decoder
{
    meta:
        id = "SG451"
        severity = "medium"
        confidence = "medium"
        title = "Custom string decoder of an obfuscator runtime"
        description = "The code carries its own string decoder of a kind only obfuscator runtimes use: a seeded character permutation (characters copied into an array, swapped at indices computed from a seed rather than drawn at random, joined again), a repeating-key XOR of two strings, a word-table unpacker (arguments split on spaces, tokens replaced through a char-code table), a marker table rebuilt with fromCharCode, or names assembled from pieces picked by constant comparisons ('f'+(61>41?'r':'m')). Skimmers such as the Smith & Wesson and JScrambler-protected kits hide their strings this way; minifiers and bundlers never emit it."
        references = "https://www.sansec.io/research/smith-and-wesson-skimmer, https://jscrambler.com/blog/jscrambler-101-self-defending"
        false_positives = "Benign code protected with a commercial obfuscator (JScrambler and similar)."
        language = "js"
    strings:
        // f[a] = k.charAt(a) ... f[t] = f[b]; f[b] = h ... f.join('')
        $perm_fill = /[\w$]{1,12}\[[\w$]{1,12}\]\s*=\s*[\w$]{1,12}\s*(\.|\[\s*["'])charAt(["']\s*\])?\s*\(\s*[\w$]{1,12}\s*\)/
        $perm_swap = /[\w$]{1,12}\[[\w$]{1,12}\]\s*=\s*[\w$]{1,12}\[[\w$]{1,12}\]\s*[;,]\s*[\w$]{1,12}\[[\w$]{1,12}\]\s*=\s*[\w$]{1,12}\s*[;,}\n]/
        $perm_join = /(\.|\[\s*["'])join(["']\s*\])?\s*\(/
        // the swap indices are computed, not drawn: a shuffle with Math.random is not a decoder
        $perm_random = "Math.random"
        $xor_two_strings = /fromCharCode(["']\s*\])?\s*\(\s*[\w$.]{1,24}\s*(\.|\[\s*["'])charCodeAt(["']\s*\])?\s*\([^()]{1,30}\)\s*\^\s*[\w$.]{1,24}\s*(\.|\[\s*["'])charCodeAt/
        $word_table = /arguments\s*\[\s*[\w$]{1,12}\s*\]\s*(\.|\[\s*["'])split(["']\s*\])?\s*\(\s*\\?["'] \\?["']\s*\)/
        $marker_table = /split(["']\s*\])?\s*\(\s*[\w$]{1,12}\s*\+\s*[\w$]{1,12}\s*(\.|\[\s*["'])charAt(["']\s*\])?\s*\(\s*[\w$]{1,12}\s*\)\s*\)\s*(\.|\[\s*["'])join(["']\s*\])?\s*\(\s*String\s*(\.|\[\s*["'])fromCharCode/
        $opaque_piece = /["'][^"'\n]{0,20}["']\s*\+\s*\(\s*\d{1,4}\s*[<>]=?\s*\d{1,4}\s*\?\s*["']/
    condition:
        any of ($xor_two_strings, $word_table, $marker_table) or #opaque_piece >= 3 or
        for any i in (1..#perm_fill) : (
            for any j in (1..#perm_swap) : (
                @perm_swap[j] > @perm_fill[i] and @perm_swap[j] < @perm_fill[i] + 600 and
                not for any m in (1..#perm_random) : ( @perm_random[m] > @perm_fill[i] and @perm_random[m] < @perm_swap[j] ) and
                for any k in (1..#perm_join) : ( @perm_join[k] > @perm_swap[j] and @perm_join[k] < @perm_swap[j] + 600 )
            )
        )
}

rule SG452_decoded_code_executed
{
    meta:
        id = "SG452"
        severity = "high"
        confidence = "low"
        title = "Self-decoding code: a custom decoder whose output is run"
        description = "A hand-written decoding loop (char-code shift or XOR, hex or base-36 pairs, a substitution alphabet, a character permutation) sits within 1500 bytes of eval, Function, a constructor call or a name decoded from a literal (such as a hidden 'constructor'), or document.write; or the code is a word-table unpacker, or runs a string literal written almost entirely in escapes. Loaders of skimmers unpack their real code this way so that no URL or keyword is visible; benign code has no reason to run text it decoded itself."
        references = "https://www.sansec.io/research/smith-and-wesson-skimmer, https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Code protected by an obfuscator that packs whole functions, old packers, e-mail address obfuscators (all made suspicious, never convicted by this rule)."
        language = "js"
    strings:
        $d_perm = /[\w$]{1,12}\[[\w$]{1,12}\]\s*=\s*[\w$]{1,12}\s*(\.|\[\s*["'])charAt(["']\s*\])?\s*\(\s*[\w$]{1,12}\s*\)/
        $d_xor = /fromCharCode(["']\s*\])?\s*\(\s*[\w$.]{1,24}\s*(\.|\[\s*["'])charCodeAt(["']\s*\])?\s*\([^()]{1,30}\)\s*\^\s*[\w$.]{1,24}\s*(\.|\[\s*["'])charCodeAt/
        $d_marker = /split(["']\s*\])?\s*\(\s*[\w$]{1,12}\s*\+\s*[\w$]{1,12}\s*(\.|\[\s*["'])charAt(["']\s*\])?\s*\(\s*[\w$]{1,12}\s*\)\s*\)\s*(\.|\[\s*["'])join(["']\s*\])?\s*\(\s*String\s*(\.|\[\s*["'])fromCharCode/
        $d_shift = /fromCharCode(["']\s*\])?\s*\(\s*[\w$.]{1,24}\s*(\.|\[\s*["'])charCodeAt(["']\s*\])?\s*\([^()]{1,30}\)\s*[-+^%]\s*[\w$.()]{1,24}\s*\)/
        $d_pairs = /fromCharCode(["']\s*\])?\s*\(\s*parseInt(["']\s*\])?\s*\(\s*[\w$.]{1,24}\s*(\.|\[\s*["'])(substr|substring|slice)(["']\s*\])?\s*\([^()]{1,30}\)\s*,\s*[\w$]{1,6}\s*\)/
        $d_subst = /charAt(["']\s*\])?\s*\(\s*[\w$.]{1,24}\s*(\.|\[\s*["'])indexOf(["']\s*\])?\s*\(/
        $d_opaque = /["'][^"'\n]{0,20}["']\s*\+\s*\(\s*\d{1,4}\s*[<>]=?\s*\d{1,4}\s*\?\s*["']/
        // eval, Function, x.constructor(...), [].filter.constructor, decoder('literal').substr(0, n), document.write
        $exec = /([^\w$.]eval|(window|self|this|top|globalThis)\s*\.\s*eval|["']eval["']\s*\])\s*\(|[^\w$.]Function\s*\(|(\.|\[\s*["'])constructor(["']\s*\])?\s*\(|(\.|\[\s*["'])(filter|map|sort|fill|constructor|call|bind|apply)(["']\s*\])?\s*(\.|\[\s*["'])constructor[^\w$]|[\w$]{1,12}\s*\(\s*["'][A-Za-z]{8,40}["']\s*\)\s*(\.|\[\s*["'])(substr|substring|slice)(["']\s*\])?\s*\(\s*0\s*,|document\s*(\.|\[\s*["'])\s*write(ln)?(["']\s*\])?\s*\(/
        $word_table = /arguments\s*\[\s*[\w$]{1,12}\s*\]\s*(\.|\[\s*["'])split(["']\s*\])?\s*\(\s*\\?["'] \\?["']\s*\)/
        // eval("\x76\x61\x72...") : six escapes among the first characters of the literal
        $escaped_exec = /([^\w$.]eval|["']eval["']\s*\]|[^\w$.]Function|document\s*(\.|\[\s*["'])\s*write(ln)?(["']\s*\])?)\s*\(\s*["'](\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|[^"'\\\n]){0,6}(\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4})[^"'\\\n]{0,3}(\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4})[^"'\\\n]{0,3}(\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4})[^"'\\\n]{0,3}(\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4})[^"'\\\n]{0,3}(\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4})[^"'\\\n]{0,3}(\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4})/
    condition:
        $word_table or $escaped_exec or
        for any i in (1..#exec) : (
            for any of ($d_*) : ( for any j in (1..#) : ( @[j] > @exec[i] - 1500 and @[j] < @exec[i] + 1500 ) )
        )
}

rule SG453_obfuscated_card_code
{
    meta:
        id = "SG453"
        severity = "medium"
        confidence = "medium"
        title = "Obfuscator runtime in code that handles card data or checkout"
        description = "A custom string decoder or self-decoding code (SG451, SG452) appears in the same script as card field names, a checkout URL gate, a collector URL, a hidden URL, an image beacon with data, encoded form data or a whole-form harvest. Payment code is sometimes minified but has no reason to hide its own strings from the shop that runs it; skimmers hide exactly the parts that would give them away and leave the rest."
        references = "https://www.sansec.io/research/smith-and-wesson-skimmer, https://owasp.org/www-community/attacks/Magecart"
        false_positives = "A payment or checkout script protected by a commercial obfuscator."
        language = "js"
    condition:
        (SG451_custom_string_decoder or SG452_decoded_code_executed) and
        (SG401_card_field_names or SG402_platform_card_fields or SG404_checkout_url_gate or SG405_collector_url_shape or
         SG406_image_beacon_with_data or SG408_encoded_serialized_data or SG410_card_field_name_list or
         SG412_hidden_url_literal or SG420_form_harvest_to_absolute_url)
}

rule SG454_operator_proxy_functions
{
    meta:
        id = "SG454"
        severity = "low"
        confidence = "medium"
        title = "Operator proxy functions of a commercial obfuscator"
        description = "The code defines six or more tiny functions that only apply an operator to their two arguments (function(x,y){return x!==y;}) and three or more identity functions (function(y){return y;}). JScrambler-style obfuscators replace every operator with such proxies to defeat reading and pattern matching; skimmer kits use these obfuscators. Hand-written and minified code keeps its operators."
        references = "https://jscrambler.com/blog/jscrambler-101-self-defending"
        false_positives = "Benign code protected with a commercial obfuscator."
        language = "js"
    strings:
        $proxy = /[,{;]\s*(["'][\w$]{1,12}["']|[\w$.]{1,14})\s*[:=]\s*function\s*\(\s*[\w$]{1,10}\s*,\s*[\w$]{1,10}\s*\)\s*\{\s*return\s+[\w$]{1,10}\s*(===|!==|==|!=|<=|>=|<|>|\*|-|\+|%|\/|&|\||\^|<<|>>>|>>)\s*[\w$]{1,10}\s*;?\s*\}/
        $identity = /[,{;]\s*[\w$.]{1,14}\s*[:=]\s*function\s*\(\s*[\w$]{1,3}\s*\)\s*\{\s*return\s+[\w$]{1,3}\s*;?\s*\}/
    condition:
        #proxy >= 6 and #identity >= 3
}

rule SG455_checkout_button_rewired
{
    meta:
        id = "SG455"
        severity = "medium"
        confidence = "medium"
        title = "Checkout buttons rewired or hooked by their own handlers"
        description = "The code selects checkout buttons by the shop's own handlers (onclick='payment.save()', checkout.save(), review.save()) or by their well-known IDs (place-order, checkout-onepage-button, onestepcheckout-place-order) and replaces their onclick attribute or hooks a click listener onto them. Skimmers do this to run their own step first: steal the form, show a fake payment form or redirect to a fake payment page. A shop changes its checkout in templates, not by rewriting its buttons at run time."
        references = "https://sansec.io/research/fake-payment-form, https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Checkout customisations that patch the buttons of an old one-page checkout at run time."
        language = "js"
    strings:
        // a new handler (a string of code or a function), not null or '' to switch the old one off
        $rewire = /(\.|\[\s*["'])(attr|setAttribute|prop)(["']\s*\])?\s*\(\s*["']onclick["']\s*,\s*(["'\x60][^"'\x60\s]|function\s*\()/ nocase
        $onclick_assign = /(\.|\[\s*["'])onclick(["']\s*\])?\s*=\s*(["'\x60][^"'\x60\s]|function\s*\(|[\w$]{1,30}\s*[;,\n])/
        $hook = /addEventListener(["']\s*\])?\s*\(\s*["'](click|mousedown|mouseup|submit)["']/
        $step_selector = /onclick\s*[\^$*|~]?=\s*\\?["']?\s*(checkout|payment|review|billing|shipping|shippingMethod|order|onestep[a-z]{0,20})\s*\.\s*(save|submit|place)/ nocase
        $place_button = /(checkout-onepage-butto[mn]|onestepcheckout-(button-)?place-order|place-?order|checkout-review-button|review-buttons-container|payment-buttons-container|btn-checkout|onestepcheckout-button)/
    condition:
        for any i in (1..#rewire) : (
            for any of ($step_selector, $place_button) : ( for any j in (1..#) : ( @[j] > @rewire[i] - 300 and @[j] < @rewire[i] + 300 ) )
        ) or
        for any i in (1..#onclick_assign) : (
            for any j in (1..#step_selector) : ( @step_selector[j] > @onclick_assign[i] - 300 and @step_selector[j] < @onclick_assign[i] + 300 )
        ) or
        for any i in (1..#hook) : (
            for any j in (1..#step_selector) : ( @step_selector[j] > @hook[i] - 300 and @step_selector[j] < @hook[i] )
        )
}

rule SG456_redirect_with_encoded_data
{
    meta:
        id = "SG456"
        severity = "medium"
        confidence = "medium"
        title = "Page sent to a hard-coded address with encoded data"
        description = "The page is navigated (location, location.assign/replace, window.open, jQuery attr('href')) to a hard-coded absolute URL with base64 or JSON data appended. Skimmers hand the shopper, together with the order or form data, to a fake payment page on their own host this way; redirects of benign code carry a return URL, not encoded page data."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Single sign-on or payment redirects that base64 a state object into the URL."
        language = "js"
    strings:
        $nav = /(location\s*(["']\s*\])?\s*((\.|\[\s*["'])href(["']\s*\])?)?\s*=|location\s*(\.|\[\s*["'])(assign|replace)(["']\s*\])?\s*\(|attr\s*\(\s*["']href["']\s*,|window\s*(\.|\[\s*["'])open\s*\()\s*["'\x60](https?:)?\/\/[^"'\x60\s]{3,200}["'\x60]\s*\+\s*(window\s*\.\s*)?(btoa\s*\(|encodeURIComponent\s*\(\s*(btoa|JSON)|escape\s*\(\s*(btoa|JSON)|JSON\s*\.\s*stringify)/
    condition:
        $nav
}
