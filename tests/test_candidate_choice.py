"""The best replayed candidate (analysis.quality.candidate_choice): the rule on hand-made verdicts,
then on the demo workspace with real runs added; and reading a verdict as "too few to tell"."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from pages import open_page
from streamlit.testing.v1 import AppTest

from analysis.economics.decision import workspace_decision
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.quality import stats
from analysis.quality.candidate_choice import (
    TOO_FEW,
    Reading,
    best_candidate,
    describe,
    rank_candidates,
    read_verdict,
    summarise,
)
from analysis.quality.scoring.runner import INCUMBENT, score_run
from analysis.quality.verdicts import quality_table
from analysis.replay.demo_run import CANDIDATE, DEMO_RUN_ID, SAMPLE_SIZE
from analysis.replay.runs import create_run
from analysis.replay.sampling import SampleSpec
from analysis.settings import get_settings
from analysis.store.database import open_db

GOOD = "openai-compat:http://127.0.0.1:9/v1:good-model"
POOR = "openai-compat:http://127.0.0.1:9/v1:poor-model"


def _rows(*rows: tuple) -> pl.DataFrame:
    """quality_table rows: (run, candidate, task type, n, successes, verdict)."""
    return pl.DataFrame([{"run_id": r, "candidate": c, "task_type": t, "n": n, "successes": x, "verdict": v}
                         for r, c, t, n, x, v in rows])


def test_the_rule_ranks_non_inferior_share_then_accuracy_then_answers_then_name():
    table = _rows(
        ("new", "a", "classification", 100, 90, "non-inferior"), ("new", "a", "code", 100, 40, "inferior"),
        ("new", "b", "classification", 100, 99, "non-inferior"), ("new", "b", "code", 100, 50, "inconclusive"),
        ("new", "c", "classification", 50, 45, "non-inferior"),  # one segment, non-inferior: share 1
        ("new", "d", "classification", 60, 54, "non-inferior"),  # the same share and accuracy, more answers
        ("new", INCUMBENT, "classification", 100, 100, "non-inferior"),
        ("old", "e", "classification", 100, 100, "non-inferior"),
        (DEMO_RUN_ID, "f", "classification", 1000, 1000, "non-inferior"),
    )
    ranked = summarise(table, ["new", "old", DEMO_RUN_ID])
    assert [(s.run_id, s.candidate) for s in ranked] == [
        ("new", "d"), ("new", "c"), ("new", "b"), ("new", "a"), ("old", "e"), (DEMO_RUN_ID, "f")]
    best = ranked[0]
    assert (best.scored, best.segments, best.non_inferior, best.accuracy) == (60, 1, 1, 0.9)
    assert best.label == "d · run new · 60 scored" and ranked[-1].label == "f · run demo-synthetic (demo) · 1,000 scored"
    tied = _rows(("r", "zeta", "x", 10, 9, "non-inferior"), ("r", "alpha", "x", 10, 9, "non-inferior"))
    assert [s.candidate for s in summarise(tied, ["r"])] == ["alpha", "zeta"]


@pytest.fixture
def demo(demo_dir, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(demo_dir, folder)
    con = open_db("demo", settings=get_settings(data_dir=folder))
    yield con
    con.close()


def _run(con, answers: dict[str, str]) -> str:
    """A real run of 40 ticket classifications, each candidate answering per `answers`: 'label'
    (the ground truth) or 'half' (the ground truth for every other request, else a wrong label)."""
    run_id = create_run(con, list(answers), SampleSpec(size=40, task_types=["classification"], seed=3))
    for spec, how in answers.items():
        wrong = "CASE WHEN q.position % 2 = 0 THEN r.label ELSE 'no such queue' END"
        con.execute(f"""INSERT INTO results (run_id, candidate, request_id, output_text, input_tokens, output_tokens,
                                             usage_reported, latency_ms, ttft_ms, tokens_per_s, cost_usd, status,
                                             attempts, finished_at)
                        SELECT q.run_id, ?, q.request_id, {'r.label' if how == 'label' else wrong}, 400, 2, true,
                               300, 100, 40, 0, 'ok', 1, now()::TIMESTAMP
                        FROM run_requests q JOIN requests r USING (request_id) WHERE q.run_id = ?""",
                    [spec, run_id]).fetchall()
    score_run(con, run_id)
    return run_id


def test_on_the_demo_the_best_is_the_demo_candidate_until_a_real_run_is_scored(demo):
    best = best_candidate(demo)
    assert (best.run_id, best.candidate, best.synthetic) == (DEMO_RUN_ID, CANDIDATE.spec, True)
    run = _run(demo, {POOR: "half", GOOD: "label"})
    ranked = rank_candidates(demo)
    assert [(s.run_id, s.candidate) for s in ranked] == [(run, GOOD), (run, POOR), (DEMO_RUN_ID, CANDIDATE.spec)]
    assert best_candidate(demo) == ranked[0] and ranked[0].accuracy == 1.0 and ranked[1].accuracy == 0.5
    assert ranked[0].non_inferior == ranked[1].non_inferior == 0  # 40 answers decide no 2-point margin: accuracy does
    newer = _run(demo, {POOR: "half"})  # a newer real run: it is the default run, so its candidate is best
    assert (best_candidate(demo).run_id, best_candidate(demo).candidate) == (newer, POOR)


def test_a_small_run_reads_too_few_to_tell_with_the_answers_needed(demo):
    run = _run(demo, {GOOD: "label"})
    [row] = quality_table(demo, run, margin=0.02).filter(candidate=GOOD).to_dicts()
    assert row["compared_with"] == INCUMBENT and row["verdict"] == "inconclusive"
    reading = read_verdict(row, margin=0.02)
    n = row["n_paired"]
    z2 = stats.NormalDist().inv_cdf(0.975) ** 2
    planning = (row["incumbent_accuracy"] * n + z2 / 2) / (n + z2)
    assert reading == Reading(TOO_FEW, n, stats.sample_size_for_margin(planning, 0.02, arms=2), reading.text)
    assert reading.needed > n and reading.text.startswith(f"too few to tell: {n} compared, about ")
    assert "needed to show it within 2 points of the incumbent" in reading.text
    decided = {**row, "verdict": "non-inferior", "verdict_text": "non-inferior within 2 points at 95%"}
    assert read_verdict(decided, margin=0.02) == Reading("non-inferior", n, None, decided["verdict_text"])


def test_against_a_target_the_n_is_for_clearing_it():
    row = {"n": 20, "n_paired": 0, "successes": 19, "accuracy": 0.95, "compared_with": "target",
           "verdict": "inconclusive", "verdict_text": "accuracy: not enough data", "incumbent_accuracy": None}
    reading = read_verdict(row, margin=0.02, target=0.8)
    z2 = stats.NormalDist().inv_cdf(0.975) ** 2
    planning = (19 + z2 / 2) / (20 + z2)
    assert reading.verdict == TOO_FEW and reading.needed == stats.sample_size_for_margin(planning, planning - 0.8)
    below = read_verdict({**row, "successes": 15, "accuracy": 0.75}, margin=0.02, target=0.8)
    assert below == Reading("inconclusive", 20, None, "accuracy: not enough data")  # more data will not lift it


def test_describe_names_the_task_types_per_verdict():
    readings = [("classification", Reading("non-inferior", 900, None, "")), ("code", Reading("inferior", 80, None, "")),
                ("reasoning", Reading(TOO_FEW, 6, 1234, "")), ("summarisation", Reading(TOO_FEW, 6, 310, ""))]
    assert describe(readings) == ("non-inferior on classification; inferior on code; too few to tell on reasoning, "
                                  "summarisation (about 1,300 answers needed)")
    assert describe([]) == "no verdicts yet"


# --- The sidebar's one candidate ------------------------------------------------------------------

WORSE, BETTER = "ollama:llama3.1:8b", "ollama:mistral:7b"  # catalogue models; the worse one sorts first


@pytest.fixture(scope="module")
def two_candidates(demo_dir, tmp_path_factory) -> tuple[Path, str]:
    """A copy of the demo with a real run of two candidates, the better one named second (so a rule
    taking the first would pick the worse): the rule, and with it the workspace defaults' priced
    model, the CLI and the report, pick the better one."""
    folder = tmp_path_factory.mktemp("two-candidates") / "workspaces"
    shutil.copytree(demo_dir, folder)
    con = open_db("demo", settings=get_settings(data_dir=folder))
    try:
        run = _run(con, {WORSE: "half", BETTER: "label"})
        assert scenario_defaults(con).candidate_model == "mistral-7b-instruct-v0.3"  # BETTER's model
        assert workspace_decision(con, scenario_defaults(con)).evidence.candidate == BETTER
    finally:
        con.close()
    return folder, run


@pytest.fixture
def ui(two_candidates, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(two_candidates[0]))
    return two_candidates[1]


def _params(app: AppTest) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in app.query_params.items()}


def _shows(app: AppTest, run: str, candidate: str) -> None:
    """The pick in the sidebar and the URL."""
    assert app.sidebar.selectbox(key="rt_pick").value == (run, candidate)
    assert (_params(app)["run"], _params(app)["cand"]) == (run, candidate)


def test_the_sidebar_starts_on_the_best_candidate_and_every_page_uses_it(ui):
    run = ui
    app = open_page("quality")
    picker = app.sidebar.selectbox(key="rt_pick")
    assert picker.options == [f"mistral:7b · run {run} · 40 scored", f"llama3.1:8b · run {run} · 40 scored",
                              f"{CANDIDATE.model} · run {DEMO_RUN_ID} (demo) · {SAMPLE_SIZE:,} scored"]
    assert [c.value for c in app.sidebar.code] == [BETTER]  # the whole SPEC below it
    _shows(app, run, BETTER)
    assert app.selectbox(key="q_run").value == run
    rows = [r for r in _frame(app, "verdict") if r["candidate"] != INCUMBENT]
    assert [r["candidate"] for r in rows] == [BETTER, WORSE]  # the chosen candidate first
    better = rows[0]
    assert better["verdict"] == TOO_FEW and better["n"] == 40 and "vs the incumbent" in better["95% interval"]
    assert better["why"].startswith("too few to tell: 40 compared, about ") and "needed" in better["why"]
    assert int(better["n needed"].replace(",", "")) > 40
    assert any(m.value.replace("\\", "").startswith("**The sidebar's candidate** (first below): too few to tell on "
                                                  "classification (about ") for m in app.markdown)
    open_page("routing", app)
    assert (app.selectbox(key="rt_run").value, app.selectbox(key="rt_candidate").value) == (run, BETTER)
    assert app.selectbox(key="rt_candidate").disabled
    _shows(app, run, BETTER)
    open_page("overview", app)
    assert any(f"{BETTER} (run {run}" in c.value.replace("\\", "") for c in app.caption)
    open_page("economics", app)
    assert app.selectbox(key="sc_candidate_model").value == "mistral-7b-instruct-v0.3"  # follows, not the defaults
    _shows(app, run, BETTER)  # Economics rewrites its URL: the candidate stays in it


def test_a_pick_moves_every_page_and_a_link_opens_with_it(ui):
    run = ui
    app = open_page("routing")
    app.sidebar.selectbox(key="rt_pick").set_value((run, WORSE)).run()
    assert (app.selectbox(key="rt_run").value, app.selectbox(key="rt_candidate").value) == (run, WORSE)
    _shows(app, run, WORSE)
    assert any(f"{WORSE} (run {run}" in c.value.replace("\\", "") for c in app.caption)  # the decision's caveat
    open_page("quality", app)
    assert [r["candidate"] for r in _frame(app, "verdict")][0] == WORSE
    open_page("economics", app)
    assert app.selectbox(key="sc_candidate_model").value == "llama-3.1-8b-instruct"
    params = _params(app)
    fresh = open_page("quality", **params)  # a new browser with the link
    _shows(fresh, run, WORSE)
    assert [r["candidate"] for r in _frame(fresh, "verdict")][0] == WORSE
    open_page("economics", fresh)
    assert fresh.selectbox(key="sc_candidate_model").value == "llama-3.1-8b-instruct"


def test_a_model_the_user_picked_stays_when_the_candidate_changes(ui):
    run = ui
    app = open_page("economics")
    assert app.selectbox(key="sc_candidate_model").value == "mistral-7b-instruct-v0.3"
    app.selectbox(key="sc_candidate_model").set_value("phi-4").run()
    app.sidebar.selectbox(key="rt_pick").set_value((run, WORSE)).run()
    assert app.selectbox(key="sc_candidate_model").value == "phi-4"
    assert any("The price is for Phi-4" in c.value.replace("\\", "") for c in app.caption)  # the decision says so


def test_the_demo_candidate_outside_the_catalogue_leaves_the_model(ui):
    app = open_page("economics")
    app.sidebar.selectbox(key="rt_pick").set_value((DEMO_RUN_ID, CANDIDATE.spec)).run()
    assert app.selectbox(key="sc_candidate_model").value == "mistral-7b-instruct-v0.3"
    assert any("synthetic" in c.value for c in app.sidebar.caption)


def _frame(app: AppTest, column: str) -> list[dict]:
    [frame] = [d.value for d in app.dataframe if column in d.value.columns]
    return frame.to_dict("records")
