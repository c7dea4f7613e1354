"""Recognise files that start like an image, whatever their name.

Attackers pass upload filters with *polyglots*: a real (or a token) image header such as
``GIF89a;`` or a JPEG's ``FF D8 FF`` followed by ``<?php ...``, saved as ``.jpg`` and later run
as PHP (via an include, an ``AddHandler`` trick or a ``shell.php.jpg`` name), or saved as ``.php``
with an image header to fool a content-type check. Such a file must be analysed whole: the
language detector therefore maps anything that starts with image magic to
:attr:`~skimguard.analyze.model.Language.TEXT` (one segment, every rule applies), and rule SG475
(``rules/skimmer_server.yar``) convicts an image with PHP code inside.

Pure: a few byte comparisons on the first bytes of a file.
"""

from __future__ import annotations

# (kind, magic at offset 0); WebP is RIFF....WEBP and checked apart
_MAGIC: tuple[tuple[str, bytes], ...] = (
    ("jpeg", b"\xff\xd8\xff"),
    ("png", b"\x89PNG\r\n\x1a\n"),
    ("gif", b"GIF87a"),
    ("gif", b"GIF89a"),
    ("ico", b"\x00\x00\x01\x00"),
)


def image_kind(head: bytes) -> str | None:
    """The image format ``head`` (the first bytes of a file) starts with: ``jpeg``, ``png``,
    ``gif``, ``ico`` or ``webp``; None when it does not start like one of them."""
    for kind, magic in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None
