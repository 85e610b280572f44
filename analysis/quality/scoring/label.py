"""Classification: the answer's label against the reference label, after normalisation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from analysis.quality.scoring.base import DEFAULT_CONTEXT, Score, ScoreContext, normalise
from analysis.quality.scoring.fields import JSONAnswerError, parse_json_answer


@dataclass(frozen=True)
class Extracted:
    """The label found in a text (None if none), normalised, and a note when it was ambiguous."""
    label: str | None
    note: str | None = None


def _from_json(text: str) -> str | None:
    """A JSON string answer, the value of a "label" key, or the only string value of an object."""
    try:
        value: Any = parse_json_answer(text)
    except JSONAnswerError:
        return None
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    keyed = [v for k, v in value.items() if str(k).casefold() == "label"]
    if keyed and isinstance(keyed[0], str | int | float) and not isinstance(keyed[0], bool):
        return str(keyed[0])
    strings = [v for v in value.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def extract_label(text: str, labels: tuple[str, ...] | None = None) -> Extracted:
    """The label an answer gives, in normalised form (see `normalise`).

    A JSON answer (`{"label": "x"}`, an object with a single string value, or a JSON string) is
    read first, and the whole answer only if that yields no label. Without a label set the label
    is the whole normalised text. With one, a text equal to a label is that label; otherwise
    every label occurring as whole words is found, occurrences inside a longer label's
    occurrence are dropped ("card" in "credit card"), and the first in text order wins, with a
    note naming the others when they differ. No label found gives None."""
    from_json = _from_json(text)
    if from_json is not None:
        found = _find(normalise(from_json), labels)
        if found.label is not None:
            return found
    return _find(normalise(text), labels)


def _find(text: str, labels: tuple[str, ...] | None) -> Extracted:
    if labels is None or not text:
        return Extracted(text or None)
    known = {normalise(label) for label in labels} - {""}
    if text in known:
        return Extracted(text)
    hits = [
        (m.start(), m.end(), label)
        for label in sorted(known)
        for m in re.finditer(rf"(?<!\w){re.escape(label)}(?!\w)", text)
    ]
    inside = [h for h in hits if any(o != h and o[0] <= h[0] and h[1] <= o[1] for o in hits)]
    hits = sorted(h for h in hits if h not in inside)
    found = list(dict.fromkeys(label for _, _, label in hits))
    if len(found) <= 1:
        return Extracted(found[0] if found else None)
    return Extracted(found[0], f"several labels in the answer ({', '.join(found)}); took the first")


class LabelScorer:
    """Passed (score 1) iff the label extracted from the answer equals the one extracted from the
    reference (`extract_label` with context.labels; a reference in which no known label is found
    is compared as its whole normalised text). The reason notes an ambiguous answer even when it
    passes."""

    name = "label"

    def score(
        self, output: str, reference: str, *, context: ScoreContext = DEFAULT_CONTEXT
    ) -> Score:
        expected = extract_label(reference, context.labels).label or normalise(reference)
        got = extract_label(output, context.labels)
        if got.label is None:
            reason = "empty answer" if not output.strip() else "no known label in the answer"
            return Score(0.0, False, reason)
        if got.label == expected:
            return Score(1.0, True, got.note)
        reason = f"expected {expected!r}, got {got.label!r}"
        return Score(0.0, False, f"{reason}; {got.note}" if got.note else reason)
