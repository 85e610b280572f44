"""The demo's synthetic replay run (analysis.replay.demo_run): stored like a real run, labelled
synthetic, deterministic; a first visit to Quality and Routing on the demo shows a recommendation;
a real run made afterwards becomes the default; a user's own workspace never gets one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pages import open_page, table

from analysis.economics import routing
from analysis.economics.routing_segments import segment_quality, segment_traffic
from analysis.economics.scenario import Scenario
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.ingest import ingest_file
from analysis.ingest.demo import ensure_demo_workspace, generate
from analysis.present import formatting as fmt
from analysis.quality.scoring.runner import INCUMBENT, score_run
from analysis.quality.verdicts import quality_table, scored_runs
from analysis.replay import demo_run
from analysis.replay.demo_run import CANDIDATE, DEMO_FILE_NAME, DEMO_RUN_ID, default_run, ensure_demo_run, is_demo_run
from analysis.replay.runs import create_run
from analysis.replay.sampling import SampleSpec
from analysis.settings import get_settings
from analysis.store.database import open_db, rows, scalar

SPEC = CANDIDATE.spec
REAL = "openai-compat:http://127.0.0.1:9/v1:my-model"


@pytest.fixture
def demo(demo_dir, tmp_path, monkeypatch) -> Path:
    """A copy of the module's demo data directory (tests here add runs to it), as the app's."""
    folder = tmp_path / "copy"
    shutil.copytree(demo_dir, folder)
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(folder))
    return folder


def _connect(folder: Path, read_only: bool = False):
    return open_db("demo", settings=get_settings(data_dir=folder), read_only=read_only)


def _real_run(folder: Path) -> str:
    """A real run of the demo workspace: 30 ticket classifications answered with the ground truth
    by a candidate of the user's, scored."""
    con = _connect(folder)
    try:
        run_id = create_run(con, [REAL], SampleSpec(size=30, task_types=["classification"], seed=7))
        con.execute("""INSERT INTO results (run_id, candidate, request_id, output_text, input_tokens, output_tokens,
                                            usage_reported, latency_ms, ttft_ms, tokens_per_s, cost_usd, status,
                                            attempts, finished_at)
                       SELECT q.run_id, ?, q.request_id, r.label, 400, 2, true, 300, 100, 40, 0, 'ok', 1,
                              now()::TIMESTAMP
                       FROM run_requests q JOIN requests r USING (request_id) WHERE q.run_id = ?""",
                    [REAL, run_id]).fetchall()
        score_run(con, run_id)
    finally:
        con.close()
    return run_id


# --- The run itself ---------------------------------------------------------------------------


def test_the_demo_run_is_stored_like_a_real_run_and_labelled_synthetic(demo_dir):
    con = _connect(demo_dir, read_only=True)
    try:
        [(status, candidates, spec, size)] = rows(con, """
            SELECT status, candidates, sample_spec, (SELECT count(*) FROM run_requests WHERE run_id = ?)
            FROM runs WHERE run_id = ?""", [DEMO_RUN_ID, DEMO_RUN_ID])
        assert status == "done" and size == demo_run.SAMPLE_SIZE
        assert json.loads(spec)["strategy"] == "stratified"
        [candidate] = json.loads(candidates)
        assert candidate["model"] == "llama-3.1-8b-instruct (demo)" and "demo-synthetic" in candidate["base_url"]
        assert "synthetic" in DEMO_RUN_ID
        # every sampled request is one of the demo's synthetic log, answered once, at no per-call cost
        assert scalar(con, """SELECT count(*) FROM run_requests q JOIN requests r USING (request_id)
                              JOIN sources s USING (source_id) WHERE q.run_id = ? AND s.file_name = ?""",
                      [DEMO_RUN_ID, DEMO_FILE_NAME]) == size
        counts = dict(rows(con, "SELECT status, count(*) FROM results WHERE run_id = ? GROUP BY 1", [DEMO_RUN_ID]))
        assert counts["ok"] + counts.get("failed", 0) == size and 0 < counts.get("failed", 0) < size * 0.01
        assert scalar(con, "SELECT sum(cost_usd) FROM results WHERE run_id = ?", [DEMO_RUN_ID]) == 0
        latency = rows(con, """SELECT min(ttft_ms), quantile_cont(latency_ms, 0.5), min(tokens_per_s), max(tokens_per_s)
                               FROM results WHERE run_id = ? AND status = 'ok'""", [DEMO_RUN_ID])[0]
        assert latency[0] > 20 and 100 < latency[1] < 5_000 and 50 <= latency[2] <= latency[3] <= 80
        table = {(r["candidate"], r["task_type"]): r for r in quality_table(con, DEMO_RUN_ID).to_dicts()}
    finally:
        con.close()
    verdicts = {task: r["verdict"] for (candidate, task), r in table.items() if candidate == SPEC}
    assert verdicts == {"classification": "non-inferior", "extraction": "non-inferior",
                        "summarisation": "non-inferior", "code": "inferior", "reasoning": "inferior"}
    incumbent = table[(INCUMBENT, "classification")]
    assert incumbent["reference"] == "ground_truth"  # the incumbent scored against the same labels
    assert abs(table[(SPEC, "classification")]["accuracy"] - incumbent["accuracy"]) < 0.02  # it matches


def test_the_demo_run_is_deterministic(demo_dir):
    con = _connect(demo_dir, read_only=True)
    try:
        created = scalar(con, "SELECT created_at FROM runs WHERE run_id = ?", [DEMO_RUN_ID])
        stored = rows(con, """SELECT request_id, output_text, input_tokens, output_tokens, latency_ms, ttft_ms, status
                              FROM results WHERE run_id = ? ORDER BY request_id""", [DEMO_RUN_ID])
        again = demo_run._results(con, created).sort("request_id")
    finally:
        con.close()
    columns = ["request_id", "output_text", "input_tokens", "output_tokens", "latency_ms", "ttft_ms", "status"]
    assert stored == list(again.select(columns).iter_rows())


def test_default_run_prefers_any_real_run():
    assert default_run([]) is None
    assert default_run([DEMO_RUN_ID]) == DEMO_RUN_ID
    assert default_run([DEMO_RUN_ID, "new", "old"]) == "new"
    assert default_run(["new", DEMO_RUN_ID, "old"]) == "new"
    assert default_run({"old": [], DEMO_RUN_ID: []}) == "old"  # a real run wins even when it is older
    assert is_demo_run(DEMO_RUN_ID) and not is_demo_run("new") and not is_demo_run(None)


def test_a_users_own_workspace_never_gets_the_demo_run(data_dir, tmp_path):
    """ensure_demo_workspace opens the demo workspace only; and ensure_demo_run itself refuses a
    workspace holding anything but the demo's synthetic log."""
    settings = get_settings(data_dir=data_dir)
    log = tmp_path / "mine.jsonl"
    generate(log, days=2, base_per_day=40)
    con = open_db("main", settings=settings)
    try:
        assert ingest_file(con, log, format="generic").ok
        assert ensure_demo_run(con) is None  # not the demo's synthetic log: nothing is written
        assert scalar(con, "SELECT count(*) FROM runs") == scalar(con, "SELECT count(*) FROM results") == 0
    finally:
        con.close()


# --- A first visit ----------------------------------------------------------------------------


def test_first_visit_to_quality_shows_the_demo_run_with_verdicts(demo):
    app = open_page("quality")
    assert app.selectbox(key="q_run").value == DEMO_RUN_ID
    assert any("synthetic" in c.value for c in app.caption)
    verdicts = {r["task type"]: r["verdict"] for r in table(app, "verdict") if r["candidate"] == SPEC}
    assert verdicts["classification"] == "non-inferior" and verdicts["reasoning"] == "inferior"
    assert {c.key for c in app.get("plotly_chart")} >= {"q_intervals", "q_latency_chart", "q_confusion"}
    assert table(app, "reason")  # the disagreements browser has something to open


def test_first_visit_to_routing_shows_a_recommendation(demo):
    app = open_page("routing")
    assert app.selectbox(key="rt_run").value == DEMO_RUN_ID and app.selectbox(key="rt_candidate").value == SPEC
    assert any("synthetic" in c.value for c in app.caption)
    assert not any("No scored replay results" in i.value for i in app.info)
    con = _connect(demo)
    try:
        rec = routing.recommend(segment_traffic(con), segment_quality(con, DEMO_RUN_ID, SPEC), scenario_defaults(con))
    finally:
        con.close()
    split = {r["segment"]: r for r in table(app, "side")}
    assert [r["why"] for r in split.values()] == [d.reason for d in rec.segments]
    measured = {s for s, r in split.items() if r["local quality"] != "–"}
    assert {"classification/low", "extraction/low", "summarisation/low", "code/low", "reasoning/mid"} <= measured
    for segment in ("classification/low", "extraction/low", "summarisation/low"):
        assert split[segment]["why"].startswith("non-inferior")  # local or not is the economics' call
    assert all(r["side"] == "API" and r["why"].startswith("quality") for s, r in split.items()
               if s.startswith(("code/", "reasoning/mid")))
    sides = {r["side"] for r in split.values()}
    assert {"local", "API"} <= sides, ("the demo no longer shows a split on a first visit at the workspace's "
                                       f"default scenario: {[(s, r['side'], r['why']) for s, r in split.items()]}")


def test_routing_splits_the_demo_traffic_where_a_gpu_pays(demo):
    """With a volume and a dedicated GPU whose capacity covers it (set in the link, as on the
    Economics page), every segment the run matches goes local; code and reasoning stay on the API."""
    params = {"rpd": "100000", "g": "L4", "md": "dedicated", "cap": "5", "cs": "user"}
    app = open_page("routing", **params)
    con = _connect(demo)
    try:
        scenario = Scenario.from_query_params(params, scenario_defaults(con))
        rec = routing.recommend(segment_traffic(con), segment_quality(con, DEMO_RUN_ID, SPEC), scenario)
    finally:
        con.close()
    sides = {r["segment"]: r["side"] for r in table(app, "side")}
    assert sides == {d.key: {"api": "API", "local": "local"}[d.side] for d in rec.segments}
    assert {s for s, side in sides.items() if side == "local"} == {"classification/low", "extraction/low",
                                                                    "summarisation/low"}
    assert all(sides[s] == "API" for s in sides if s.startswith(("code/", "reasoning/")))
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Served locally"] == fmt.percent(rec.plan.local_share) != "0.0%"
    assert rec.savings_monthly_usd > 0


# --- A real run replaces it -------------------------------------------------------------------


def test_a_real_run_made_afterwards_becomes_the_default(demo):
    routing_page = open_page("routing")
    assert routing_page.selectbox(key="rt_run").value == DEMO_RUN_ID
    real = _real_run(demo)
    routing_page.run()  # the same session: the demo's run picked by default gives way
    assert routing_page.selectbox(key="rt_run").value == real and routing_page.selectbox(key="rt_candidate").value == REAL
    assert not any("synthetic" in c.value for c in routing_page.caption)
    assert open_page("routing").selectbox(key="rt_run").value == real
    assert open_page("quality").selectbox(key="q_run").value == real
    con = _connect(demo)
    try:
        assert list(scored_runs(con)) == [real, DEMO_RUN_ID]
        assert segment_quality(con) == segment_quality(con, real)  # `breakeven route` without --run
    finally:
        con.close()


def test_a_link_to_the_demo_run_keeps_it(demo):
    real = _real_run(demo)
    app = open_page("routing", run=DEMO_RUN_ID, cand=SPEC)
    assert app.selectbox(key="rt_run").value == DEMO_RUN_ID != real


def test_a_demo_workspace_built_before_the_demo_run_gets_it_dated_before_its_runs(demo):
    real = _real_run(demo)
    con = _connect(demo)
    try:
        for table in ("scores", "results", "run_requests", "runs"):
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [DEMO_RUN_ID]).fetchall()
    finally:
        con.close()
    ensure_demo_workspace(get_settings(data_dir=demo))
    con = _connect(demo)
    try:
        order = [r[0] for r in rows(con, "SELECT run_id FROM runs ORDER BY created_at DESC")]
        assert order == [real, DEMO_RUN_ID] and scalar(con, "SELECT count(*) FROM scores WHERE run_id = ?",
                                                       [DEMO_RUN_ID])
    finally:
        con.close()
