"""What a file is, from its name: server-executable, browser code, server configuration, image.

Pure and cheap (string operations on the base name), because it runs for every file of a web root
on every scan. The content decides nothing here: a JPEG with PHP inside is found while hashing
(:func:`php_inside`), and the analysis engine sniffs the language of what it reads.
"""

from __future__ import annotations

import re
from typing import Final

# Run by the web server or PHP when requested or included (Apache and nginx defaults, plus the
# handler names attackers use to slip past upload filters).
EXECUTABLE_EXT: Final = frozenset(
    {
        ".php", ".php3", ".php4", ".php5", ".php6", ".php7", ".php8", ".phtml", ".pht", ".phar", ".phps",
        ".inc", ".cgi", ".pl", ".py", ".sh", ".asp", ".aspx", ".jsp", ".jspx", ".shtml",
    }
)  # fmt: skip
# Code the browser runs or templates that print markup: analysed, not executable by the server.
BROWSER_CODE_EXT: Final = frozenset(
    {
        ".js", ".mjs", ".cjs", ".html", ".htm", ".xhtml", ".svg", ".twig", ".tpl", ".liquid", ".hbs",
        ".handlebars", ".mustache", ".vue",
    }
)  # fmt: skip
# Files that change how the server treats the others: auto_prepend_file, handlers for images,
# redirects. Matched by their whole (lower-case) name.
SERVER_CONFIG_NAMES: Final = frozenset({".htaccess", ".user.ini", "php.ini", "web.config", ".htpasswd"})
IMAGE_EXT: Final = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".ico", ".webp", ".tif", ".tiff", ".avif", ".heic"}
)
# Media and documents people upload: where PHP inside is as telling as in an image.
MEDIA_EXT: Final = IMAGE_EXT | frozenset(
    {
        ".pdf", ".mp4", ".mp3", ".webm", ".mov", ".zip", ".txt", ".csv", ".doc", ".docx", ".xls", ".xlsx", ".woff",
        ".woff2",
    }
)  # fmt: skip
LOG_EXT: Final = frozenset({".log"})

# "<?php" plus white space, or a short echo of request data or of a code-running call: rare in
# binary data by chance (a bare "<?" or "<?=" occurs every 64 KiB of random bytes).
_PHP_INSIDE: Final = re.compile(
    rb"<\?php[\s]|<\?=\s{0,4}@?\s{0,4}(?:\$_(?:GET|POST|REQUEST|COOKIE|SERVER|FILES)\b"
    rb"|(?:eval|assert|system|passthru|shell_exec|exec|include|require)\s{0,4}\()",
    re.IGNORECASE,
)
PHP_TAG_OVERLAP: Final = 64  # bytes kept from the end of a chunk so a tag split between chunks is found


def name_of(path: str) -> str:
    """The lower-case base name of a relative POSIX path."""
    return path.rsplit("/", 1)[-1].lower()


def extension(name: str) -> str:
    """The last extension of a (lower-case) base name with its dot, '' when there is none. A
    leading dot starts a hidden name, not an extension (``.htaccess`` has none)."""
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


def is_server_config(name: str) -> bool:
    return name in SERVER_CONFIG_NAMES or name.endswith(".user.ini")


def is_executable(name: str) -> bool:
    """Run by the server: a PHP (or CGI) extension, or a server configuration file."""
    return extension(name) in EXECUTABLE_EXT or is_server_config(name)


def is_code(name: str) -> bool:
    """Worth the analysis engine: server-executable, browser code, templates, server configuration."""
    ext = extension(name)
    return ext in EXECUTABLE_EXT or ext in BROWSER_CODE_EXT or is_server_config(name)


def is_image(name: str) -> bool:
    return extension(name) in IMAGE_EXT


def is_media(name: str) -> bool:
    return extension(name) in MEDIA_EXT


def disguised_executable(name: str) -> str:
    """Why a file name hides a server-executable file ('' when it does not): a PHP extension
    before another one (``shell.php.jpg`` runs as PHP under Apache's ``AddHandler``), or a hidden
    PHP file (``.cache.php``: ``ls`` and many file managers do not show it)."""
    parts = name.split(".")
    if len(parts) > 2 and any("." + p in EXECUTABLE_EXT - {".inc", ".sh", ".py", ".pl"} for p in parts[1:-1]):
        return "double extension"
    if name.startswith(".") and extension(name) in EXECUTABLE_EXT and not is_server_config(name):
        return "hidden executable"
    return ""


def php_inside(data: bytes) -> int:
    """Offset of the first PHP open tag in ``data`` that is unlikely to be chance, -1 when none."""
    found = _PHP_INSIDE.search(data)
    return -1 if found is None else found.start()
