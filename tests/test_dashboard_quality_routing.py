"""The Quality and Routing pages through Streamlit's AppTest on the demo workspace, with real replay
results: six labelled ticket classifications replayed against the local llama.cpp server and
scored (one run scored up front, a newer one left for the page's "Score it" button). The run and
candidate come from the sidebar (tests/test_candidate_choice.py covers the choice itself); the LLM
judge is configured on the Quality page with its key from the environment only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pages import table
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from analysis.economics import routing
from analysis.economics.routing_segments import segment_quality, segment_traffic
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.ingest import ingest_file
from analysis.ingest.demo import ensure_demo_workspace, generate
from analysis.present import formatting as fmt
from analysis.quality.candidate_choice import TOO_FEW
from analysis.quality.scoring.runner import score_run
from analysis.quality.verdicts import latency_table, quality_table
from analysis.replay.prompt_adapter import PromptAdapter
from analysis.replay.runs import RunParams, create_run, execute
from analysis.replay.sampling import SampleSpec
from analysis.settings import get_settings
from analysis.store.database import open_db
from dashboard.components import as_text

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
FAKE_KEY = "sk-test-fake-judge-key-never-stored-7"


@dataclass(frozen=True)
class Demo:
    folder: Path
    spec: str
    scored_run: str
    fresh_run: str


def _replay(con, spec: str) -> str:
    run_id = create_run(con, [spec], SampleSpec(size=6, task_types=["classification"], seed=1),
                        PromptAdapter(auto_labels=True), RunParams(max_tokens=8, concurrency=2, timeout_s=120),
                        budget_usd=0.0)
    progress = execute(con, run_id)
    assert progress.status == "done" and progress.done == 6
    return run_id


@pytest.fixture(scope="module")
def demo(tmp_path_factory, llama_server):
    """The demo workspace with a scored run and a newer, unscored one of the same sample."""
    folder = tmp_path_factory.mktemp("demo-quality") / "workspaces"
    settings = get_settings(data_dir=folder)
    ensure_demo_workspace(settings)
    spec = f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}"
    con = open_db("demo", settings=settings)
    try:
        scored = _replay(con, spec)
        score_run(con, scored)
        fresh = _replay(con, spec)
    finally:
        con.close()
    return Demo(folder, spec, scored, fresh)


@pytest.fixture
def app(demo, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(demo.folder))
    return AppTest.from_file(APP, default_timeout=120)


def _open(app: AppTest, page: str, **params) -> AppTest:
    for key, value in params.items():
        app.query_params[key] = value
    app.run()
    app.switch_page(f"views/{page}.py").run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    return app


def _charts(app: AppTest) -> dict[str, dict]:
    """Plotly charts on the page by widget key: their figure JSON."""
    return {c.key: json.loads(c.proto.spec) for c in app.get("plotly_chart")}


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def _connection(demo: Demo):
    return open_db("demo", settings=get_settings(data_dir=demo.folder))


# --- Quality --------------------------------------------------------------------------------


def test_quality_shows_the_candidate_with_a_verdict_and_the_confusion_matrix(app, demo):
    _open(app, "quality")
    assert app.sidebar.selectbox(key="rt_pick").value == (demo.scored_run, demo.spec)  # the only scored one
    assert app.selectbox(key="q_run").value == demo.scored_run
    rows = table(app, "verdict")
    [row] = [r for r in rows if r["candidate"] == demo.spec]
    assert rows[0] == row  # the sidebar's candidate first
    assert row["task type"] == "classification" and row["reference"] == "ground_truth" and row["n"] == 6
    assert row["verdict"] in ("non-inferior", "inferior", TOO_FEW) and row["why"] and row["95% interval"]
    if row["verdict"] == TOO_FEW:  # six answers rarely decide a 2-point margin
        assert row["why"].startswith("too few to tell: 6 compared, about ") and "needed" in row["why"]
    assert any(r["candidate"] == "incumbent" for r in rows)  # the demo logs answers with ground truth
    charts = _charts(app)
    assert {"q_intervals", "q_latency_chart", "q_confusion"} <= set(charts)
    heatmap = charts["q_confusion"]["data"][0]
    assert heatmap["type"] == "heatmap" and sum(map(sum, heatmap["z"])) == 6  # every sampled request once
    assert charts["q_confusion"]["layout"]["xaxis"]["title"]["text"] == "Predicted label"
    con = _connection(demo)
    measured = {r["candidate"]: r for r in latency_table(con, demo.scored_run).to_dicts()}
    con.close()
    shown = {r["candidate"]: r for r in table(app, "first token p50")}
    assert set(shown) == set(measured) == {demo.spec, "incumbent"}
    assert all(shown[c]["p50"].startswith(fmt.duration_ms(measured[c]["p50_ms"])) for c in shown)


def test_disagreements_browser_shows_request_and_both_answers(app, demo):
    _open(app, "quality")
    assert app.selectbox(key="q_candidate").value == demo.spec  # the sidebar's candidate
    con = _connection(demo)
    [row] = quality_table(con, demo.scored_run).filter(candidate=demo.spec).to_dicts()
    con.close()
    wrong = row["n"] - row["successes"]
    if wrong == 0:
        assert any("No disagreements" in s.value for s in app.success)
        return
    assert len(table(app, "reason")) == wrong
    opened = app.selectbox(key="q_open").value
    codes = [c.value for c in app.main.code]  # the sidebar shows the candidate's SPEC as code too
    assert any("Classify the customer ticket" in c for c in codes)  # the original request
    assert len(codes) == 4 and opened in [r["request_id"] for r in table(app, "reason")]
    assert any(m.value.startswith("**Score") for m in app.markdown)


def test_judge_settings_take_the_key_from_the_environment_only(app, demo, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    _open(app, "quality")
    assert app.session_state["q_judge"] is None and "LLM judge: none" in app.expander[0].label
    app.selectbox(key="q_judge_provider").set_value("openai")
    app.text_input(key="q_judge_model").set_value("gpt-4o-mini").run()
    assert not app.exception and not app.error
    assert app.expander[0].label == "LLM judge: " + as_text("openai:gpt-4o-mini")  # typed text: shown as text
    assert any(c.value == "Key from OPENAI_API_KEY: set" for c in app.caption)
    judge = app.session_state["q_judge"]
    assert (judge.spec, judge.budget_usd) == ("openai:gpt-4o-mini", 1.0)
    app.switch_page("views/routing.py").run()  # the judge stays for the session (the Replay page reads it)
    app.switch_page("views/quality.py").run()
    assert app.session_state["q_judge"].spec == "openai:gpt-4o-mini"
    assert FAKE_KEY not in repr(app.session_state.to_dict()) and FAKE_KEY not in json.dumps(_params(app))
    assert all(FAKE_KEY.encode() not in path.read_bytes() for path in demo.folder.glob("*"))
    monkeypatch.delenv("OPENAI_API_KEY")
    app.run()
    assert any(c.value == "Key from OPENAI_API_KEY: not set" for c in app.caption)
    app.selectbox(key="q_judge_provider").set_value(None).run()
    assert app.session_state["q_judge"] is None


def test_score_button_scores_a_run_without_scores(app, demo):
    _open(app, "quality")
    if app.selectbox(key="q_unscored").value != demo.fresh_run or not app.button(key="q_score"):
        pytest.fail("the run without scores should be offered with 'Score it'")
    app.button(key="q_score").click().run()
    assert not app.exception
    assert any(s.value == f"Run {demo.fresh_run}: 12 answers scored (6 of them the incumbent's)." for s in app.success)
    assert not [b for b in app.button if b.key == "q_score"]  # nothing left to score
    # the sidebar's candidate was the rule's pick: the newest real scored run is now the fresh one
    assert app.sidebar.selectbox(key="rt_pick").value == (demo.fresh_run, demo.spec)
    assert app.selectbox(key="q_run").value == demo.fresh_run
    assert any(r["candidate"] == demo.spec for r in table(app, "verdict"))


# --- Routing --------------------------------------------------------------------------------


def _expected(demo: Demo, **choice) -> routing.Recommendation:
    """The recommendation computed straight from `analysis`, as the page should show it."""
    con = _connection(demo)
    try:
        defaults = scenario_defaults(con)
        segment_by = choice.get("segment_by", "task_complexity")
        traffic = segment_traffic(con, segment_by)
        quality = segment_quality(con, choice["run"], demo.spec, segment_by)
    finally:
        con.close()
    policy = routing.RoutingPolicy(in_house=frozenset(choice.get("in_house", ())))
    return routing.recommend(traffic, quality, defaults, policy)


def test_routing_shows_the_recommendation_with_shares(app, demo):
    _open(app, "routing")
    run = app.selectbox(key="rt_run").value
    assert run in (demo.scored_run, demo.fresh_run) and app.selectbox(key="rt_candidate").value == demo.spec
    rec = _expected(demo, run=run)
    metrics = _metrics(app)
    assert metrics["Split cost / month"] == fmt.usd(rec.plan.monthly_usd)
    assert metrics["Served locally"] == fmt.percent(rec.plan.local_share)
    assert metrics["API spend moved"] == fmt.percent(rec.plan.local_spend_share)
    split = table(app, "side")
    assert [r["segment"] for r in split] == [d.key for d in rec.segments]
    assert [r["requests"] for r in split] == [fmt.percent(d.request_share) for d in rec.segments]
    measured = [r for r in split if r["local quality"] != "–"]
    assert measured and all(r["segment"].startswith("classification/") for r in measured)
    charts = _charts(app)
    assert {"rt_split_chart", "rt_bill"} <= set(charts)
    assert charts["rt_bill"]["layout"]["yaxis"]["title"]["text"] == "Cost per day (USD)"
    assert len(charts["rt_bill"]["data"][0]["x"]) == 30  # the demo's logged days


def test_routing_control_changes_the_numbers_and_round_trips_through_the_url(app, demo):
    _open(app, "routing")
    before = _metrics(app)
    biggest = max(table(app, "side"), key=lambda r: float(r["requests"].rstrip("%")))["segment"]
    app.multiselect(key="rt_in_house").select(biggest).run()
    app.radio(key="rt_mode").set_value("cascade").run()
    after = _metrics(app)
    assert after["Served locally"] != before["Served locally"]
    assert after["Split cost / month"] != before["Split cost / month"]
    params = _params(app)
    assert json.loads(params["ih"]) == [biggest] and params["rm"] == "cascade" and params["seg"] == "task_complexity"

    app.selectbox(key="rt_segment_by").set_value("task_type").run()
    segments = [r["segment"] for r in table(app, "side")]
    assert "classification" in segments and not any("/" in s for s in segments)
    assert app.multiselect(key="rt_in_house").value == []  # the old cut's segment is gone
    app.multiselect(key="rt_in_house").select("classification").run()
    app.number_input(key="sc_noninferiority_margin").set_value(0.05).run()
    app.number_input(key="sc_quality_target").set_value(0.5).run()
    params = _params(app)
    assert (params["seg"], params["nim"], params["qt"], json.loads(params["ih"])) == (
        "task_type", "0.05", "0.5", ["classification"])

    fresh = _open(AppTest.from_file(APP, default_timeout=120), "routing", **params)
    assert fresh.selectbox(key="rt_segment_by").value == "task_type"
    assert fresh.radio(key="rt_mode").value == "cascade"
    assert fresh.multiselect(key="rt_in_house").value == ["classification"]
    assert fresh.number_input(key="sc_noninferiority_margin").value == 0.05
    assert fresh.number_input(key="sc_quality_target").value == 0.5
    assert fresh.selectbox(key="rt_run").value == params["run"]
    assert _metrics(fresh) == _metrics(app) and table(fresh, "side") == table(app, "side")
    assert _params(fresh) == params


def _params(app: AppTest) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in app.query_params.items()}


def test_a_bad_routing_link_shows_a_message_and_the_defaults(app, demo):
    _open(app, "routing", seg="input_text", rm="sideways", run="nope")
    assert any("not understood" in w.value for w in app.warning)
    assert app.selectbox(key="rt_segment_by").value == "task_complexity"
    assert app.radio(key="rt_mode").value == "pre-routing"


def test_router_export_downloads_valid_json_python_and_litellm_config(app, demo, downloads):
    _open(app, "routing")
    assert {b.key for b in app.get("download_button")} >= {"rt_download_json", "rt_download_python", "rt_download_yaml"}
    assert {"router.json", "router.py", "litellm_config.yaml"} <= set(downloads)
    rules = json.loads(downloads["router.json"])
    assert rules["default"] == "api" and rules["segment_by"] == "task_complexity" and rules["routes"]
    router: dict = {}
    exec(compile(downloads["router.py"], "router.py", "exec"), router)
    sample = {"task_type": "classification", "complexity": 0.1, "tags": [], "input_tokens": 300}
    assert router["route"](sample) == rules["routes"].get("classification/low", "api")
    assert router["route"]({**sample, "input_tokens": rules["context_window"] + 1}) == "api"
    config = yaml.safe_load(downloads["litellm_config.yaml"])
    assert config["router_settings"]["enable_tag_filtering"] is True and len(config["model_list"]) == 4


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """{file name: bytes} of every file the app hands to Streamlit's media storage (the real
    storage still stores it; AppTest drops its storage after each run)."""
    files: dict[str, bytes] = {}
    store = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        files[filename] = path_or_data
        return store(self, path_or_data, mimetype, kind, filename)
    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return files


# --- Empty states -----------------------------------------------------------------------------


def test_without_runs_quality_says_replay_and_routing_still_helps(tmp_path, monkeypatch):
    folder = tmp_path / "mini"
    settings = get_settings(data_dir=folder)
    con = open_db("mini", settings=settings)
    log = tmp_path / "mini.jsonl"
    generate(log, days=3, base_per_day=60)
    assert ingest_file(con, log, format="generic").ok
    con.close()
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(folder))
    quality_page = _open(AppTest.from_file(APP, default_timeout=120), "quality", ws="mini")
    assert any("Replay" in i.value for i in quality_page.info)
    routing_page = _open(AppTest.from_file(APP, default_timeout=120), "routing", ws="mini")
    assert any("No scored replay results" in i.value for i in routing_page.info)
    assert _metrics(routing_page)["Served locally"] == "0.0%"
    con = open_db("mini", settings=settings)
    rec = routing.recommend(segment_traffic(con), {}, scenario_defaults(con))
    con.close()
    biggest_first = sorted(rec.segments, key=lambda d: -d.api_usd_if_all_api)
    assert [r["segment"] for r in table(routing_page, "too long for the local window")] == [
        d.key for d in biggest_first if d.too_long_share < 1]


def test_empty_workspace_tells_the_user_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(tmp_path / "empty"))
    quality_page = _open(AppTest.from_file(APP, default_timeout=60), "quality", ws="empty")
    assert any("Replay" in i.value for i in quality_page.info)
    routing_page = _open(AppTest.from_file(APP, default_timeout=60), "routing", ws="empty")
    assert any("Logs" in i.value for i in routing_page.info)
