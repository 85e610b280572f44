"""How deeply a JSON text nests arrays and objects, so that a record nested absurdly deep is
refused with its line instead of ending the ingest in a RecursionError.

Python's json parser recurses once per level and gives up near 1,000 levels (the interpreter's
recursion limit, less what the caller already uses); DuckDB's reader has no such limit, but readers
parse records in Python after it (streamed responses, JSON held in strings). No log record nests
anywhere near MAX_DEPTH levels: chat messages, tool calls and their JSON schemas take a few dozen.
"""

from __future__ import annotations

import re

MAX_DEPTH = 256

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string, escapes included
_BRACKET = re.compile(r"[\[\]{}]")


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`: the running count of opening minus
    closing brackets outside strings, at its highest (0 for a scalar, 1 for `{}`)."""
    deepest = level = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            level += 1
            deepest = max(deepest, level)
        else:
            level -= 1
    return deepest


def too_deep_reason(levels: int) -> str:
    return f"nested deeper than {MAX_DEPTH} levels ({levels:,} levels of arrays and objects)"


def openings_sql(column: str) -> str:
    """SQL: how many `[` and `{` the text `column` holds; a text with at most MAX_DEPTH of them
    cannot nest deeper, so only the others need `depth`."""
    return f"length({column}) - length(replace(replace({column}, '[', ''), '{{', ''))"
