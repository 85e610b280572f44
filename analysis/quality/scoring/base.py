"""The scorer protocol: a named, pure comparison of one answer with one reference.

A scorer never raises on a bad answer: an unusable answer is a failed `Score` whose `reason`
says why. It may raise `BadReference` on a bad *reference*, which is a data problem, not a model's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol


class BadReference(ValueError):
    """A reference this scorer cannot compare with (no number, invalid JSON): the answer is left
    unscored and counted, rather than failing the whole scoring."""


@dataclass(frozen=True)
class Score:
    """score in [0, 1]; passed is the binary outcome the statistics use; reason explains a
    failure (or a doubtful pass, such as several candidate labels in one answer)."""
    score: float
    passed: bool
    reason: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must lie in [0, 1], got {self.score}")


@dataclass(frozen=True)
class ScoreContext:
    """What a scorer may know beyond the two texts.

    labels: the task's label set, when known (lets the label scorer find a label in prose).
    fields: JSON field paths to compare ("a" or "a.b"); None compares every field.
    rel_tol, abs_tol: numeric tolerance, |x − y| ≤ max(rel_tol·|y|, abs_tol) (as math.isclose).
    fuzzy_threshold: similarity at or above which the fuzzy scorer passes.
    """
    labels: tuple[str, ...] | None = None
    fields: tuple[str, ...] | None = None
    rel_tol: float = 1e-6
    abs_tol: float = 0.0
    fuzzy_threshold: float = 0.8


# Frozen, so one shared default instance is safe.
DEFAULT_CONTEXT = ScoreContext()


class Scorer(Protocol):
    """One way of grading an answer against a reference, registered under `name`."""

    name: str

    def score(
        self, output: str, reference: str, *, context: ScoreContext = DEFAULT_CONTEXT
    ) -> Score: ...


# Dashes, underscores and slashes separate words ("credit-card" = "credit card"); other
# punctuation, quotes and apostrophes included, is dropped ("U.S." = "US", "don't" = "dont"),
# except a . , or : between digits, which changes the number ("3.5" is not "35").
_SEPARATORS = re.compile(r"[\s_/\-\u2010-\u2015]+")
_IN_NUMBER = re.compile(r"(?<=\d)[.,:](?=\d)")


def normalise(text: str) -> str:
    """The comparison form of a short text: Unicode NFKC, case-folded, separators (whitespace,
    dashes, underscores, slashes) turned into one space, other punctuation (Unicode category P*,
    so curly and straight quotes alike) removed unless it is a . , or : between two digits, and
    the ends stripped."""
    text = _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    keep = {m.start() for m in _IN_NUMBER.finditer(text)}
    kept = "".join(
        ch for i, ch in enumerate(text) if i in keep or not unicodedata.category(ch).startswith("P")
    )
    return " ".join(kept.split())
