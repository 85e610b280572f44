"""Tool calls compared by name and arguments, for answers that call tools.

Ingest stores such an answer as JSON {"content": text, "tool_calls": [{"name", "arguments"}]}
(analysis.ingest.openai_shapes.with_tool_calls). `calls(text)` also reads an OpenAI assistant
message ({"tool_calls": [{"function": {"name", "arguments": "<JSON text>"}}]}), Anthropic content
blocks or a Message ({"type": "tool_use", "name", "input"}), and a bare list of calls.

`compare(output, reference)` is what the exact scorers (fields, fuzzy) do first: when the
reference calls tools, the answer passes iff it makes the same calls (each name with equal
arguments, in any order, none missing, none extra); score = matched calls / the larger count.
The text beside the calls is not compared. A reference without tool calls gives None: the scorer
compares texts as usual.
"""

from __future__ import annotations

import json
from typing import Any

from analysis.quality.scoring.base import Score

Call = tuple[str, Any]


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value.strip()
    return value


def _call(item: Any, plain: bool) -> Call | None:
    """A call from an Anthropic tool_use block, an OpenAI tool call ({"function": {...}}) or, where
    `plain` (inside a "tool_calls" list), {"name", "arguments"}."""
    if not isinstance(item, dict):
        return None
    if item.get("type") == "tool_use" and "name" in item:
        return str(item["name"]), _arguments(item.get("input"))
    function = item.get("function") if isinstance(item.get("function"), dict) else (item if plain else None)
    if not function or "name" not in function:
        return None
    return str(function["name"]), _arguments(function.get("arguments"))


def calls(text: str) -> list[Call] | None:
    """The tool calls a stored answer makes, or None when it holds none. A JSON list of plain
    {"name": ...} objects is data, not calls: only a "tool_calls" list, tool_use blocks and
    OpenAI {"function": ...} items count."""
    stripped = (text or "").strip()
    if not stripped.startswith(("{", "[")) or ('"tool_calls"' not in stripped and '"tool_use"' not in stripped
                                               and '"function"' not in stripped):
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    plain = isinstance(value, dict) and isinstance(value.get("tool_calls"), list)
    if plain:
        items = value["tool_calls"]
    elif isinstance(value, dict):
        items = value.get("content")
    else:
        items = value
    if not isinstance(items, list):
        return None
    found = [c for c in (_call(item, plain) for item in items) if c is not None]
    return found or None


def _shown(call: Call) -> str:
    return f"{call[0]}({json.dumps(call[1], sort_keys=True)[:80]})"


def compare(output: str, reference: str) -> Score | None:
    """The answer's tool calls against the reference's (see the module); None when the reference
    makes none."""
    expected = calls(reference)
    if expected is None:
        return None
    got = list(calls(output) or [])
    if not got:
        return Score(0.0, False, "no tool call in the answer; expected " + ", ".join(map(_shown, expected)))
    matched, missing = 0, []
    for call in expected:
        if call in got:
            got.remove(call)
            matched += 1
        else:
            missing.append(call)
    total = max(len(expected), matched + len(got))
    if not missing and not got:
        return Score(1.0, True)
    names = {name for name, _ in got}
    why = [("wrong arguments for " if name in names else "missing call ") + _shown((name, args))
           for name, args in missing] + [f"extra call {_shown(c)}" for c in got if c[0] not in {n for n, _ in missing}]
    return Score(matched / total, False, "; ".join(why))
