"""Short free text: rapidfuzz similarity between the normalised answer and reference."""

from __future__ import annotations

from rapidfuzz import fuzz

from analysis.quality.scoring import tool_calls
from analysis.quality.scoring.base import DEFAULT_CONTEXT, Score, ScoreContext, normalise


class FuzzyScorer:
    """score = rapidfuzz token_sort_ratio(normalise(answer), normalise(reference)) / 100: the
    Indel similarity of the two texts after sorting their words, so word order does not count.
    Passed iff score ≥ context.fuzzy_threshold (0.8 by default). Two empty texts score 1. A reference
    that calls tools is compared by its calls instead (tool_calls.compare)."""

    name = "fuzzy"

    def score(
        self, output: str, reference: str, *, context: ScoreContext = DEFAULT_CONTEXT
    ) -> Score:
        called = tool_calls.compare(output, reference)  # a reference that calls tools: name + arguments
        if called is not None:
            return called
        got, expected = normalise(output), normalise(reference)
        if not got and not expected:
            return Score(1.0, True)
        if not got:
            return Score(0.0, False, "empty answer")
        similarity = min(1.0, fuzz.token_sort_ratio(got, expected) / 100)
        if similarity >= context.fuzzy_threshold:
            return Score(similarity, True)
        return Score(
            similarity, False, f"similarity {similarity:.2f} below {context.fuzzy_threshold:.2f}"
        )
