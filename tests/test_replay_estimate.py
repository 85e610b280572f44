"""The estimate shown before a run starts (analysis.replay.runs.estimate_run): the module's formula, and the
same number that replay.create_run stores and budgets with."""

import json

import pytest

from analysis.economics import prices as pricing
from analysis.errors import UserError
from analysis.replay import runs as replay
from analysis.replay import sampling
from analysis.replay.prompt_adapter import PromptAdapter

SPECS = ["openai:gpt-4o-mini", "local:gemma-3-270m"]


@pytest.fixture
def logged(con):
    """40 replayable classification requests with token counts and a ground-truth label."""
    for i in range(40):
        con.execute(
            """INSERT INTO requests (request_id, source_id, status, task_type, model, input_messages, label,
                                     output_text, input_tokens, output_tokens)
               VALUES (?, 's', 'ok', 'classification', 'gpt-4o', ?, ?, ?, ?, ?)""",
            [f"r{i:03d}", json.dumps([{"role": "user", "content": f"ticket number {i}: my invoice is wrong"}]),
             "billing", "billing", 300 + i, 2 + i % 3])
    return con


def test_estimate_follows_the_formula(logged):
    sample = sampling.SampleSpec(size=10, seed=2)
    estimate = replay.estimate_run(logged, SPECS, sample)
    prices = pricing.unit_prices("gpt-4o-mini", "openai")
    expected = sum(prices.cost(300 + int(r[1:]), 2 + int(r[1:]) % 3) for r in sampling.draw(logged, sample))
    assert estimate.requests == 10
    assert estimate.per_candidate_usd["openai:gpt-4o-mini"] == pytest.approx(expected)
    assert estimate.per_candidate_usd["local:gemma-3-270m"] == 0
    assert estimate.total_usd == pytest.approx(expected) and expected > 0
    assert estimate.within(expected * 1.01) and not estimate.within(expected * 0.99) and estimate.within(None)


def test_estimate_is_what_create_run_stores(logged, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")  # a run is stored only with its keys set; nothing is sent
    sample, adapter = sampling.SampleSpec(size=8, seed=5), PromptAdapter(few_shot=3)
    estimate = replay.estimate_run(logged, SPECS, sample, adapter)
    assert estimate.total_usd > replay.estimate_run(logged, SPECS, sample).total_usd  # the examples cost input tokens
    run_id = replay.create_run(logged, SPECS, sample, adapter, budget_usd=1.0)
    assert replay.progress_of(logged, run_id).estimate_usd == pytest.approx(estimate.total_usd)


def test_estimate_refuses_what_cannot_be_priced_or_sampled(logged):
    with pytest.raises(replay.BudgetError, match="no price"):
        replay.estimate_run(logged, ["openai:no-such-model-xyz"], sampling.SampleSpec(size=3))
    with pytest.raises(UserError, match="no replayable request"):
        replay.estimate_run(logged, SPECS, sampling.SampleSpec(size=3, task_types=["code"]))
    with pytest.raises(UserError, match="unknown provider"):
        replay.estimate_run(logged, ["nope:model"], sampling.SampleSpec(size=3))
