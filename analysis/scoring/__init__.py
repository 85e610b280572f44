"""Scorers, one per module, all following `base.Scorer`; `SCORERS` maps each name to its class."""

from __future__ import annotations

from analysis.scoring.base import Score, ScoreContext, Scorer
from analysis.scoring.fields import FieldsScorer
from analysis.scoring.fuzzy import FuzzyScorer
from analysis.scoring.label import LabelScorer
from analysis.scoring.numeric import NumericScorer

# Classes, not instances: a scorer that needs settings (the LLM judge, in judge.py, with its
# provider, rubric and budget) is registered the same way and built with its arguments.
SCORERS: dict[str, type[Scorer]] = {
    "label": LabelScorer,
    "fields": FieldsScorer,
    "numeric": NumericScorer,
    "fuzzy": FuzzyScorer,
}

__all__ = ["SCORERS", "Score", "ScoreContext", "Scorer"]
