"""Scorers, one per module, all following `base.Scorer`; `SCORERS` maps each name to its class."""

from __future__ import annotations

from analysis.quality.scoring.base import Score, ScoreContext, Scorer
from analysis.quality.scoring.fields import FieldsScorer
from analysis.quality.scoring.fuzzy import FuzzyScorer
from analysis.quality.scoring.judge import JudgeScorer
from analysis.quality.scoring.label import LabelScorer
from analysis.quality.scoring.numeric import NumericScorer

# Classes, not instances. The exact scorers take no arguments; the LLM judge is built with its
# settings: JudgeScorer(spec, budget_usd=..., rubric=...) (it needs a provider).
SCORERS: dict[str, type[Scorer]] = {
    "label": LabelScorer,
    "fields": FieldsScorer,
    "numeric": NumericScorer,
    "fuzzy": FuzzyScorer,
    "judge": JudgeScorer,
}

__all__ = ["SCORERS", "Score", "ScoreContext", "Scorer"]
