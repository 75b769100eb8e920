"""Whole numbers typed or sent by someone else: `str.isdigit` is not enough.

"²".isdigit() and "٣".isdigit() are True, yet int("²") raises and int("٣") is 3; a string of
4,301 digits raises too. Form fields, query strings and headers go through `whole_number`.
"""

from __future__ import annotations


def whole_number(text: str | None, max_digits: int = 18) -> int | None:
    """The number an ASCII run of at most `max_digits` digits spells, else None."""
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
