"""Structured extraction: parse JSON from the answer, match it field by field, micro F1."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from analysis.quality.scoring import tool_calls
from analysis.quality.scoring.base import DEFAULT_CONTEXT, BadReference, Score, ScoreContext, normalise
from analysis.quality.scoring.numeric import parse_number

_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_LEADING_ZERO = re.compile(r"\s*[-+]?0\d")


class JSONAnswerError(ValueError):
    """The answer holds no parseable JSON; the message is the reason shown to the user."""


def parse_json_answer(text: str) -> Any:
    """The JSON value in a model's answer. The text is the inside of the first ``` fence if
    there is one (```json or bare; an unclosed fence runs to the end), else the whole answer.
    It is parsed whole; failing that, the longer of the values that start at its first "{" and
    at its first "[" if that comes before the "{" (leading and trailing prose ignored; a "[" in
    prose loses to the object after it, a list of objects wins over its first object, and a
    "[" inside a broken object is never tried). Raises JSONAnswerError "invalid JSON: <decoder
    message> at line L col C" (the last attempt; positions within the stripped text), or
    "invalid JSON: no JSON value found"."""
    text = text.strip()
    if not text:
        raise JSONAnswerError("invalid JSON: empty answer")
    fence = _FENCE.search(text)
    body = fence.group(1).strip() if fence else text
    try:
        return json.loads(body)
    except json.JSONDecodeError as whole:
        error = whole if fence else None
    obj, arr = body.find("{"), body.find("[")
    starts = ([arr] if arr >= 0 and (obj < 0 or arr < obj) else []) + ([obj] if obj >= 0 else [])
    decoded: list[tuple[int, Any]] = []
    for start in starts:
        try:
            value, end = json.JSONDecoder().raw_decode(body, start)
            decoded.append((end - start, value))
        except json.JSONDecodeError as attempt:
            error = attempt
    if decoded:
        return max(decoded, key=lambda length_value: length_value[0])[1]
    if error is None:
        raise JSONAnswerError("invalid JSON: no JSON value found")
    raise JSONAnswerError(_reason(error)) from error


def _reason(error: json.JSONDecodeError) -> str:
    return f"invalid JSON: {error.msg} at line {error.lineno} col {error.colno}"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf fields by path: objects nest with dots ({"a": {"b": 1}} -> {"a.b": 1}); lists and
    scalars are leaves; a top-level non-object is the single field "$"; null counts as absent."""
    if not isinstance(value, dict):
        return {} if value is None else {prefix or "$": value}
    leaves: dict[str, Any] = {}
    for key, item in value.items():
        leaves.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return leaves


def same_value(got: Any, expected: Any, context: ScoreContext) -> bool:
    """Equality of two JSON leaves: booleans exactly; numbers (or numeric strings such as
    "1,200" or "$3.50") within the context's tolerance; strings after `normalise`; lists as
    multisets of their elements compared the same way, order ignored; anything else with ==."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return got is expected
    x, y = _as_number(got), _as_number(expected)
    if x is not None and y is not None:
        return math.isclose(x, y, rel_tol=context.rel_tol, abs_tol=context.abs_tol)
    if isinstance(got, str) and isinstance(expected, str):
        return normalise(got) == normalise(expected)
    if isinstance(got, list) and isinstance(expected, list):
        unmatched = list(expected)
        for item in got:
            hit = next((i for i, e in enumerate(unmatched) if same_value(item, e, context)), None)
            if hit is None:
                return False
            unmatched.pop(hit)
        return not unmatched
    return got == expected


def _as_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    # A leading zero marks an identifier ("007", a ZIP code), which must match as text.
    if isinstance(value, str) and not _LEADING_ZERO.match(value):
        return parse_number(value, whole=True)
    return None


def _selected(leaves: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    if fields is None:
        return leaves
    return {p: v for p, v in leaves.items() if any(p == f or p.startswith(f + ".") for f in fields)}


class FieldsScorer:
    """Micro F1 over JSON fields (paths from `flatten`, limited to `context.fields` if given).
    TP: a reference field present in the answer with an equal value (`same_value`); FP: an
    answer field that is absent from the reference or unequal; FN: a reference field missing
    from the answer or unequal. F1 = 2TP / (2TP + FP + FN), 1 when both are empty. Passed iff
    F1 = 1. Invalid JSON in the answer scores 0 with the parser's reason; invalid JSON in the
    reference raises BadReference."""

    name = "fields"

    def score(
        self, output: str, reference: str, *, context: ScoreContext = DEFAULT_CONTEXT
    ) -> Score:
        called = tool_calls.compare(output, reference)  # a reference that calls tools: name + arguments
        if called is not None:
            return called
        try:
            expected = _selected(flatten(parse_json_answer(reference)), context.fields)
        except JSONAnswerError as error:
            raise BadReference(f"reference: {error}") from error
        try:
            got = _selected(flatten(parse_json_answer(output)), context.fields)
        except JSONAnswerError as error:
            return Score(0.0, False, str(error))
        equal = [p for p in expected if p in got and same_value(got[p], expected[p], context)]
        missing = [p for p in expected if p not in got]
        wrong = [p for p in expected if p in got and p not in equal]
        extra = [p for p in got if p not in expected]
        tp, fp, fn = len(equal), len(wrong) + len(extra), len(wrong) + len(missing)
        f1 = 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
        if f1 == 1.0:
            return Score(1.0, True)
        parts = [f"{tp}/{len(expected)} fields match (F1 {f1:.2f})"]
        parts += [f"wrong {p}: expected {_show(expected[p])}, got {_show(got[p])}" for p in wrong]
        parts += [f"missing: {', '.join(missing)}"] if missing else []
        parts += [f"unexpected: {', '.join(extra)}"] if extra else []
        return Score(f1, False, "; ".join(parts))


def _show(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 40 else shown[:37] + "..."
