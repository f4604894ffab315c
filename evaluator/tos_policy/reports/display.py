"""Text for a terminal from untrusted strings (ids, names, file names, messages).

An id or name is data: it must print as itself, never act on the terminal. Control
characters (ANSI escape sequences, carriage returns, line breaks inside a field) and
the Unicode controls that reorder text (bidirectional overrides and isolates) are
shown as visible escapes (`\\x1b`, `\\u202e`), so nothing can move the cursor, recolour
the screen, forge a line or hide part of the text, and two different ids never print
alike. Rich markup in data is never interpreted: tables are built from rich Text
objects (see cli/main.py), and plain text goes out as it is."""

from __future__ import annotations

import html
import re
import unicodedata

# Bidirectional formatting controls (Trojan Source): LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, LRM, RLM, ALM.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_SUSPECT = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """`text` with every control, line-separator and bidi character as a visible escape
    (with keep_newlines, "\\n" stays: for whole multi-line outputs)."""
    value = str(text)
    if not _SUSPECT.search(value):
        return value

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        if char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return _escape(char)
        return char  # pragma: no cover - the pattern holds only those

    return _SUSPECT.sub(replace, value)


# A spreadsheet reads a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: object) -> str:
    """A CSV cell from untrusted text: controls escaped as by `printable`, and a leading
    formula character quoted with an apostrophe, so a spreadsheet shows the text instead of
    running it (`=HYPERLINK(...)` is shown as `'=HYPERLINK(...)`)."""
    value = printable(text)
    return "'" + value if value.startswith(_FORMULA_START) else value


def markdown_cell(text: object) -> str:
    """A Markdown table cell from untrusted text: controls escaped, HTML shown as text (`<`, `>`,
    `&` as entities), and `|` and line breaks unable to end the cell or the row."""
    value = printable(str(text).replace("\n", " "))
    return html.escape(value, quote=False).replace("|", "\\|")
