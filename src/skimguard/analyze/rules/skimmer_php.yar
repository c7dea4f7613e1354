/*
 * skimguard: server-side (PHP) traits of skimmers and of the backdoors that plant them.
 * Same meta contract and the same "traits, not verdicts" policy as skimmer_js.yar. A superglobal
 * spelled [$\xff][_\xff]POST steers yara-x's atom to a rarer word of the pattern (see the
 * header of skimmer_server.yar).
 */

rule SG429_php_reads_card_data
{
    meta:
        id = "SG429"
        severity = "info"
        confidence = "low"
        title = "PHP reads card data"
        description = "PHP code reads card fields from the request or the order payment (cc_number, cvv, getCcNumber()). Payment modules do this; server-side skimmers do too, so it only counts with a sink."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Payment gateway modules and order admin code."
        language = "php"
    strings:
        $request = /\$_(POST|REQUEST|GET|COOKIE)\s*\[\s*\\?["'][a-z_]{0,20}(payment|cc_?number|ccnum|card_?num(ber)?|cvv2?|cvc|cc_?cid|csc|cc_exp(_month|_year)?|exp(iry|iration)?_?(date|month|year))\\?["']\s*\]/ nocase
        $getter = /->getCc(Number|Cid|ExpMonth|ExpYear|Owner)\s*\(/
        $key = /\\?["']cc_(number|cid|exp_month|exp_year)\\?["']/
    condition:
        any of them
}

rule SG430_php_mails_card_data
{
    meta:
        id = "SG430"
        severity = "high"
        confidence = "medium"
        title = "PHP e-mails card data or sends it to a chat bot"
        description = "PHP code that reads card fields also calls mail() or wp_mail(), or talks to a Telegram bot or Discord webhook. Server-side skimmers and phishing kits send stolen cards to a drop box this way; payment code never e-mails card numbers."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "None known."
        language = "php"
    strings:
        $request = /\$_(POST|REQUEST|GET|COOKIE)\s*\[\s*\\?["'][a-z_]{0,20}(payment|cc_?number|ccnum|card_?num(ber)?|cvv2?|cvc|cc_?cid|csc)\\?["']\s*\]/ nocase
        $getter = /->getCc(Number|Cid)\s*\(/
        $key = /\\?["']cc_(number|cid)\\?["']/
        $mail = /[^a-zA-Z0-9_>:$](wp_)?mail\s*\(/
        $chat_bot = /(api\.telegram\.org\/bot|discord(app)?\.com\/api\/webhooks\/)/ nocase
    condition:
        any of ($mail, $chat_bot) and any of ($request, $getter, $key)
}

rule SG431_php_posts_card_data
{
    meta:
        id = "SG431"
        severity = "low"
        confidence = "low"
        title = "PHP sends card data to a hard-coded URL"
        description = "PHP code that reads card fields or the order payment also makes an outbound HTTP request to a hard-coded absolute URL (curl, fsockopen, file_get_contents, wp_remote_post). Server-side skimmers forward orders this way; genuine gateway modules also talk to their provider, so check the host."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Payment gateway modules posting to their provider's API."
        language = "php"
    strings:
        $request = /\$_(POST|REQUEST)\s*\[\s*\\?["'][a-z_]{0,20}(payment|cc_?number|ccnum|card_?num(ber)?|cvv2?|cvc|cc_?cid|csc)\\?["']\s*\]/ nocase
        $getter = /->getCc(Number|Cid)\s*\(/
        $payment = /->getPayment\s*\(\s*\)/
        $net = /(curl_exec\s*\(|[^a-z_]fsockopen\s*\(|stream_socket_client\s*\(|file_get_contents\s*\(\s*["']https?:|wp_remote_post\s*\()/ nocase
        $url = /["']https?:\/\/[a-z0-9][a-z0-9.\-]{2,80}(:\d{2,5})?\/[^"'\s]{0,200}["']/ nocase
    condition:
        $net and $url and any of ($request, $getter, $payment)
}

rule SG432_php_appends_to_static_file
{
    meta:
        id = "SG432"
        severity = "high"
        confidence = "medium"
        title = "PHP appends request or card data to an image, style or script file"
        description = "Request, cookie or card data is appended to a file named like an image, style sheet or script. Server-side skimmers store stolen cards in web-readable files disguised as media and download them later."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "None known; image uploads overwrite files instead of appending request data."
        language = "php"
    strings:
        $open_static = /(fopen|file_put_contents)\s*\([^;]{0,200}\.(jpe?g|gif|png|ico|svg|css|js|bmp|webp|woff2?|ttf)\\?["']/ nocase
        $name_static = /\$[a-z_0-9]{1,40}\s*=\s*["'][^"'\n]{1,160}\.(jpe?g|gif|png|ico|svg|css|js|bmp|webp|woff2?|ttf)["']\s*;/ nocase
        $append = /(fopen\s*\([^;]{1,200},\s*\\?["']a\+?b?\\?["']\s*\)|FILE_APPEND)/
        $write = /(fwrite|fputs|file_put_contents)\s*\(/
        $data = /(\$_(POST|REQUEST|COOKIE)|getCc(Number|Cid)|cc_number|[^a-z]cvv)/ nocase
    condition:
        $append and $write and $data and
        ($open_static or
         for any i in (1..#name_static) : (
             for any j in (1..#append) : ( @append[j] > @name_static[i] and @append[j] < @name_static[i] + 1500 )
         ))
}

rule SG433_php_records_whole_request
{
    meta:
        id = "SG433"
        severity = "low"
        confidence = "low"
        title = "PHP records or forwards the whole request body"
        description = "The entire POST or REQUEST array is serialized (json_encode, serialize, print_r, http_build_query) and written, mailed or sent close by. Server-side skimmers capture every submitted form this way; debug logging does the same."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Debug logging of requests left in production code."
        language = "php"
    strings:
        $dump = /((json_encode|serialize|http_build_query|print_r|var_export|implode|base64_encode)\s*\(\s*(["'][^"']{0,10}["']\s*,\s*)?\$_(POST|REQUEST)|=\s*\$_(POST|REQUEST)\s*;)/ nocase
        $sink = /(fwrite|fputs|file_put_contents|[^a-z_>:$]mail|curl_exec|[^a-z_]fsockopen)\s*\(/ nocase
    condition:
        for any i in (1..#dump) : (
            for any j in (1..#sink) : ( @sink[j] > @dump[i] - 2000 and @sink[j] < @dump[i] + 2000 )
        )
}

rule SG434_php_script_injection_into_shop
{
    meta:
        id = "SG434"
        severity = "medium"
        confidence = "medium"
        title = "PHP writes a script tag into shop configuration or templates"
        description = "PHP code puts a <script> into Magento's design/head or footer configuration (core_config_data) or writes it into a template file (twig, phtml, tpl). Attackers persist skimmer loaders this way, because the tag then appears on every page."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Installers of tag-manager modules that write their snippet into the head configuration."
        language = "php"
    strings:
        $config_path = /design\/(head|footer)\/(includes|absolute_footer|miscellaneous_scripts)/ nocase
        $config_sql = /(UPDATE|INSERT\s+INTO)\s+[\x60'"]?[a-z_0-9]{0,20}core_config_data/ nocase
        $template_write = /(file_put_contents|fopen)\s*\([^;]{0,200}\.(twig|phtml|tpl)["']/ nocase
        $script = /<script/ nocase
    condition:
        $script and any of ($config_path, $config_sql, $template_write)
}

rule SG435_php_hook_prints_external_script
{
    meta:
        id = "SG435"
        severity = "low"
        confidence = "low"
        title = "WordPress hook prints an external script"
        description = "A WordPress or WooCommerce hook (wp_head, wp_footer, woocommerce_*) prints a script tag with an absolute src. WordPress skimmers are injected this way; many legitimate plugins do it too, so check the host."
        references = "https://developer.wordpress.org/reference/hooks/wp_head/"
        false_positives = "Analytics, chat and payment plugins that print their snippet."
        language = "php"
    strings:
        $hook = /add_action\s*\(\s*["'](wp_head|wp_footer|wp_print_scripts|login_head|admin_head|woocommerce_[a-z_]{3,60})["']/ nocase
        $script = /<script[^>]{0,120}src\s*=\s*\\?["']?(https?:)?\/\/[a-z0-9]/ nocase
    condition:
        for any i in (1..#hook) : (
            for any j in (1..#script) : ( @script[j] > @hook[i] - 1500 and @script[j] < @hook[i] + 1500 )
        )
}

rule SG436_php_checkout_gated_action
{
    meta:
        id = "SG436"
        severity = "high"
        confidence = "medium"
        title = "PHP acts only on checkout requests"
        description = "PHP tests the request URI for checkout or payment paths (or against an encoded pattern) and then writes, mails or forwards data, or prints a script fetched remotely or decoded at run time. Shop code routes by controller, not by matching the URI; skimmers gate on it to stay quiet elsewhere."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Hand-written theme code that logs checkout requests."
        language = "php"
    strings:
        $uri = /\$_SERVER\s*\[\s*\\?["'](REQUEST_URI|PHP_SELF|SCRIPT_NAME|HTTP_REFERER|QUERY_STRING)\\?["']\s*\]/
        $check = /((strpos|stripos|strstr|stristr|preg_match)\s*\(([^;\n]{0,120}(checkout|one(page|step)|firecheckout|payment)|[^;\n]{0,20}(base64_decode|str_rot13|strrev|gzinflate)\s*\()|str_contains\s*\([^;\n]{0,120}(checkout|one(page|step)|firecheckout|payment))/ nocase
        $act = /(fwrite|fputs|file_put_contents|[^a-z_>:$]mail|curl_exec|[^a-z_]fsockopen)\s*\(/ nocase
        $echo_script = /(echo|print)\s*\(?\s*["'][^"';]{0,40}<script/ nocase
        $hidden = /(file_get_contents\s*\(\s*\$|strrev\s*\(|base64_decode\s*\(|gzinflate\s*\(|curl_exec\s*\()/ nocase
    condition:
        $uri and
        for any i in (1..#check) : (
            for any j in (1..#act) : ( @act[j] > @check[i] and @act[j] < @check[i] + 1500 ) or
            (for any j in (1..#echo_script) : ( @echo_script[j] > @check[i] and @echo_script[j] < @check[i] + 1500 )
             and $hidden)
        )
}

rule SG437_php_eval_of_decoded_code
{
    meta:
        id = "SG437"
        severity = "low"
        confidence = "medium"
        title = "PHP executes decoded code"
        description = "PHP passes decoded data to eval or assert (directly or through a variable), uses the preg_replace /e modifier, or builds code with create_function. Backdoors that plant skimmers hide this way; some encoded commercial extensions look similar."
        references = "https://github.com/jvoisin/php-malware-finder"
        false_positives = "Licence-encoded commercial extensions; very old code using create_function."
        language = "php"
    strings:
        $eval_decoded = /(eval|assert)\s*\(\s*(@\s*)?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|rawurldecode|hex2bin|convert_uudecode)\s*\(/ nocase
        $preg_e = /preg_replace\s*\(\s*["'](\/|#|~|@|!|\|)[^"']{0,120}(\/|#|~|@|!|\|)[imsxuADSUXJ]{0,6}e[imsxuADSUXJ]{0,6}["']\s*,/
        $create_function = /create_function\s*\(/ nocase
        $eval_var = /[^a-z_>:$](eval|assert)\s*(\/\*[^*]{0,40}\*\/\s*)?\(\s*\$[a-z_0-9]{1,40}\s*\)/ nocase
        $decoded_var = /\$[a-z_0-9]{1,40}\s*=\s*@?\s*(base64_decode|gzinflate|str_rot13|strrev)\s*\(\s*["'][A-Za-z0-9+\/=]{40}/ nocase
    condition:
        any of ($eval_decoded, $preg_e, $create_function) or ($eval_var and $decoded_var)
}

rule SG438_php_request_code_execution
{
    meta:
        id = "SG438"
        severity = "medium"
        confidence = "medium"
        title = "PHP executes code or commands from the request"
        description = "Request input goes straight into eval, assert, a shell function, include or a variable function call. This is a web shell, the usual foothold for planting skimmers."
        references = "https://github.com/jvoisin/php-malware-finder"
        false_positives = "None known in production code."
        language = "php"
    strings:
        $exec = /[^a-z_>:$](eval|assert|system|passthru|shell_exec|exec|popen|proc_open|create_function|include|require)(_once)?\s*\(\s*(@\s*)?(stripslashes\s*\(\s*|base64_decode\s*\(\s*|trim\s*\(\s*)?[$\xff][_\xff](GET|POST|REQUEST|COOKIE|SERVER)/ nocase
        $var_function = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]]{1,40}\]\s*\(\s*\$_/
    condition:
        any of them
}

rule SG439_php_stored_card_query
{
    meta:
        id = "SG439"
        severity = "medium"
        confidence = "low"
        title = "PHP collects stored card numbers"
        description = "PHP selects stored encrypted card fields (cc_number_enc, cc_cid_enc) from quote or order payments, or decrypts them. Attackers harvest cards a shop kept by mistake this way; normal code never lists them in bulk."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Data-migration or cleanup scripts for legacy stored cards."
        language = "php"
    strings:
        $enc = /cc_(number|cid)_enc/ nocase
        $collection = /sales\/(quote|order)_payment["'][^;]{0,80}getCollection/ nocase
        $sql = /SELECT[^;]{0,300}cc_(number|cid)_enc/ nocase
        $decrypt = /->decrypt\s*\([^;]{0,80}cc_(number|cid)_enc/ nocase
    condition:
        $enc and any of ($collection, $sql, $decrypt)
}

rule SG457_php_request_log_in_web_root
{
    meta:
        id = "SG457"
        severity = "medium"
        confidence = "medium"
        title = "PHP appends every submitted form to a web-readable file"
        description = "The whole POST, REQUEST or COOKIE array is serialized (json_encode, serialize, print_r, implode, base64_encode...) and appended to a file under the web root: a relative path, the document root, the shop base directory or its media, pub or skin folders. Server-side skimmers collect every checkout this way and later download the file over HTTP; debug logs belong outside the web root."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Careless debug logging into a file next to the script."
        language = "php"
    strings:
        $put = /file_put_contents\s*\(\s*(\\?["'][a-zA-Z0-9_.\-][^"'\n]{0,100}\.(txt|log|html?|dat|db|csv|json|xml|bak)\\?["']|[^,;]{0,80}(DOCUMENT_ROOT|getBaseDir|__DIR__|dirname\s*\(\s*__FILE__|\/media\/|\/pub\/|\/skin\/|\/var\/www)[^,;]{0,120})\s*,\s*[^;]{0,80}(json_encode|serialize|print_r|var_export|implode|http_build_query|base64_encode)\s*\(\s*(\\?["'][^"']{0,10}\\?["']\s*,\s*)?[$\xff][_\xff](POST|REQUEST|COOKIE|GET)[^;]{0,200}FILE_APPEND/ nocase
        $open = /fopen\s*\(\s*(\\?["'][a-zA-Z0-9_.\-][^"'\n]{0,100}\.(txt|log|html?|dat|db|csv|json|xml|bak)\\?["']|[^,;]{0,80}(DOCUMENT_ROOT|getBaseDir|__DIR__|dirname\s*\(\s*__FILE__|\/media\/|\/pub\/|\/skin\/|\/var\/www)[^,;]{0,120})\s*,\s*\\?["']a\+?b?\\?["']\s*\)/ nocase
        $write_dump = /(fwrite|fputs)\s*\(\s*\$\w{1,30}\s*,\s*[^;]{0,80}(json_encode|serialize|print_r|var_export|implode|http_build_query|base64_encode)\s*\(\s*(\\?["'][^"']{0,10}\\?["']\s*,\s*)?[$\xff][_\xff](POST|REQUEST|COOKIE|GET)/ nocase
    condition:
        $put or
        for any i in (1..#open) : (
            for any j in (1..#write_dump) : ( @write_dump[j] > @open[i] and @write_dump[j] < @open[i] + 1500 )
        )
}

rule SG458_php_card_theft
{
    meta:
        id = "SG458"
        severity = "critical"
        confidence = "medium"
        title = "PHP steals card number and security code"
        description = "Within 3000 bytes, PHP reads the card number and its security code (getCcNumber/getCcCid, cc_number/cc_cid, cvv) and sends or keeps them where no payment module would: mail(), a Telegram bot or Discord webhook, a file opened for appending, a cookie, a URL with a bare IP address; or it looks up the shopper's location with a free geolocation service (geoplugin, ip-api...) as carders do to price a card. Gateway modules pass the card to their provider's API and keep at most the last four digits."
        references = "https://github.com/gwillem/magento-malware-scanner, https://www.pcisecuritystandards.org/document_library/"
        false_positives = "Offline-card extensions that e-mail card digits and code to the merchant, itself forbidden (PCI DSS 3.2: the security code is never stored or sent after authorisation)."
        language = "php"
    strings:
        $num = /(->getCcNumber\s*\(|\[\s*\\?["'](cc_?number|ccnum|card_?num(ber)?|cardnumber|currentnumber)\\?["']\s*\])/ nocase
        $cvv = /(->getCcCid\s*\(|\[\s*\\?["'][a-z_]{0,12}(cc_?cid|cvv2?|cvc2?|csc|card_?code|security_?code)\\?["']\s*\])/ nocase
        $drop = /([^a-zA-Z0-9_>:$](wp_)?mail\s*\(|api\.telegram\.org\/bot|discord(app)?\.com\/api\/webhooks\/|FILE_APPEND|fopen\s*\([^;]{1,200},\s*\\?["']a\+?b?\\?["']\s*\)|[^a-zA-Z_]setcookie\s*\(|\\?["']https?:\/\/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}[:\/"'\\]|geoplugin\.net|ip-api\.com|ipinfo\.io|freegeoip|ipapi\.co|binlist\.net|bins\.(su|pro|ws))/
    condition:
        for any i in (1..#drop) : (
            for any j in (1..#num) : ( @num[j] > @drop[i] - 3000 and @num[j] < @drop[i] + 3000 ) and
            for any k in (1..#cvv) : ( @cvv[k] > @drop[i] - 3000 and @cvv[k] < @drop[i] + 3000 )
        )
}

rule SG459_php_forwards_password
{
    meta:
        id = "SG459"
        severity = "high"
        confidence = "medium"
        title = "PHP forwards a plain-text login password"
        description = "A login password (['password'], a POST field, getPassword()) is concatenated after a 'Password:' style label and, within 2000 bytes, mailed, posted with curl, fetched as a URL, sent to a chat bot or written to a file. Credential stealers planted in shop login controllers report admin and customer passwords this way; real login code hashes the password and never sends it anywhere."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "None known."
        language = "php"
    strings:
        $label = /\\?["'][^"'\n]{0,20}(pass(word)?|pwd)\s*:?\s*[:=]\s*\\?["']\s*\.\s*(\$\w{1,30}\s*\[\s*\\?["'](password|pass|passwd|pwd)\\?["']\s*\]|\$_(POST|REQUEST)\s*\[[^\]]{1,40}\]|\$\w{1,30}\s*->\s*getPassword\s*\()/ nocase
        $sink = /([^a-z0-9_>:$](wp_)?mail\s*\(|curl_exec\s*\(|[^a-z_]fsockopen\s*\(|file_get_contents\s*\(\s*\\?["']https?:|api\.telegram\.org\/bot|FILE_APPEND|fwrite\s*\()/ nocase
    condition:
        for any i in (1..#label) : (
            for any j in (1..#sink) : ( @sink[j] > @label[i] - 2000 and @sink[j] < @label[i] + 2000 )
        )
}

rule SG460_php_timestamp_forgery
{
    meta:
        id = "SG460"
        severity = "medium"
        confidence = "medium"
        title = "PHP writes files and forges their timestamps"
        description = "PHP that writes, copies or downloads files also resets a file's modification time to that of another file (touch -r, or touch() with filemtime()). Attackers who replace core shop files with skimming versions hide the change from file-date checks this way; deployment tools set fresh timestamps."
        references = "https://github.com/gwillem/magento-malware-scanner"
        false_positives = "Backup or mirroring scripts that preserve timestamps."
        language = "php"
    strings:
        $touch_r = /touch\s+-r\s/
        $touch_fn = /[^a-z_>:$]touch\s*\(\s*[^;]{1,120},\s*@?\s*filemtime\s*\(/ nocase
        $write = /((file_put_contents|fwrite|fputs|copy|rename|move_uploaded_file)\s*\(|curl\s+-o\s|wget\s)/
    condition:
        any of ($touch_r, $touch_fn) and $write
}
