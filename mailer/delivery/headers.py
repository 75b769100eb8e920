"""Header values without control characters: no line break may start a header of its own.

`email.message.EmailMessage` refuses CR/LF in the transactional mail; the digest engine
writes its header block itself (`template.MessageTemplate`), so it checks here (audit L4).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UnsafeHeader(ValueError):
    """A header value holds a control character (a line break would inject headers)."""


def has_control_characters(value: str) -> bool:
    """Whether `value` holds a line break, tab or any other control character."""
    return _CONTROL.search(value) is not None


def check_header(name: str, value: str) -> str:
    """`value`, or UnsafeHeader when it holds a control character."""
    if has_control_characters(value):
        raise UnsafeHeader(
            f"the {name} header would contain a line break or another control character;"
            " nothing was sent (edit the list name or the subject)"
        )
    return value
