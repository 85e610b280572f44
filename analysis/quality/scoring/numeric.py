"""Numeric answers: the first number in the answer against the reference, within a tolerance."""

from __future__ import annotations

import math
import re

from analysis.quality.scoring.base import DEFAULT_CONTEXT, BadReference, Score, ScoreContext

# A sign (ASCII or U+2212), an optional currency symbol, then digits with optional comma
# thousands groups, a decimal part and an exponent. Not preceded by a letter, digit or dot so
# "GPT4" or "v2.1" do not yield a number. A decimal comma ("3,5") is not understood: it reads 3.
_NUMBER = (
    r"(?<![\w.])(?P<sign>[-+\u2212]?)[$€£¥₹]?"
    r"(?P<digits>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?P<exp>[eE][-+]?\d+)?"
)
_FIRST = re.compile(_NUMBER)
_WHOLE = re.compile(rf"\s*{_NUMBER}\s*%?\s*")


def parse_number(text: str, *, whole: bool = False) -> float | None:
    """The first number in `text` ("It costs $1,234.50 per month" -> 1234.5; "−3" -> -3.0;
    "1.5e3" -> 1500.0; "45%" -> 45.0, the percent sign is ignored). With whole=True the text
    must be only that number (plus a trailing %), else None. None when there is no number."""
    match = (_WHOLE.fullmatch if whole else _FIRST.search)(text)
    if match is None:
        return None
    value = float(match["digits"].replace(",", "") + (match["exp"] or ""))
    return -value if match["sign"] in ("-", "\u2212") else value


class NumericScorer:
    """Passed iff the first number of the answer x and of the reference y satisfy
    |x − y| ≤ max(rel_tol·|y|, abs_tol) (math.isclose with the context's tolerances); the score
    is 1 or 0. A reference without a number raises BadReference."""

    name = "numeric"

    def score(
        self, output: str, reference: str, *, context: ScoreContext = DEFAULT_CONTEXT
    ) -> Score:
        expected = parse_number(reference)
        if expected is None:
            raise BadReference(f"reference holds no number: {reference[:80]!r}")
        got = parse_number(output)
        if got is None:
            reason = "empty answer" if not output.strip() else "no number in the answer"
            return Score(0.0, False, reason)
        if math.isclose(got, expected, rel_tol=context.rel_tol, abs_tol=context.abs_tol):
            return Score(1.0, True)
        return Score(0.0, False, f"expected {expected:,.10g}, got {got:,.10g}")
