/*
 * skimguard: server-side helpers of skimmers: web shells and backdoors, uploaders and file
 * managers, web-server configuration tricks (.htaccess, .user.ini), PHP hidden in images,
 * persistence, and template back doors. Same meta contract as the other rule files.
 *
 * Calibration: these rules describe what a shop's web root never needs. The ones that show
 * request input reaching code, commands or files, a web-shell family, or images run as PHP are
 * critical (a single hit convicts the file); tricks that hide a code or command function, or
 * that install the shell, are high; smells that legitimate sites also show (eval of stacked
 * decoders, which licence encoders of commercial extensions use; an absolute ErrorDocument; an
 * outside script in a payment template) are medium with low confidence. Patterns keep their
 * gaps at 200 bytes or less (yara-x splits longer gaps into chained pieces whose weak atoms cost
 * a scan of every `$`), and proximity beyond that is a condition on match offsets. A word list
 * that follows a long gap is written as a prefix tree (google(bot)?|b(ing(bot)?|aidu)...): the
 * verifier tries every branch at every byte of the gap, so fewer first letters scan faster.
 *
 * Atom steering: yara-x looks for each pattern by one piece of at most 4 bytes (its atom) and runs
 * the expression only where that piece occurs. It ranks pieces by their bytes, not by how rare
 * they are, and "$_GE"/"$_PO" outrank any function name: a pattern that names a superglobal would
 * be run at every $_POST of a file (tens of thousands in a web root), each time through its gaps.
 * A pattern that also names a rarer word (extract, fwrite, fopen, file_put_contents, include,
 * system, preg_replace, call_user_func...) spells the superglobal [$\xff][_\xff]POST instead.
 * The engine scans UTF-8 only, where the byte 0xFF never occurs, so the pattern matches exactly
 * what \$_POST matches (the webroot prefilter, on raw bytes, may pass a file more: never
 * unsound); the 0xFF demotes every piece of the superglobal (GET keeps only 3 letters) and the
 * rarer word becomes the atom. Patterns whose only word is the superglobal keep \$_.
 *
 * Request input is $_GET/$_POST/$_REQUEST/$_COOKIE/$_FILES, the HTTP_* headers in $_SERVER (also
 * through getenv), $HTTP_*_VARS and php://input; command-line arguments ($_SERVER['argv']) are not.
 */

rule SG461_php_request_input_run_as_code
{
    meta:
        id = "SG461"
        severity = "critical"
        confidence = "high"
        title = "PHP runs request input as PHP code"
        description = "Request input (a GET, POST or cookie value, an HTTP header, php://input, an uploaded file) reaches eval, assert, create_function or the preg_replace /e modifier, possibly through decoders or a variable set just before; is included as a file; is called as a function or passed as the callback of call_user_func, array_map, usort and friends; or is spread into variables by extract() right before a variable function call. Each is a web shell: whoever knows the parameter runs any code on the shop server, and skimmers are planted this way."
        references = "https://github.com/jvoisin/php-malware-finder, https://www.php.net/manual/en/function.extract.php"
        false_positives = "None known in production code; interactive PHP consoles left on a server are web shells too."
        language = "php"
    strings:
        $eval = /[^a-z0-9_>:$](eval|assert|create_function)\s*\(\s*(["'][^"']{0,30}["']\s*,\s*)?(@\s*)?([a-z0-9_]{2,30}\s*\(\s*(@\s*)?){0,5}(\$_(GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*["']HTTP_|\$HTTP_(GET|POST|COOKIE)_VARS|file_get_contents\s*\(\s*["']php:\/\/input|getenv\s*\(\s*["']HTTP_)/ nocase
        $include = /[^a-z0-9_>:$](include|require)(_once)?\s*\(?\s*(@\s*)?([$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[|[$\xff][_\xff]FILES\s*\[[^\]]{1,40}\]\s*\[\s*["']tmp_name)/ nocase
        $request_var = /\$[a-z_][a-z0-9_]{0,30}\s*=\s*\(?\s*@?\s*([a-z0-9_]{2,30}\s*\(\s*){0,3}(\$_(GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*["']HTTP_|\$HTTP_(GET|POST|COOKIE)_VARS|file_get_contents\s*\(\s*["']php:\/\/input|getenv\s*\(\s*["']HTTP_)/ nocase
        $eval_var = /[^a-z0-9_>:$](eval|assert)\s*\(\s*(@\s*)?([a-z0-9_]{2,30}\s*\(\s*){0,3}\$[a-z_][a-z0-9_]{0,30}\s*\)/ nocase
        $preg_e = /preg_replace\s*\(\s*["'](\/|#|~|@|!|\|)[^"']{0,120}(\/|#|~|@|!|\|)[imsxuADSUXJ]{0,6}e[imsxuADSUXJ]{0,6}["']\s*,[^;]{0,300}([$\xff][_\xff](GET|POST|REQUEST|COOKIE)\b|[$\xff][_\xff]SERVER\s*\[\s*["']HTTP_)/
        $called = /(\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\n]{1,40}\]|\$_SERVER\s*\[\s*["']HTTP_[A-Z_]{1,40}["']\s*\])\s*\(/
        $callback_first = /[^a-z0-9_>:$](call_user_func(_array)?|array_map|register_shutdown_function|register_tick_function|forward_static_call(_array)?|ob_start|set_error_handler|set_exception_handler|header_register_callback|spl_autoload_register)\s*\(\s*(@\s*)?([$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[|[$\xff][_\xff]SERVER\s*\[\s*["']HTTP_)/ nocase
        $callback_second = /[^a-z0-9_>:$](usort|uasort|uksort|array_filter|array_walk|array_walk_recursive|array_reduce|preg_replace_callback|iterator_apply)\s*\(\s*[^,;()]{1,120},\s*(@\s*)?([$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[|[$\xff][_\xff]SERVER\s*\[\s*["']HTTP_)/ nocase
        $extract_call = /[^a-z0-9_>:$]extract\s*\(\s*[$\xff][_\xff](GET|POST|REQUEST|COOKIE)\b[\s\S]{0,200}[^a-z0-9_>:$\\]\$[a-z_][a-z0-9_]{0,30}\s*\(\s*\$[a-z_][a-z0-9_]{0,30}\s*[,)]/ nocase
    condition:
        any of ($eval, $include, $preg_e, $called, $callback_first, $callback_second, $extract_call) or
        for any i in (1..#request_var) : (
            for any j in (1..#eval_var) : ( @eval_var[j] > @request_var[i] and @eval_var[j] < @request_var[i] + 300 )
        )
}

rule SG462_php_request_input_run_as_command
{
    meta:
        id = "SG462"
        severity = "critical"
        confidence = "high"
        title = "PHP runs request input as a shell command"
        description = "Request input (a GET, POST or cookie value, an HTTP header, php://input) reaches system, passthru, shell_exec, exec, popen, proc_open, pcntl_exec or backticks, possibly through decoders or a variable set just before. That is a command shell on the shop server: the classic foothold for planting skimmers and reading the database password."
        references = "https://github.com/jvoisin/php-malware-finder"
        false_positives = "None known in production code."
        language = "php"
    strings:
        $exec = /[^a-z0-9_>:$](system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|expect_popen)\s*\(\s*(@\s*)?([a-z0-9_]{2,30}\s*\(\s*(@\s*)?){0,5}([$\xff][_\xff](GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*["']HTTP_|\$HTTP_(GET|POST|COOKIE)_VARS|file_get_contents\s*\(\s*["']php:\/\/input|getenv\s*\(\s*["']HTTP_)/ nocase
        $request_var = /\$[a-z_][a-z0-9_]{0,30}\s*=\s*\(?\s*@?\s*([a-z0-9_]{2,30}\s*\(\s*){0,3}(\$_(GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*["']HTTP_|\$HTTP_(GET|POST|COOKIE)_VARS|file_get_contents\s*\(\s*["']php:\/\/input|getenv\s*\(\s*["']HTTP_)/ nocase
        $exec_var = /[^a-z0-9_>:$](system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec)\s*\(\s*(@\s*)?([a-z0-9_]{2,30}\s*\(\s*){0,3}["']?\$[a-z_][a-z0-9_]{0,30}\s*["'.,)]/ nocase
        $backtick = /(=|\(|echo|print|return)\s*\x60([^\x60\n"'.]{0,40}[\s{])?\$_(GET|POST|REQUEST|COOKIE)\s*\[/
    condition:
        any of ($exec, $backtick) or
        for any i in (1..#request_var) : (
            for any j in (1..#exec_var) : ( @exec_var[j] > @request_var[i] and @exec_var[j] < @request_var[i] + 300 )
        )
}

rule SG463_php_hidden_code_function
{
    meta:
        id = "SG463"
        severity = "high"
        confidence = "medium"
        title = "PHP reaches a code or command function indirectly"
        description = "A function that runs code or commands (assert, system, passthru, exec, create_function...) is named in base64, rot13, reverse, hex, a run of chr() calls, characters picked one by one from an alphabet string, or a junk-stuffed string (rot13, reversed, hex and junk-stuffed decoder names such as base64_decode count too); passed by name as a callback (array_map('assert', ...), register_shutdown_function('system', ...)); or stored in a variable that is called a few lines later. Web shells hide their dangerous calls this way from scanners that look for the names; real code calls these functions directly. Licence encoders of commercial extensions hide only their decoders (a base64 'base64_decode'), which does not count."
        references = "https://github.com/jvoisin/php-malware-finder, https://www.php.net/manual/en/functions.variable-functions.php"
        false_positives = "Security tools that list these encodings as signatures."
        language = "php"
    strings:
        $b64_name = /["'](YXNzZXJ0|c3lzdGVt|cGFzc3RocnU|c2hlbGxfZXhlYw|Y3JlYXRlX2Z1bmN0aW9u|cHJvY19vcGVu|cGNudGxfZXhlYw|ZXhlYw|cG9wZW4)={0,2}["']/
        $rot13_name = /["'](nffreg|flfgrz|cnffgueh|furyy_rkrp|perngr_shapgvba|onfr64_qrpbqr|tmvasyngr|tmhapbzcerff|cebp_bcra|pnyy_hfre_shap)["']/
        $rev_name = /["'](tressa|metsys|urhtssap|cexe_llehs|noitcnuf_etaerc|edoced_46esab|etalfnizg|sserpmocnuzg|31tor_rts|nepo_corp|cnuf_resu_llac)["']/
        $hex_name = /["'](617373657274|73797374656d|7061737374687275|7368656c6c5f65786563|6372656174655f66756e6374696f6e|6261736536345f6465636f6465|677a696e666c617465|677a756e636f6d7072657373|6576616c28)/ nocase
        $chr_run = /chr\s*\(\s*(9[7-9]|1[01][0-9]|12[0-2]|0x(6[1-9a-f]|7[0-9a])|95)\s*\)\s*\.\s*chr\s*\(\s*(9[7-9]|1[01][0-9]|12[0-2]|0x(6[1-9a-f]|7[0-9a])|95)\s*\)\s*\.\s*chr\s*\(\s*(9[7-9]|1[01][0-9]|12[0-2]|0x(6[1-9a-f]|7[0-9a])|95)\s*\)\s*\.\s*chr\s*\(\s*(9[7-9]|1[01][0-9]|12[0-2]|0x(6[1-9a-f]|7[0-9a])|95)\s*\)\s*\.\s*chr\s*\(/ nocase
        $junk_name = /str_i?replace\s*\(\s*["'][^"'\n]{1,4}["']\s*,\s*["']["']\s*,\s*["'][^"'\n]{0,12}(b[^"'\n]{0,12}a[^"'\n]{0,12}s[^"'\n]{0,12}e[^"'\n]{0,12}6[^"'\n]{0,12}4[^"'\n]{0,12}_[^"'\n]{0,12}d|a[^"'\n]{0,12}s[^"'\n]{0,12}s[^"'\n]{0,12}e[^"'\n]{0,12}r[^"'\n]{0,12}t|c[^"'\n]{0,12}r[^"'\n]{0,12}e[^"'\n]{0,12}a[^"'\n]{0,12}t[^"'\n]{0,12}e[^"'\n]{0,12}_[^"'\n]{0,12}f|g[^"'\n]{0,12}z[^"'\n]{0,12}i[^"'\n]{0,12}n[^"'\n]{0,12}f|s[^"'\n]{0,12}y[^"'\n]{0,12}s[^"'\n]{0,12}t[^"'\n]{0,12}e[^"'\n]{0,12}m)/ nocase
        $junk_literal = /["'][^"'\n]{0,12}b[^"'\n]{1,12}a[^"'\n]{1,12}s[^"'\n]{1,12}e[^"'\n]{1,12}6[^"'\n]{1,12}4[^"'\n]{1,12}_[^"'\n]{1,12}d[^"'\n]{1,12}e[^"'\n]{1,12}c[^"'\n]{1,12}o[^"'\n]{1,12}d[^"'\n]{1,12}e[^"'\n]{0,40}["']/
        $char_picks = /\$[a-z_][a-z0-9_]{0,30}\[[0-9]{1,3}\]( \. |\.)\$[a-z_][a-z0-9_]{0,30}\[[0-9]{1,3}\]( \. |\.)\$[a-z_][a-z0-9_]{0,30}\[[0-9]{1,3}\]( \. |\.)\$[a-z_][a-z0-9_]{0,30}\[[0-9]{1,3}\]( \. |\.)\$[a-z_][a-z0-9_]{0,30}\[[0-9]{1,3}\]( \. |\.)\$[a-z_][a-z0-9_]{0,30}\[[0-9]{1,3}\]/ nocase
        $callback_first = /[^a-z0-9_>:$](call_user_func(_array)?|array_map|register_shutdown_function|register_tick_function|forward_static_call(_array)?|ob_start|set_error_handler|set_exception_handler|header_register_callback|spl_autoload_register)\s*\(\s*["'](assert|system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|create_function)["']/ nocase
        $callback_second = /[^a-z0-9_>:$](usort|uasort|uksort|array_filter|array_walk|array_walk_recursive|array_reduce|preg_replace_callback|iterator_apply|array_udiff|array_uintersect|array_diff_ukey|array_intersect_ukey)\s*\([^;]{1,200},\s*["'](assert|system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|create_function)["']/ nocase
        $reflection = /new\s+ReflectionFunction\s*\(\s*["'](assert|system|passthru|shell_exec|exec|popen|proc_open|create_function)["']/ nocase
        $name_in_var = /=\s*["'](assert|system|passthru|shell_exec|create_function|proc_open|popen|pcntl_exec)["']\s*;[\s\S]{0,200}[^a-z0-9_>:$\\]\$[a-z_][a-z0-9_]{0,30}\s*\(/ nocase
    condition:
        any of them
}

rule SG464_php_superglobal_hidden
{
    meta:
        id = "SG464"
        severity = "high"
        confidence = "medium"
        title = "PHP reaches request input through a hidden name"
        description = "A superglobal is read through a variable variable or an escaped key (${\"_POST\"}, ${'_'.'GET'}, $GLOBALS[\"\\x5f...\"]), or the whole cookie or request array is copied and its elements are called as functions. Back doors do this so that scanners looking for $_POST next to eval see neither; real code has no reason to spell a superglobal indirectly."
        references = "https://github.com/jvoisin/php-malware-finder"
        false_positives = "None known."
        language = "php"
    strings:
        $varvar = /\$\{\s*["']_(GET|POST|REQUEST|COOKIE|SERVER|FILES)["']\s*\}/ nocase
        $varvar_concat = /\$\{\s*["'][A-Za-z_]{0,8}["']\s*\.\s*["'][A-Za-z_]{0,8}["']/
        // an escape as PHP reads it: \x and 1-2 hex digits, or \ and 1-3 octal digits. Only its
        // first digit is matched: a longer tail would make yara-x look for the pattern by the
        // escapes (obfuscated files hold them by the hundred thousand) instead of by the rare ${
        $varvar_escape = /\$\{\s*["'][^"'\n]{0,6}\\(x[0-9a-fA-F]|[0-7])/
        $globals_escape = /\$GLOBALS\s*\[\s*["'][^"'\n]{0,6}\\(x[0-9a-fA-F]|[0-7])/
        $copy_call = /=\s*\$_(COOKIE|POST|REQUEST|GET)\s*;[\s\S]{0,200}\$[a-z_][a-z0-9_]{0,30}\s*\[\s*[0-9]{1,4}\s*\]\s*\(/ nocase
    condition:
        any of them
}

rule SG465_php_layered_decoding_executed
{
    meta:
        id = "SG465"
        severity = "medium"
        confidence = "low"
        title = "PHP executes code peeled from several layers of encoding"
        description = "eval, assert, create_function or the preg_replace /e modifier run the result of two or more nested decoders (gzinflate(base64_decode(...)), str_rot13(gzuncompress(...)), base64_decode(strrev(...))...), directly or through a variable set a few lines before. Malware packs web shells and skimmer droppers this way; licence encoders of commercial extensions do it too, so the payload itself decides (the engine decodes it and scans it again)."
        references = "https://github.com/jvoisin/php-malware-finder"
        false_positives = "Licence-encoded or nulled commercial extensions (treat as untrusted code)."
        language = "php"
    strings:
        $direct = /[^a-z0-9_>:$](eval|assert)\s*\(\s*(@\s*)?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|rawurldecode|urldecode|hex2bin|convert_uudecode|bzdecompress|strtr|str_replace)\s*\(\s*(@\s*)?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|rawurldecode|urldecode|hex2bin|convert_uudecode|bzdecompress|strtr|str_replace)\s*\(/ nocase
        $preg_e = /preg_replace\s*\(\s*["'](\/|#|~|@|!|\|)[^"']{0,120}(\/|#|~|@|!|\|)[imsxuADSUXJ]{0,6}e[imsxuADSUXJ]{0,6}["']\s*,[^;]{0,120}(gzinflate|gzuncompress|str_rot13|base64_decode|strrev)\s*\(/
        $create = /create_function\s*\([^;]{0,80}(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|hex2bin)\s*\(\s*(@\s*)?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|hex2bin)\s*\(/ nocase
        $nested_assign = /\$[a-z_][a-z0-9_]{0,30}\s*=\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|hex2bin|convert_uudecode|bzdecompress)\s*\(\s*(@\s*)?(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|hex2bin|convert_uudecode|bzdecompress)\s*\(/ nocase
        $eval_var = /[^a-z0-9_>:$](eval|assert)\s*\(\s*(@\s*)?\$[a-z_][a-z0-9_]{0,30}\s*\)/ nocase
    condition:
        any of ($direct, $preg_e, $create) or
        for any i in (1..#nested_assign) : (
            for any j in (1..#eval_var) : ( @eval_var[j] > @nested_assign[i] and @eval_var[j] < @nested_assign[i] + 1500 )
        )
}

rule SG466_php_webshell_family
{
    meta:
        id = "SG466"
        severity = "critical"
        confidence = "high"
        title = "Known web shell family"
        description = "The file carries the name or a signature string of a known web-shell family (WSO/FilesMan, b374k, c99, r57, Alfa, P.A.S., IndoXploit, Marijuana, and older kits) and reads request input next to a command, code, upload or file-write function. These kits are the usual back door behind a planted skimmer: they browse and edit the web root, run commands and dump the database."
        references = "https://github.com/jvoisin/php-malware-finder, https://github.com/nikicat/web-malware-collection"
        false_positives = "Signature lists of malware scanners (they name the families but rarely read request input)."
        language = "php"
    strings:
        $m01 = "FilesMan"
        $m02 = "wso_version"
        $m03 = /WSO [0-9]\.[0-9]/
        $m04 = "b374k" nocase
        $m05 = /c99(mad)?sh(ell)?[_ ]/ nocase
        $m06 = /!?C99Shell v/ nocase
        $m07 = "r57shell" nocase
        $m08 = /r57 ?shell/ nocase
        $m09 = /Alfa(Team|[_ ]?Shell|cgiapi)/ nocase
        $m10 = "ALFA_DATA"
        $m11 = "P.A.S. Fork"
        $m12 = /P\.A\.S\. v[0-9]/
        $m13 = "IndoXploit" nocase
        $m14 = "MARIJUANA" nocase
        $m15 = /(Ani-Shell|PHPJackal|CrystalShell|Safe0ver|Antichat Shell|g00nshell|KAdot Universal Shell|h4ntu shell|SnIpEr_SA|DxShell|lamashell|NCC-Shell|GNY\.Shell|SimAttacker|Cyber Shell \(v|Sosyete|cyb3r ?sh3ll|WebShellOrb|0byt3m1n1|Uname:? ?<|FaTaLisTiCz)/ nocase
        $request = /\$_(GET|POST|REQUEST|COOKIE|FILES)\b/
        $capability = /[^a-z0-9_>:$](system|passthru|shell_exec|exec|popen|proc_open|eval|assert|move_uploaded_file|file_put_contents|fwrite|fputs|unlink|chmod)\s*\(/ nocase
    condition:
        any of ($m*) and $request and $capability
}

rule SG467_php_webshell_panel
{
    meta:
        id = "SG467"
        severity = "high"
        confidence = "medium"
        title = "Web shell control panel: server recon, file manager and commands"
        description = "One PHP file reads request input, runs a command or code function on a variable, and shows at least five of the usual web-shell panel traits: server fingerprinting (php_uname, posix_getpwuid, uname -a, disk space, safe_mode and disable_functions checks), file management (directory listing, permissions, chmod, delete, upload), back-connect sockets, /etc/passwd, or silenced errors and no time limit. Shop code never needs to be a remote console."
        references = "https://github.com/nikicat/web-malware-collection"
        false_positives = "Server administration panels installed in the web root (which are web shells by another name)."
        language = "php"
    strings:
        $request = /\$_(GET|POST|REQUEST|COOKIE)\s*\[/
        $command_input = /<input[^>]{0,80}name\s*=\s*\\?["']?-?(cmd|command|execute|komut)\b/ nocase
        $exec_var = /[^a-z0-9_>:$](system|passthru|shell_exec|exec|popen|proc_open|eval|assert)\s*\(\s*(@\s*)?\$[a-z_]/ nocase
        $t01 = /php_uname\s*\(/ nocase
        $t02 = /posix_get(pwuid|grgid|euid|egid)\s*\(/ nocase
        $t03 = "disable_functions"
        $t04 = /ini_get\s*\(\s*["']safe_mode["']/ nocase
        $t05 = /disk_(free|total)_space\s*\(/ nocase
        $t06 = /fileperms\s*\(/ nocase
        $t07 = /[^a-z0-9_>:$]chmod\s*\(\s*\$/ nocase
        $t08 = /move_uploaded_file\s*\(/ nocase
        $t09 = /(fsockopen|socket_create|stream_socket_client)\s*\(/ nocase
        $t10 = "/etc/passwd"
        $t11 = /uname -a/
        $t12 = /set_time_limit\s*\(\s*0\s*\)/
        $t13 = /error_reporting\s*\(\s*0\s*\)/
        $t14 = /(opendir|scandir|readdir)\s*\(/ nocase
        $t15 = /[^a-z0-9_>:$](unlink|rmdir)\s*\(\s*\$/ nocase
        $t16 = /(getmyuid|get_current_user|getmypid)\s*\(/ nocase
        $t17 = /open_basedir/
        $t18 = /[^a-z0-9_>:$](system|passthru|shell_exec|exec|popen)\s*\(\s*["'](whoami|pwd|id|uname|ls -la|ps aux|netstat|ifconfig|cat \/etc)/ nocase
    condition:
        ($request or $command_input) and $exec_var and 5 of ($t*)
}

rule SG468_php_password_gated_backdoor
{
    meta:
        id = "SG468"
        severity = "critical"
        confidence = "high"
        title = "PHP back door behind a hard-coded password hash"
        description = "A request value is hashed (md5, sha1, crypt, hash) and compared with a hard-coded hash, and the file evaluates code, runs a command or stores an upload (anywhere: the gate usually guards the whole file), or within a few lines includes or writes a file. That is an attacker's private back door: only the one who knows the password can use it, and scanners that try the file see nothing. Real login code compares against a stored hash with password_verify, not a literal next to eval."
        references = "https://github.com/jvoisin/php-malware-finder"
        false_positives = "None known."
        language = "php"
    strings:
        $gate1 = /(md5|sha1|crypt|hash\s*\(\s*["'][a-z0-9]{3,10}["']\s*,)\s*\(?\s*(@\s*)?[$\xff][_\xff](GET|POST|REQUEST|COOKIE|SERVER)\s*\[[^\]]{1,60}\]\s*\)\s*(===?|!==?)\s*["'][0-9a-fA-F]{32,128}["']/ nocase
        $gate2 = /["'][0-9a-fA-F]{32,128}["']\s*(===?|!==?)\s*(md5|sha1|crypt|hash\s*\(\s*["'][a-z0-9]{3,10}["']\s*,)\s*\(?\s*(@\s*)?[$\xff][_\xff](GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $sink = /([^a-z0-9_>:$](eval|assert|system|passthru|shell_exec|exec|popen|proc_open|create_function|include|require|include_once|require_once|move_uploaded_file|file_put_contents|fwrite)\s*\(|[^a-z0-9_>:$]copy\s*\(\s*\$_FILES|\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]]{1,40}\]\s*\()/ nocase
        $strong_sink = /[^a-z0-9_>:$](eval|assert|system|passthru|shell_exec|popen|proc_open|create_function|move_uploaded_file)\s*\(/ nocase
    condition:
        (any of ($gate1, $gate2) and $strong_sink) or
        for any i in (1..#gate1) : (
            for any j in (1..#sink) : ( @sink[j] > @gate1[i] - 300 and @sink[j] < @gate1[i] + 800 )
        ) or
        for any i in (1..#gate2) : (
            for any j in (1..#sink) : ( @sink[j] > @gate2[i] - 300 and @sink[j] < @gate2[i] + 800 )
        )
}

rule SG469_php_unrestricted_uploader
{
    meta:
        id = "SG469"
        severity = "high"
        confidence = "medium"
        title = "PHP stores uploads under a name or path the uploader chooses"
        description = "An uploaded file is moved or copied next to where its client-supplied name or a request parameter is used as the destination, and the code checks neither extension nor content type anywhere (no pathinfo, in_array, preg_match, getimagesize, finfo, exif_imagetype, wp_check_filetype, extension pattern, generated name). Attackers drop such uploaders to push web shells and skimmer files; safe upload code stores under a generated name after checking the type."
        references = "https://owasp.org/www-community/vulnerabilities/Unrestricted_File_Upload"
        false_positives = "Careless but benign upload code in internal tools (it is exploitable all the same)."
        language = "php"
    strings:
        $tmp = /\$(_FILES|HTTP_POST_FILES)\s*\[[^\]]{1,40}\]\s*\[\s*["']tmp_name["']\s*\]/ nocase
        $chosen = /(\$(_FILES|HTTP_POST_FILES)\s*\[[^\]]{1,40}\]\s*\[\s*["']name["']\s*\]|[$\xff][_\xff](GET|POST|REQUEST)\s*\[[^\]]{1,40}\]\s*\.\s*["']?\/?["']?\s*\.?\s*\$(_FILES|HTTP_POST_FILES))/ nocase
        $move = /[^a-z0-9_>:$](move_uploaded_file|copy)\s*\(/ nocase
        $move_to_request = /[^a-z0-9_>:$](move_uploaded_file|copy)\s*\(\s*[^,;]{1,120},\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        $check1 = /(pathinfo|getimagesize|exif_imagetype|finfo_file|finfo_open|mime_content_type|wp_check_filetype|wp_handle_upload|in_array|array_search|image_type_to_extension|preg_match)\s*\(/ nocase
        $check2 = /\\?\.\(?(jpe?g|png|gif)\b/ nocase
        $check3 = /(uniqid|random_bytes|bin2hex|md5_file|sha1_file|hash_file|tempnam)\s*\(/ nocase
    condition:
        $tmp and not any of ($check*) and
        ($move_to_request or
         for any i in (1..#chosen) : (
             for any j in (1..#move) : ( @move[j] > @chosen[i] - 600 and @move[j] < @chosen[i] + 600 )
         ))
}

rule SG470_php_writes_supplied_code
{
    meta:
        id = "SG470"
        severity = "critical"
        confidence = "high"
        title = "PHP writes request-supplied or downloaded code to a file"
        description = "PHP writes a file whose path and content both come from the request (a file manager's save or a dropper), writes decoded data or a download into a .php file, or copies a remote URL into one. This is how attackers plant and update web shells and skimmers; shop code does not take file names and contents from a visitor or fetch PHP from the internet at run time."
        references = "https://github.com/jvoisin/php-malware-finder"
        false_positives = "Web-based file editors installed in the web root (themselves a back door)."
        language = "php"
    strings:
        $put_request = /file_put_contents\s*\(\s*(@\s*)?[^,;]{0,80}[$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[[^,;]{0,80},\s*[^;]{0,80}[$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        $fwrite_request = /fwrite\s*\(\s*(@\s*)?fopen\s*\(\s*[^,;]{0,80}[$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[[^;]{0,120},\s*[^;]{0,80}[$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        $open_request = /fopen\s*\(\s*(@\s*)?[^,;]{0,80}[$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[[^,;]{0,80},\s*["'][wax]\+?b?["']\s*\)/ nocase
        $write_request = /(fwrite|fputs)\s*\(\s*\$[a-z_][a-z0-9_]{0,30}\s*,\s*[^;]{0,40}[$\xff][_\xff](GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        $put_php = /file_put_contents\s*\(\s*[^,;]{0,160}\.(php[0-9]?|phtml|phar|inc)["']?\s*,\s*(@\s*)?(base64_decode|gzinflate|gzuncompress|str_rot13|hex2bin|file_get_contents\s*\(\s*["']https?:|curl_exec)/ nocase
        $copy_remote = /[^a-z0-9_>:$]copy\s*\(\s*["'](https?|ftp):\/\/[^"']{1,300}["']\s*,\s*[^;]{0,160}\.(php[0-9]?|phtml|phar|inc)["']/ nocase
    condition:
        any of ($put_request, $fwrite_request, $put_php, $copy_remote) or
        for any i in (1..#open_request) : (
            for any j in (1..#write_request) : ( @write_request[j] > @open_request[i] and @write_request[j] < @open_request[i] + 400 )
        )
}

rule SG471_redirect_gated_on_referrer_or_agent
{
    meta:
        id = "SG471"
        severity = "high"
        confidence = "medium"
        title = "Visitors from search engines or phones sent to another host"
        description = "An .htaccess RewriteRule (after a RewriteCond on the referrer or user agent that names search engines, social sites, phones or crawlers) or PHP code (after checking HTTP_REFERER or HTTP_USER_AGENT for the same) redirects to an absolute URL on a literal host. Compromised shops send search and mobile visitors to scam or malware pages this way while the owner, typing the address, sees nothing. Canonical and HTTPS redirects use the site's own host (%{HTTP_HOST}) and no such condition."
        references = "https://httpd.apache.org/docs/current/mod/mod_rewrite.html#rewritecond"
        false_positives = "A mobile redirect to the shop's own separate mobile host (m.example.com)."
        language = "any"
    strings:
        $rewrite = /%\{HTTP_(REFERER|USER_AGENT)\}\s+["']?[^!\s"'][^\n]{0,300}(google(bot)?|b(ing(bot)?|aidu|lackberry)|y(ahoo|andex)|facebook|t(witter|iktok)|i(nstagram|p(hone|ad))|pinterest|duckduckgo|naver|m(sn|obile)|a(ol|ndroid)|opera mini|slurp)[^\n]{0,300}\n(\s*(RewriteCond|#)[^\n]{0,300}\n){0,12}\s*RewriteRule\s+\S{1,200}\s+["']?https?:\/\/[a-z0-9]/ nocase
        $php_check = /(preg_match|stripos|strpos|stristr|strstr)\s*\([^;]{0,160}(google|bing|yahoo|yandex|baidu|facebook|android|iphone|mobile)[^;]{0,160}\$_SERVER\s*\[\s*["']HTTP_(REFERER|USER_AGENT)["']|(preg_match|stripos|strpos|stristr|strstr)\s*\(\s*\$_SERVER\s*\[\s*["']HTTP_(REFERER|USER_AGENT)["']\s*\][^;]{0,160}(google|bing|yahoo|yandex|baidu|facebook|android|iphone|mobile)/ nocase
        $location = /header\s*\(\s*["']Location:\s*https?:\/\/[a-z0-9]/ nocase
    condition:
        $rewrite or
        for any i in (1..#php_check) : (
            for any j in (1..#location) : ( @location[j] > @php_check[i] and @location[j] < @php_check[i] + 600 )
        )
}

rule SG472_htaccess_error_document_offsite
{
    meta:
        id = "SG472"
        severity = "medium"
        confidence = "low"
        title = "Error pages sent to an absolute URL"
        description = "An ErrorDocument directive answers errors (404, 403, 500) with a redirect to an absolute http(s) URL instead of a local page. Injected .htaccess files use this to send every broken link or blocked request to a spam or malware host; a shop normally serves its own error page by path. Check the host."
        references = "https://httpd.apache.org/docs/current/mod/core.html#errordocument"
        false_positives = "A site that points its error page at its own host by absolute URL."
        language = "any"
    strings:
        $error_document = /ErrorDocument\s+[45][0-9][0-9]\s+["']?https?:\/\/[a-z0-9]/ nocase
    condition:
        $error_document
}

rule SG473_auto_prepend_suspicious_target
{
    meta:
        id = "SG473"
        severity = "high"
        confidence = "medium"
        title = "Every PHP request runs a hidden or non-PHP file first"
        description = "auto_prepend_file or auto_append_file (php_value in .htaccess, or .user.ini / php.ini) points at a file named like an image, text, log or data file, a hidden dot-file, a temporary or upload directory, or a stream (php://, data:, http:). Malware loads its skimmer or back door into every page this way without touching any shop file. Legitimate uses (a web application firewall such as wordfence-waf.php) prepend an ordinary .php file."
        references = "https://www.php.net/manual/en/ini.core.php#ini.auto-prepend-file"
        false_positives = "A firewall or profiler installed under an unusual file name."
        language = "any"
    strings:
        $odd_name = /auto_(prepend|append)_file\s*=?\s*["']?[^\s"';]{0,200}\.(jpe?g|png|gif|ico|bmp|svg|webp|txt|log|css|js|json|xml|html?|dat|tmp|bak|db|swf|zip|gz)["']?\s*[\r\n;]/ nocase
        $odd_place = /auto_(prepend|append)_file\s*=?\s*["']?[^\s"';]{0,200}(\/tmp\/|\/dev\/shm\/|\/var\/tmp\/|\/uploads?\/|\/media\/|\/images?\/|\/cache\/|\/\.[a-z0-9_\-]{1,60}(\.php)?["']?\s*[\r\n;])/ nocase
        $stream = /auto_(prepend|append)_file\s*=?\s*["']?(php|data|https?|ftp|phar|zip|expect):/ nocase
    condition:
        any of them
}

rule SG474_images_executed_as_php
{
    meta:
        id = "SG474"
        severity = "critical"
        confidence = "high"
        title = "Web server told to run images or text files as PHP"
        description = "An AddType, AddHandler, SetHandler or ForceType directive maps an image, text, style or script extension (.jpg, .png, .gif, .ico, .txt, .css, .js...) to the PHP handler. Attackers upload a back door disguised as an image and then make it executable; no shop needs its images run as code."
        references = "https://httpd.apache.org/docs/current/mod/mod_mime.html#addhandler"
        false_positives = "None known."
        language = "any"
    strings:
        $add = /Add(Type|Handler)\s+[^\n]{0,80}(x-httpd-php|php[0-9]*-script|x-httpd-ea-php|x-php|php-fcgi|fcgid-script|proxy:unix)[^\n]{0,80}\.(jpe?g|png|gif|ico|bmp|svg|webp|tiff?|txt|css|js|log|pdf|mp3|zip|woff2?)\b/ nocase
        $files = /<Files(Match)?\s+[^>\n]{0,200}(jpe?g|png|gif|ico|bmp|svg|webp|txt|css|js|log)[^>\n]{0,60}>[^<]{0,300}(SetHandler|ForceType|AddHandler|AddType)\s+[^\n]{0,60}php/ nocase
    condition:
        any of them
}

rule SG475_php_inside_image
{
    meta:
        id = "SG475"
        severity = "critical"
        confidence = "high"
        title = "PHP code hidden inside an image"
        description = "The file starts like a JPEG, PNG, GIF, ICO or WebP image but contains a PHP open tag followed by code. Attackers pass upload filters with such polyglots (GIF89a; <?php ...) and then include them or have the server run them as PHP; real images have no PHP in them."
        references = "https://owasp.org/www-community/vulnerabilities/Unrestricted_File_Upload"
        false_positives = "None known."
        language = "any"
    strings:
        $php = /<\?(php[\s\/]+|=\s*)(@\s*)?(\$[a-z_]|eval|assert|system|passthru|shell_exec|exec|include|require|echo|print|if\s*\(|error_reporting|set_time_limit|ini_set|base64_decode|gzinflate|file_put_contents|function\s|\/\*|\/\/)/ nocase
    condition:
        (uint16be(0) == 0xFFD8 or uint32be(0) == 0xC3BFC398 or uint32be(0) == 0x89504E47 or
         (uint16be(0) == 0xC289 and uint16be(2) == 0x504E) or uint32be(0) == 0x47494638 or
         uint32be(0) == 0x00000100 or (uint32be(0) == 0x52494646 and uint32be(8) == 0x57454250))
        and $php
}

rule SG476_cron_job_fetches_code
{
    meta:
        id = "SG476"
        severity = "high"
        confidence = "medium"
        title = "Cron job installed that downloads or decodes code"
        description = "Code installs a cron job (crontab -, /var/spool/cron, /etc/cron.d) whose command downloads (curl, wget), decodes (base64 -d) or pipes code into a shell or PHP. Malware uses cron to re-plant deleted back doors and skimmers after every clean-up; a shop's own cron runs its scheduler script, not code fetched from the internet."
        references = "https://man7.org/linux/man-pages/man5/crontab.5.html"
        false_positives = "Hosting tools that schedule a remote health check with curl."
        language = "any"
    strings:
        $fetch_then_cron = /(curl\s+(-[a-zA-Z]{1,4}\s+){0,4}["']?https?:|wget\s+(-[a-zA-Z\-]{1,12}\s+){0,4}["']?https?:|base64\s+(-d|--decode)|php\s+-r\s|\/dev\/tcp\/|\|\s*(ba)?sh\b|\|\s*php\b|python[0-9.]{0,4}\s+-c\s|nc\s+-e\s)[\s\S]{0,200}(\|\s*crontab\s+-|crontab\s+["']?\/(tmp|dev\/shm|var\/tmp)\/|\/var\/spool\/cron\/|\/etc\/cron\.(d|hourly|daily)\/|\/etc\/crontab)/
        $cron_then_fetch = /(\|\s*crontab\s+-|crontab\s+-l|crontab\s+["']?\/(tmp|dev\/shm|var\/tmp)\/|\/var\/spool\/cron\/|\/etc\/cron\.(d|hourly|daily)\/|\/etc\/crontab)[\s\S]{0,200}(curl\s+(-[a-zA-Z]{1,4}\s+){0,4}["']?https?:|wget\s+(-[a-zA-Z\-]{1,12}\s+){0,4}["']?https?:|base64\s+(-d|--decode)|php\s+-r\s|\/dev\/tcp\/|\|\s*(ba)?sh\b|\|\s*php\b|python[0-9.]{0,4}\s+-c\s|nc\s+-e\s)/
    condition:
        any of them
}

rule SG477_php_self_restoring
{
    meta:
        id = "SG477"
        severity = "high"
        confidence = "medium"
        title = "PHP keeps running after the visitor leaves and re-creates files"
        description = "PHP ignores the visitor aborting (ignore_user_abort), lifts the time limit (set_time_limit(0)) and loops forever, sleeping, checking whether a file exists or changed and writing it again. Self-restoring malware guards its back door or skimmer this way so that deleting the file does not help; a web request has no reason to live forever."
        references = "https://www.php.net/manual/en/function.ignore-user-abort.php"
        false_positives = "Long-polling or queue worker scripts started over HTTP (they do not rewrite files)."
        language = "php"
    strings:
        $abort = /ignore_user_abort\s*\(\s*(true|1)?\s*\)/ nocase
        $limit = /set_time_limit\s*\(\s*0\s*\)/ nocase
        $loop = /(while\s*\(\s*(1|true|!0)\s*\)|for\s*\(\s*;\s*;\s*\))/ nocase
        $sleep = /u?sleep\s*\(/ nocase
        $check = /(file_exists|is_file|filesize|md5_file|sha1_file|filemtime|file_get_contents)\s*\(/ nocase
        $write = /(file_put_contents|fwrite|fputs|copy|symlink)\s*\(/ nocase
    condition:
        $abort and $limit and $sleep and $check and
        for any i in (1..#loop) : (
            for any j in (1..#write) : ( @write[j] > @loop[i] and @write[j] < @loop[i] + 1500 )
        )
}

rule SG478_template_runs_code
{
    meta:
        id = "SG478"
        severity = "critical"
        confidence = "high"
        title = "Template runs PHP or shell code"
        description = "A Twig or Smarty template (including EC-CUBE 2's <!--{ }--> delimiters) contains a PHP block ({php}, {include_php}), calls a command or code function from template syntax ({system(...)}, filter('system'), map('passthru')), or reaches the engine internals used to register one (_self.env.registerUndefinedFilterCallback). Attackers who can edit shop templates turn them into back doors this way; shop templates only format data."
        references = "https://portswigger.net/research/server-side-template-injection"
        false_positives = "Security test suites of template engines."
        language = "html"
    strings:
        $smarty_php = /(\{|<!--\{)(php|include_php[ \t][^}\n]{1,80})(\}|\}-->)/ nocase
        $smarty_call = /(\{|<!--\{)(if[ \t]+|assign[ \t]+[^}\n]{0,40}value\s*=\s*)?(system|passthru|shell_exec|popen|proc_open|file_put_contents|create_function|call_user_func|base64_decode)\s*\(\s*(["'\x60]|\$)[^}\n]{0,200}\)\s*(\}|\}-->)/ nocase
        $smarty_writer = "Smarty_Internal_Write_File" nocase
        $twig_filter = /\|\s*(filter|map|sort|reduce)\s*\(\s*["'](system|passthru|shell_exec|exec|popen|proc_open|assert|call_user_func|file_put_contents|file_get_contents|create_function)["']/ nocase
        $twig_env = /_self\.env\.(registerUndefinedFilterCallback|getFilter|setCache)/ nocase
    condition:
        any of them
}

rule SG479_payment_template_outside_script
{
    meta:
        id = "SG479"
        severity = "medium"
        confidence = "low"
        title = "Payment template loads a script by absolute URL"
        description = "A Twig, Smarty, Liquid or PHP template that holds card fields or checkout steps loads a script from an absolute URL. A skimmer planted in the shop's checkout template usually arrives as one such tag; payment providers' own tokenization scripts look the same, so check the host against the approved inventory."
        references = "https://www.pcisecuritystandards.org/document_library/"
        false_positives = "The payment provider's tokenization or 3-D Secure script, tag managers."
        language = "html"
    strings:
        $template = /(\{%\s*(block|extends|if|for|include|set)\s|<!--\{|\{\{\s*[a-zA-Z_]|\{\$[a-zA-Z_]|\{(block|include|assign)\s|<\?(php|=))/
        $script = /<script[^>]{0,200}\ssrc\s*=\s*["']?(https?:)?\/\/[a-z0-9]/ nocase
        $card = /(card[_\-]?(no|num|number)|cardnumber|cc[_\-]?(number|num|cid)|security[_\-]?code|cvv|cvc|カード番号|セキュリティコード|有効期限|checkout|onepage|shopping[\/_](payment|confirm))/ nocase
    condition:
        $template and $script and $card
}
