"""The LLM judge: verdict parsing, both orders, budget and agreement with exact scorers. The
mechanics are checked against the real llama.cpp server (its 270M model's wisdom is not); the
budget's in-run stop and an unreadable verdict use a small scripted provider."""

from __future__ import annotations

import threading

import pytest
from test_score_runner import build_run

from analysis.economics.prices import UnitPrices
from analysis.quality.scoring import SCORERS
from analysis.quality.scoring.judge import (
    JudgeBudgetError,
    JudgeItem,
    JudgeScorer,
    judge_agreement,
    parse_verdict,
)
from analysis.quality.scoring.runner import score_run
from analysis.replay.providers import registry
from analysis.replay.providers.base import Completion, CompletionRequest
from analysis.store.database import utcnow

PRICES = UnitPrices("judge", "test", input=1e-6, cache_read=0.0, cache_write=0.0, output=2e-6)
ITEMS = [
    JudgeItem("Paris", "Paris", "What is the capital of France?"),
    JudgeItem("Berlin", "Paris", "What is the capital of France?"),
    JudgeItem("4", "4", "What is 2 + 2?"),
]


class Recording:
    """Passes every call to a real provider and keeps the requests it saw."""

    def __init__(self, provider):
        self.provider, self.requests, self.lock = provider, [], threading.Lock()

    def complete(self, request: CompletionRequest) -> Completion:
        with self.lock:
            self.requests.append(request)
        return self.provider.complete(request)


class Scripted:
    """Answers with fixed texts and reports fixed usage (no server)."""

    def __init__(self, texts, input_tokens=10, output_tokens=1):
        self.texts, self.calls, self.usage = list(texts), 0, (input_tokens, output_tokens)

    def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        return Completion(self.texts.pop(0), *self.usage, True, 5.0, 1.0, None, "stop", "scripted")


@pytest.mark.parametrize("text,expected", [
    ("1", "1"), (" 2\n", "2"), ("Same", "same"), ('"tie".', "same"), ("Answer 2 is better.", "2"),
    ("1 or 2", None), ("", None), (None, None), ("answer one", None), ("1.5", None),
])
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected


def test_judge_is_registered_as_a_factory():
    judge = SCORERS["judge"]("local", budget_usd=0.01)
    assert judge.name == "judge" and judge.provider is None  # nothing built or called yet


def test_both_orders_budget_and_verdicts_on_the_real_server(llama_server):
    spec = f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}"
    with registry.build_provider(registry.parse_candidate_spec(spec)) as real:
        recorder = Recording(real)
        judge = JudgeScorer(spec, prices=PRICES, provider=recorder, concurrency=2)
        estimate = sum(judge.estimate(item, PRICES) for item in ITEMS[:2])

        judge.budget_usd = estimate / 2
        with pytest.raises(JudgeBudgetError, match="exceeds its budget"):
            judge.judge(ITEMS[:2])
        assert recorder.requests == []

        judge.budget_usd = estimate
        report = judge.judge(ITEMS[:2])
    assert report.calls == 4 and len(recorder.requests) == 4
    assert 0 < report.spent_usd <= report.budget_usd and report.estimate_usd == pytest.approx(estimate)
    for item in ITEMS[:2]:
        seen = [r.messages[1]["content"] for r in recorder.requests if item.output in r.messages[1]["content"]]
        firsts = {text.split("[Answer 1]\n")[1].split("\n")[0] for text in seen}
        assert firsts == {item.output, item.reference} or item.output == item.reference
    assert all(r.labels == ["1", "2", "same"] and r.messages[0]["content"] == judge.rubric for r in recorder.requests)
    for judgement in report.judgements:
        assert all(raw is not None for raw in judgement.raw)  # both orders were answered
        if judgement.score is None:
            assert "unparseable verdict" in judgement.reason
        else:
            assert judgement.score.score in (0.0, 0.5, 1.0) and None not in judgement.verdicts
            assert judgement.score.score == sum(judgement.verdicts) / 2
            assert judgement.orders_disagree == (judgement.score.score == 0.5)


def test_in_run_budget_stop_and_unreadable_verdicts():
    # Each call reports 1,000 input tokens: far above the estimate, so spending stops the run.
    provider = Scripted(["1", "2", "1", "1"] * 3, input_tokens=1000)
    judge = JudgeScorer("openai:gpt-4o-mini", prices=PRICES, provider=provider, concurrency=1)
    judge.budget_usd = sum(judge.estimate(item, PRICES) for item in ITEMS) * 1.01
    report = judge.judge(ITEMS)
    first = report.judgements[0]
    assert provider.calls == 2 and report.calls == 2 and report.stopped_by_budget
    # Reference first, "1" = the reference is better; candidate first, "2" = the reference again.
    assert first.verdicts == (0, 0) and first.score.score == 0.0 and not first.score.passed
    assert [j.reason for j in report.judgements[1:]] == ["judge budget spent"] * 2
    assert report.unjudged == 2

    split = JudgeScorer("local", provider=Scripted(["1", "1", "same", "no idea"]), concurrency=1).judge(ITEMS[:2])
    assert split.judgements[0].orders_disagree and split.judgements[0].score.score == 0.5
    assert split.disagreements == 1
    assert split.judgements[1].score is None
    assert split.judgements[1].reason == "unparseable verdict (candidate first: 'no idea')"
    assert split.spent_usd == 0.0  # a local judge without prices costs nothing


def test_long_answers_go_to_the_judge_in_score_run_and_agreement(con):
    long_ref = "The answer is that " + "it depends on many things. " * 15
    build_run(con, [{"request_id": "r1", "incumbent": long_ref, "local:a": long_ref},
                    {"request_id": "r2", "incumbent": long_ref, "local:a": "no"},
                    {"request_id": "r3", "incumbent": long_ref, "local:a": None}])
    judge = JudgeScorer("local", provider=Scripted(["same", "same", "1", "2"]), concurrency=1)
    summary = score_run(con, "run1", judge=judge)
    assert summary.by_scorer == {"judge": 3} and summary.judge_calls == 4 and summary.skipped == {}
    assert summary.by_reference == {"incumbent": 3}
    now = utcnow()
    for request_id, passed in (("r1", True), ("r2", True), ("r3", False)):
        con.execute("INSERT INTO scores VALUES ('run1', 'local:a', ?, 'fuzzy', 'incumbent', ?, ?, NULL, ?)",
                    [request_id, float(passed), passed, now])
    agreement = judge_agreement(con, "run1")
    # judge: pass, fail, fail; exact: pass, pass, fail -> a=1, b=0, c=1, d=1; p_o = 2/3,
    # p_e = (1·2 + 2·1)/9 = 4/9, kappa = (2/3 − 4/9)/(1 − 4/9) = 0.4.
    assert (agreement.n, agreement.exact_scorers) == (3, ["fuzzy"])
    assert agreement.agreement == pytest.approx(2 / 3) and agreement.kappa == pytest.approx(0.4)
    assert judge_agreement(con, "other-run").n == 0
