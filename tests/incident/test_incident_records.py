"""The shared import records: bounded text, e-mail keys, card references that never hold a PAN."""

from __future__ import annotations

import pytest

from skimguard.incident.records import MAX_FIELD, clip, mask_card, normalize_email


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("4111111111111111", "411111******1111"),
        ("4111-1111-1111-1111", "411111******1111"),
        ("411111******1111", "411111******1111"),  # already masked: unchanged, first six kept
        ("4111 11** **** 1111", "411111******1111"),
        ("************1111", "************1111"),
        ("378282246310005", "378282*****0005"),  # 15-digit Amex
        ("1111", "1111"),
        ("4111 11", "1111"),  # a partial reference: only the last four
        ("xx", None),
        ("", None),
        (None, None),
    ],
)
def test_mask_card_keeps_at_most_first_six_and_last_four(given: str | None, kept: str | None) -> None:
    assert mask_card(given) == kept


@pytest.mark.parametrize(
    ("given", "key"),
    [
        (" ＴＡＲＯ@Example.JP ", "taro@example.jp"),
        ("a@b", "a@b"),
        ("no-at-sign", None),
        ("two@@example.jp", None),
        ("sp ace@example.jp", None),
        ("", None),
    ],
)
def test_normalize_email(given: str, key: str | None) -> None:
    assert normalize_email(given) == key


def test_clip_bounds_and_strips_control_characters() -> None:
    assert clip("  a\x00b\x1bc  ") == "abc"
    assert clip("   ") is None
    assert clip(None) is None
    assert clip(12) == "12"
    assert len(clip("x" * 10_000) or "") == MAX_FIELD
