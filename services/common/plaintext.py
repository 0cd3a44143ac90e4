"""Text from outside made safe to show as one line: on a terminal, in a log, in a page.

Guideline titles and metadata come from files anyone may have written. Shown as they are, an
ANSI escape sequence can rewrite a terminal (clear it, retitle it, hide a line), a line break can
forge a line of output, and a bidirectional override can make text read other than it is.
:func:`plain_line` removes all of these and keeps the rest of the text.
"""

from __future__ import annotations

import re
import unicodedata

# ECMA-48 sequences introduced by ESC: CSI (ESC [ ... final byte), OSC, DCS, SOS, PM and APC
# strings (ESC ] ... BEL or ST), and two-byte escapes (ESC and one byte).
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -~]?"
)
_LINE_BREAKS = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029]+")
#: Format characters that reorder text on screen (bidirectional embeddings, overrides and
#: isolates); other format characters (joiners, soft hyphens) are left to the text.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def plain_line(value: str) -> str:
    """``value`` as one line of plain text: escape sequences removed, line breaks and tabs made
    spaces, other control characters and bidirectional overrides removed, ends trimmed."""
    value = _LINE_BREAKS.sub(" ", _ESCAPE_SEQUENCE.sub("", value))
    return "".join(
        char for char in value if unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS
    ).strip()
