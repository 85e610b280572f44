"""What a replay run would cost, before it is created: the same sample, resolved prompt adapter and
price rule as `replay.create_run` (see analysis.replay's budget rule), storing nothing.

    estimate = sum over candidates and sampled requests of
               unit prices x (logged input tokens + few-shot tokens, incumbent's output tokens)

with few-shot tokens as `replay.few_shot_tokens` counts them; local candidates cost 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from analysis import sampling
from analysis.prompt_adapter import PromptAdapter, load_examples, resolve
from analysis.providers.registry import parse_candidate_spec
from analysis.replay import estimate_costs, few_shot_tokens


@dataclass(frozen=True)
class RunEstimate:
    requests: int  # sampled requests (each goes to every candidate)
    per_candidate_usd: dict[str, float]

    @property
    def total_usd(self) -> float:
        return sum(self.per_candidate_usd.values())

    def within(self, budget_usd: float | None) -> bool:
        return budget_usd is None or self.total_usd <= budget_usd


def estimate_run(con: duckdb.DuckDBPyConnection, candidate_specs: list[str], sample: sampling.SampleSpec,
                 adapter: PromptAdapter | None = None) -> RunEstimate:
    """The module's estimate. Raises ValueError for a bad spec or an empty sample, and
    replay.BudgetError for an API model genai-prices cannot price."""
    candidates = [parse_candidate_spec(s) for s in candidate_specs]
    request_ids = sampling.draw(con, sample)
    if not request_ids:
        raise ValueError("no replayable request matches the sample (status ok, with logged messages)")
    resolved = resolve(con, adapter or PromptAdapter(), request_ids, sample.seed)
    costs = estimate_costs(con, candidates, request_ids, few_shot_tokens(resolved, load_examples(con, resolved)))
    return RunEstimate(len(request_ids), {spec: sum(v.values()) for spec, v in costs.items()})
