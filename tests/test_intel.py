"""Threat-intel feeds: parsing (Maltrail's format), and matching hosts, URLs, hashes and text."""

from __future__ import annotations

from skimguard.intel import IndicatorKind, IntelIndex, classify, parse_feed

FEED = """# Copyright (c) 2014-2026 Example
# Aliases: magecart

# Reference: https://example.org/magentocore
magentocore.net
  *.cdn-js.link
# Reference: https://example.org/urls
jquery-cdn.top/js/jquery.min.js
http://203.0.113.7/gate.php?x=1
/errors/default/gate.php
magentocore.net
not an indicator
999.1.1.1
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
"""


def test_parse_feed_keeps_kinds_references_and_counts_what_it_skips() -> None:
    feed = parse_feed(FEED, "maltrail")
    assert [(i.kind.value, i.value, i.reference) for i in feed.indicators] == [
        ("domain", "magentocore.net", "https://example.org/magentocore"),
        ("domain", "cdn-js.link", "https://example.org/magentocore"),
        ("url", "jquery-cdn.top/js/jquery.min.js", "https://example.org/urls"),
        ("url", "203.0.113.7/gate.php?x=1", "https://example.org/urls"),
        ("path", "/errors/default/gate.php", "https://example.org/urls"),
        ("hash", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "https://example.org/urls"),
    ]
    assert feed.skipped == 2 and feed.skipped_examples == ("not an indicator", "999.1.1.1")
    assert {i.source for i in feed.indicators} == {"maltrail"}


def test_classify_rejects_junk() -> None:
    assert classify("") is None and classify("a b") is None and classify("x" * 3000) is None
    assert classify("localhost") is None  # not a public host name
    assert classify("EVIL.Example.") == (IndicatorKind.DOMAIN, "evil.example")
    assert classify("45.197.141.250:443") == (IndicatorKind.DOMAIN, "45.197.141.250")
    assert classify("q(l|r)[0-9]{5,6}\\.pw") is None  # a regular expression, not an indicator


def test_index_matches_subdomains_url_prefixes_and_hashes() -> None:
    index = IntelIndex.build(parse_feed(FEED, "maltrail").indicators)
    assert len(index) == 6
    assert index.match_url("https://shop.example/errors/default/gate.php?x") is not None
    assert index.match_host("magentocore.net") is not None
    assert index.match_host("static.magentocore.net") is not None
    assert index.match_host("notmagentocore.net") is None
    assert index.match_url("https://jquery-cdn.top/js/jquery.min.js?v=3") is not None
    assert index.match_url("https://jquery-cdn.top/js/other.js") is None
    assert index.match_url("http://203.0.113.7/gate.php?x=1&y=2") is not None
    assert index.match_hash("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855") is not None


def test_scan_text_finds_urls_and_bare_hosts_once_each() -> None:
    index = IntelIndex.build(parse_feed(FEED, "maltrail").indicators)
    code = (
        'var u="https://cdn.magentocore.net/i.gif?d="+x; var h = "magentocore.net";'
        ' var ok = "https://jquery-cdn.top/js/other.js"; window.location.href;'
    )
    found = [(text, ind.value) for _, text, ind in index.scan_text(code)]
    assert found == [
        ("https://cdn.magentocore.net/i.gif?d=", "magentocore.net"),
        ("magentocore.net", "magentocore.net"),
    ]


def test_a_large_feed_parses() -> None:
    # Maltrail's magentocore.txt shape: header comments, a reference comment per group, hosts.
    text = "# Reference: https://r.example/a\n\n" + "\n".join(f"skim{i}.example" for i in range(2000))
    feed = parse_feed(text, "big")
    assert len(feed.indicators) == 2000 and feed.skipped == 0
    index = IntelIndex.build(feed.indicators)
    assert index.match_host("a.skim1999.example") is not None


def test_an_index_is_true_when_it_holds_any_indicator_of_any_kind() -> None:
    assert not IntelIndex.build([])
    for line in ("evil.example", "https://evil.example/js/a.js", "/media/skim.js", "a" * 64):
        index = IntelIndex.build(parse_feed(line, "t").indicators)
        assert index and len(index) == 1, line
