"""compare_tuned: base vs tuned on the held-out split only, on runs scored by the real scorer with
planted right/wrong answers, so every count is known by construction."""

from __future__ import annotations

import json
from statistics import NormalDist

import pytest
import scipy.stats
from pages import open_page, table
from test_score_runner import build_run

from analysis.cli import main
from analysis.errors import NotFound
from analysis.quality import stats
from analysis.quality.scoring.runner import score_run
from analysis.quality.tuning_comparison import MIN_PAIRS, TuningComparisonError, compare_tuned
from analysis.store.database import open_db, utcnow
from dashboard.components import as_text

BASE = "openai-compat:http://127.0.0.1:8000/v1:llama-3.1-8b-instruct"
TUNED = "openai-compat:http://127.0.0.1:8000/v1:llama-3.1-8b-instruct-tuned"


def items(plan: list[str], prefix: str) -> list[dict]:
    """One labelled request per entry of `plan`: who answers right ('both', 'tuned', 'base', 'neither')."""
    out = []
    for i, who in enumerate(plan):
        out.append({"request_id": f"{prefix}{i:03d}", "label": "yes", "task_type": "classification",
                    "incumbent": "yes", BASE: "yes" if who in ("both", "base") else "no",
                    TUNED: "yes" if who in ("both", "tuned") else "no"})
    return out


def hold_out(con, request_ids):
    con.executemany("INSERT INTO held_out_requests VALUES (?, ?)", [[r, utcnow()] for r in request_ids])


def planted_run(con, held_plan, other_plan=()):
    held, other = items(held_plan, "h"), items(list(other_plan), "t")
    build_run(con, held + other, candidates=(BASE, TUNED), adapter={"labels": ["yes", "no"]})
    score_run(con, "run1")
    hold_out(con, [i["request_id"] for i in held])


def test_lift_on_held_out_pairs_with_mcnemar_and_interval(con):
    # 40 held-out: both right 20, only tuned 12, only base 2, neither 6. 30 more requests (trained on:
    # not held out) where only the base is right would turn the lift negative if they were counted.
    planted_run(con, ["both"] * 20 + ["tuned"] * 12 + ["base"] * 2 + ["neither"] * 6, ["base"] * 30)
    result = compare_tuned(con, "run1", BASE, TUNED)
    assert (result.n, result.left_out) == (40, 30)
    assert (result.both_right, result.tuned_only, result.base_only, result.neither) == (20, 12, 2, 6)
    assert result.base_accuracy == pytest.approx(22 / 40) and result.tuned_accuracy == pytest.approx(32 / 40)
    assert (result.tuned_low, result.tuned_high) == pytest.approx(stats.wilson_interval(32, 40))
    assert result.lift == pytest.approx(0.25)
    assert (result.lift_low, result.lift_high) == pytest.approx(stats.newcombe_paired_interval(20, 12, 2, 6))
    # McNemar exact: b = 12, c = 2 -> 2·P(Bin(14, ½) <= 2) = 2·(1 + 14 + 91)/2^14, as scipy's binomial test.
    assert result.mcnemar_p == pytest.approx(212 / 16384)
    assert result.mcnemar_p == pytest.approx(scipy.stats.binomtest(2, 14, 0.5).pvalue)
    assert result.lift_low > 0 and result.verdict == "better" and result.more_pairs is None
    assert result.text.startswith("the tuned model is better: +25.0 points") and "40 held-out requests" in result.text
    assert result.references == ("ground_truth",)


def test_an_interval_across_zero_is_too_few_to_tell_with_the_pairs_needed(con):
    planted_run(con, ["both"] * 14 + ["tuned"] * 4 + ["base"] * 2 + ["neither"] * 4)
    result = compare_tuned(con, "run1", BASE, TUNED)
    assert result.n == 24 and result.lift_low < 0 < result.lift_high
    assert result.verdict == "too few to tell"
    # Planning values: θ = (4 − 2)/(24 + z²), ψ = (6 + z²/2)/(24 + z²); n = (z + z_0.8)²(ψ − θ²)/θ² − 24.
    z = NormalDist().inv_cdf(0.975)
    theta, psi = 2 / (24 + z * z), (6 + z * z / 2) / (24 + z * z)
    needed = ((z + NormalDist().inv_cdf(0.8)) ** 2 * (psi - theta**2) / theta**2)
    assert result.more_pairs == int(-(-needed // 1)) - 24
    assert result.text.startswith("too few to tell: +8.3 points") and "more held-out requests needed" in result.text


def test_no_disagreement_plans_no_sample_and_few_pairs_give_no_verdict(con):
    planted_run(con, ["both"] * 5 + ["neither"] * 3)
    result = compare_tuned(con, "run1", BASE, TUNED)
    assert result.n == 8 < MIN_PAIRS and result.lift == 0 and result.verdict == "too few to tell"
    assert result.more_pairs is None and "no lift seen" in result.text


def test_a_clear_lift_on_fewer_than_the_minimum_pairs_is_still_too_few(con):
    planted_run(con, ["tuned"] * 9)
    result = compare_tuned(con, "run1", BASE, TUNED)
    assert result.lift_low > 0 and result.n == 9 and result.verdict == "too few to tell"
    assert result.more_pairs == MIN_PAIRS - 9


def test_refusals_name_what_is_missing(con):
    build_run(con, items(["both"] * 3, "t"), candidates=(BASE, TUNED), adapter={"labels": ["yes", "no"]})
    score_run(con, "run1")
    with pytest.raises(TuningComparisonError, match="held-out split is empty"):
        compare_tuned(con, "run1", BASE, TUNED)
    hold_out(con, ["elsewhere"])  # a held-out request this run never replayed
    with pytest.raises(TuningComparisonError, match=r"no held-out request .* \(3 scored pairs, none held out\)"):
        compare_tuned(con, "run1", BASE, TUNED)
    with pytest.raises(NotFound, match="has no candidate 'ollama:other'.*llama-3.1-8b-instruct"):
        compare_tuned(con, "run1", BASE, "ollama:other")
    with pytest.raises(NotFound, match="no replay run 'nope'"):
        compare_tuned(con, "nope", BASE, TUNED)


def test_cli_compare_tuned(capsys):
    con = open_db(None)
    planted_run(con, ["both"] * 20 + ["tuned"] * 12 + ["base"] * 2 + ["neither"] * 6, ["base"] * 5)
    con.close()
    assert main(["compare-tuned", "--run", "run1", "--base", BASE, "--tuned", TUNED, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["verdict"], data["n"], data["left_out"], data["tuned_only"]) == ("better", 40, 5, 12)
    assert main(["compare-tuned", "--run", "run1", "--base", BASE, "--tuned", TUNED]) == 0
    text = capsys.readouterr().out
    assert "the tuned model is better: +25.0 points" in text and "80.0%" in text and "55.0%" in text
    assert "5 scored requests outside the held-out split were left out" in text
    assert main(["compare-tuned", "--run", "run1", "--base", BASE, "--tuned", "ollama:x"]) == 1
    assert "has no candidate 'ollama:x'" in capsys.readouterr().err


def test_quality_page_shows_the_verdict_on_the_held_out_split():
    con = open_db("cmp")
    planted_run(con, ["both"] * 20 + ["tuned"] * 12 + ["base"] * 2 + ["neither"] * 6, ["base"] * 5)
    expected = compare_tuned(con, "run1", BASE, TUNED)
    con.close()
    app = open_page("quality", ws="cmp")
    assert app.selectbox(key="gr_cmp_run").value == "run1"
    assert app.selectbox(key="gr_cmp_base").value == BASE and app.selectbox(key="gr_cmp_tuned").value == TUNED
    assert [s.value for s in app.success if "tuned model" in s.value] == [as_text(expected.text)]
    rows = table(app, "held-out requests")
    assert [(r["role"], r["right"], r["accuracy"]) for r in rows] == [("base", 22, "55.0%"), ("tuned", 32, "80.0%")]
    app.selectbox(key="gr_cmp_tuned").set_value(BASE).run()  # the same candidate twice: said, not a crash
    assert any("the same" in i.value for i in app.info) and not app.exception
