"""quality_table, latency_table, confusion_matrix and disagreements on runs with known outcomes."""

from __future__ import annotations

import pytest
import scipy.stats
from test_score_runner import build_run

from analysis.quality import stats
from analysis.quality.scoring.runner import score_run
from analysis.quality.verdicts import (
    MIN_LATENCY_REQUESTS,
    confusion_matrix,
    disagreements,
    latency_table,
    quality_table,
)
from analysis.store.database import utcnow

CANDIDATE = "local:small"


def fifty_items():
    """50 yes/no items: both right on 38, only the candidate on 2, only the incumbent on 7,
    neither on 3, so the candidate is right on 40 and the incumbent on 45."""
    plan = ["both"] * 38 + ["candidate"] * 2 + ["incumbent"] * 7 + ["neither"] * 3
    items = []
    for i, who in enumerate(plan):
        right, wrong = "yes", "no"
        items.append({"request_id": f"q{i:02d}", "label": right, "task_type": "classification",
                      "incumbent": right if who in ("both", "incumbent") else wrong,
                      CANDIDATE: right if who in ("both", "candidate") else wrong})
    return items


def test_paired_comparison_against_the_incumbent(con):
    build_run(con, fifty_items(), candidates=(CANDIDATE,), adapter={"labels": ["yes", "no"]})
    score_run(con, "run1")
    table = {r["candidate"]: r for r in quality_table(con, "run1").to_dicts()}
    row, incumbent = table[CANDIDATE], table["incumbent"]
    assert (row["n"], row["successes"], row["accuracy"], row["reference"]) == (50, 40, 0.8, "ground_truth")
    assert (incumbent["n"], incumbent["successes"]) == (50, 45)
    # Wilson 40/50 by hand: centre (0.8 + z²/100)/(1 + z²/50), half z/(1 + z²/50)·√(0.0032 + z²/10⁴).
    assert row["ci_low"] == pytest.approx(0.66963, abs=1e-5) and row["ci_high"] == pytest.approx(0.88756, abs=1e-5)
    assert row["n_paired"] == 50 and row["incumbent_accuracy"] == 0.9
    assert row["diff"] == pytest.approx(-0.1)
    assert (row["diff_low"], row["diff_high"]) == pytest.approx(stats.newcombe_paired_interval(38, 2, 7, 3))
    # McNemar exact: b = 2, c = 7 -> 2·P(Bin(9, ½) ≤ 2) = 2·46/512, as scipy's binomial test.
    assert row["mcnemar_p"] == pytest.approx(92 / 512)
    assert row["mcnemar_p"] == pytest.approx(scipy.stats.binomtest(2, 9, 0.5).pvalue)
    expected = stats.non_inferiority_paired([True] * 40 + [False] * 10,
                                            [True] * 38 + [False] * 2 + [True] * 7 + [False] * 3)
    assert (row["verdict"], row["verdict_text"]) == (expected.verdict, expected.text)
    assert row["compared_with"] == "incumbent" and row["verdict"] != "non-inferior"
    assert row["score_diff"] is None  # binary scores: no bootstrap needed
    assert incumbent["compared_with"] == "target"
    assert incumbent["verdict_text"].startswith("the incumbent's accuracy against ground truth: ")


def test_agreement_without_ground_truth_is_compared_with_the_target(con):
    items = [{"request_id": f"a{i}", "incumbent": "yes", "task_type": "classification",
              CANDIDATE: "yes" if i < 19 else "no"} for i in range(20)]
    build_run(con, items, candidates=(CANDIDATE,))
    score_run(con, "run1")
    [row] = quality_table(con, "run1", target=0.9).to_dicts()
    expected = stats.non_inferiority_target(19, 20, 0.9)
    assert (row["reference"], row["n"], row["accuracy"], row["n_paired"]) == ("incumbent", 20, 0.95, 0)
    assert row["verdict_text"] == f"agreement with the incumbent's answers (no ground truth): {expected.text}"
    assert row["verdict"] == expected.verdict and row["more_samples"] == expected.more_samples


def test_continuous_scores_get_a_bootstrap_and_exact_scores_win_over_the_judge(con):
    items = [{"request_id": f"s{i}", "label": "x", CANDIDATE: "x"} for i in range(4)]
    build_run(con, items, candidates=(CANDIDATE,))
    now = utcnow()
    candidate_scores, incumbent_scores = [0.5, 1.0, 0.25, 1.0], [1.0, 1.0, 0.5, 0.75]
    for i in range(4):
        for who, value in ((CANDIDATE, candidate_scores[i]), ("incumbent", incumbent_scores[i])):
            con.execute("INSERT INTO scores VALUES ('run1', ?, ?, 'fuzzy', 'ground_truth', ?, ?, NULL, ?)",
                        [who, f"s{i}", value, value == 1.0, now])
        con.execute("INSERT INTO scores VALUES ('run1', ?, ?, 'judge', 'ground_truth', 0, false, 'judge', ?)",
                    [CANDIDATE, f"s{i}", now])
    row = quality_table(con, "run1").filter(candidate=CANDIDATE).to_dicts()[0]
    boot = stats.paired_bootstrap_diff(candidate_scores, incumbent_scores)
    assert (row["score_diff"], row["score_diff_low"], row["score_diff_high"]) == (boot.value, boot.low, boot.high)
    assert row["mean_score"] == pytest.approx(0.6875) and row["successes"] == 2
    judged = quality_table(con, "run1", scorer="judge").to_dicts()
    assert [(r["candidate"], r["successes"], r["n_paired"]) for r in judged] == [(CANDIDATE, 0, 0)]


def test_latency_table(con):
    n = MIN_LATENCY_REQUESTS
    items = [{"request_id": f"l{i}", "label": "x", CANDIDATE: "x", CANDIDATE + "#latency": 100.0 * (i + 1),
              "latency_ms": 1000.0 + i, "ttft_ms": 200.0, "output_tokens": 80} for i in range(n)]
    items.append({"request_id": "fail", CANDIDATE: None})
    build_run(con, items, candidates=(CANDIDATE,))
    table = {r["candidate"]: r for r in latency_table(con, "run1").to_dicts()}
    row = table[CANDIDATE]
    expected = stats.percentiles_with_ci([100.0 * (i + 1) for i in range(n)])
    assert (row["n"], row["failed"], row["timed"]) == (n, 1, n)
    assert (row["p50_ms"], row["p50_low"], row["p50_high"]) == (expected[0.5].value, expected[0.5].low, expected[0.5].high)
    assert row["p95_ms"] == expected[0.95].value and row["p99_ms"] == expected[0.99].value
    assert (row["ttft_p50_ms"], row["tokens_per_s"]) == (20.0, 50.0)
    incumbent = table["incumbent"]
    median = 1000.0 + (n - 1) / 2
    assert incumbent["n"] == n and incumbent["p50_ms"] == pytest.approx(median)
    # tokens/s = 80 / ((median latency − TTFT)/1000)
    assert incumbent["tokens_per_s"] == pytest.approx(stats.tokens_per_second(80, median / 1000, 0.2), rel=1e-3)


def test_latency_from_too_few_answers_is_not_shown(con):
    """Fewer than MIN_LATENCY_REQUESTS timed answers: percentiles and TTFT are None (too few),
    while the count of timed answers says why."""
    items = [{"request_id": f"l{i}", "label": "x", CANDIDATE: "x", CANDIDATE + "#latency": 100.0,
              "latency_ms": 1000.0, "ttft_ms": 200.0, "output_tokens": 80} for i in range(MIN_LATENCY_REQUESTS - 1)]
    build_run(con, items, candidates=(CANDIDATE,))
    row = {r["candidate"]: r for r in latency_table(con, "run1").to_dicts()}[CANDIDATE]
    assert row["timed"] == MIN_LATENCY_REQUESTS - 1
    assert row["p50_ms"] is None and row["p95_ms"] is None and row["ttft_p50_ms"] is None


def test_confusion_matrix_and_disagreements(con):
    labels = ["Card arrival", "Refund"]
    items = [
        {"request_id": "c1", "label": "Card arrival", "incumbent": "card arrival", CANDIDATE: "card_arrival",
         "task_type": "classification"},
        {"request_id": "c2", "label": "Card arrival", "incumbent": "Card arrival", CANDIDATE: "Refund",
         "task_type": "classification", "input_text": "where is my card?"},
        {"request_id": "c3", "label": "Refund", "incumbent": "Card arrival", CANDIDATE: "hmm",
         "task_type": "classification"},
        {"request_id": "c4", "label": "Refund", "incumbent": "Refund", CANDIDATE: None, "task_type": "classification"},
    ]
    build_run(con, items, candidates=(CANDIDATE,), adapter={"labels": labels})
    score_run(con, "run1")
    matrix = {(r["reference_label"], r["predicted_label"]): r["n"] for r in confusion_matrix(con, "run1", CANDIDATE).to_dicts()}
    assert matrix == {("Card arrival", "Card arrival"): 1, ("Card arrival", "Refund"): 1,
                      ("Refund", "(none)"): 1, ("Refund", "(no answer)"): 1}
    assert set(confusion_matrix(con, "run1", "incumbent")["reference"]) == {"ground_truth"}
    wrong = disagreements(con, "run1", CANDIDATE).to_dicts()
    assert [r["request_id"] for r in wrong] == ["c2", "c4", "c3"]  # incumbent right first
    first = wrong[0]
    assert (first["prompt"], first["reference_answer"], first["incumbent_answer"], first["candidate_answer"]) == (
        "where is my card?", "Card arrival", "Card arrival", "Refund")
    assert first["reason"] == "expected 'card arrival', got 'refund'" and first["incumbent_passed"] is True
    assert wrong[1]["reason"] == "no answer: HTTP 500 from server" and wrong[1]["candidate_answer"] is None
    assert len(disagreements(con, "run1", CANDIDATE, limit=1)) == 1
