"""Every page through Streamlit's AppTest on the demo workspace: renders without an exception,
shows its key numbers, reacts to a control, and keeps its scenario in the URL."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.economics import catalogue, comparison, scenario_store
from analysis.economics.decision import workspace_decision
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.settings import get_settings
from analysis.store.database import open_db
from dashboard.components import as_text

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
PAGES = ["overview", "logs", "economics", "scenarios"]


@pytest.fixture
def app(demo_dir, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(demo_dir))
    return AppTest.from_file(APP, default_timeout=60)


def _open(app: AppTest, page: str, **params) -> AppTest:
    for key, value in params.items():
        app.query_params[key] = value
    app.run()
    if page != "overview":
        app.switch_page(f"views/{page}.py").run()
    assert not app.exception, app.exception
    return app


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_demo(app, page):
    _open(app, page)
    assert app.title and not app.error


def test_overview_shows_the_demo_numbers(app, demo_dir):
    _open(app, "overview")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Requests per day"].endswith("k")  # thousands of requests a day
    assert metrics["Monthly spend"].startswith("$")
    assert any("Synthetic" in c.value for c in app.sidebar.caption)
    assert metrics["Narrow tasks"].endswith("%") and metrics["Narrow tasks"] != "0.0%"
    con = open_db("demo", settings=get_settings(data_dir=demo_dir))
    expected = workspace_decision(con, scenario_defaults(con)).headline
    con.close()
    assert any(m.value == f"### {as_text(expected)}" for m in app.markdown)  # the decision, not cost only


def test_economics_control_changes_the_numbers_and_the_url(app, demo_dir):
    _open(app, "economics")
    before = {m.label: m.value for m in app.metric}
    app.number_input(key="sc_ops_usd_per_month").set_value(800.0).run()
    after = {m.label: m.value for m in app.metric}
    assert after["Self-hosting per month"] != before["Self-hosting per month"]
    assert app.query_params["ops"] == ["800"] or app.query_params["ops"] == "800"


def test_economics_restores_from_query_params(app, demo_dir):
    con = open_db("demo", settings=get_settings(data_dir=demo_dir))  # same config as the app's cached one
    defaults = scenario_defaults(con)
    con.close()
    scenario = defaults.model_copy(update={"gpu_hourly_usd": 3.0, "ops_usd_per_month": 500.0})
    _open(app, "economics", **scenario.to_query_params())
    expected = comparison.evaluate(scenario.to_cost_inputs())
    metrics = {m.label: m.value for m in app.metric}
    from analysis.present import formatting as fmt
    assert metrics["Self-hosting per month"] == fmt.usd(expected.self_host.total_usd)
    assert app.number_input(key="sc_ops_usd_per_month").value == 500.0


def test_a_saved_scenarios_link_names_it(app, demo_dir):
    con = open_db("demo", settings=get_settings(data_dir=demo_dir))
    scenario = scenario_defaults(con).model_copy(update={"ops_usd_per_month": 321.0})
    sid = scenario_store.save(con, scenario, "ops *at* 321")
    con.close()
    _open(app, "economics", scenario=sid)
    assert any(c.value == f"Saved scenario: {as_text('ops *at* 321')}" for c in app.caption)  # as text, not Markdown
    assert app.number_input(key="sc_ops_usd_per_month").value == 321.0


def test_missing_scenario_link_shows_a_message_and_defaults(app):
    _open(app, "economics", scenario="zzzzzzzzzz")
    assert any("could not be opened" in w.value for w in app.warning)
    assert app.metric  # the defaults are shown


def test_invalid_scenario_params_show_a_message_and_defaults(app):
    _open(app, "economics", gh="-5")
    assert any("invalid" in w.value for w in app.warning)
    assert app.number_input(key="sc_gpu_hourly_usd").value >= 0


def test_an_impossible_workspace_in_the_link_falls_back_with_a_message(app):
    _open(app, "overview", ws="../etc/passwd")
    assert any("not valid" in w.value for w in app.sidebar.warning)
    assert app.metric and not app.error  # the default (demo) workspace is shown


def test_economics_cites_the_gpu_price_and_explains_the_capacity(app):
    """The GPU's cited price, the capacity in words from the sizing model, its breakdown, which
    models fit, and every GPU x deployment with the recommended one (where the defaults start)."""
    _open(app, "economics")
    gpu = catalogue.gpu(app.selectbox(key="sc_gpu").value)
    model = app.selectbox(key="sc_candidate_model").value
    assert any(gpu.price_citation in c.value for c in app.caption)
    assert app.radio(key="sc_capacity_source").value == "sizing"
    assert any(f"on 1 {gpu.name} per replica" in m.value and "requests/s per GPU" in m.value for m in app.markdown)
    labels = [e.label for e in app.expander]
    assert "Why this capacity" in labels and f"Which models fit on {gpu.name}s" in labels
    mode = app.radio(key="sc_mode").value
    assert any(label.startswith("Which GPU") and f"cheapest feasible: {gpu.name}, {mode}" in label for label in labels)
    gpus = next(d.value for d in app.dataframe if "deployment" in d.value.columns)
    assert len(gpus) == 4 * len(catalogue.gpus())
    assert gpus[gpus[""] == "recommended"][["GPU", "deployment"]].values.tolist() == [[gpu.name, mode]]
    sizing = next(d.value for d in app.dataframe if "how" in d.value.columns)
    assert sizing["what"].iloc[0] == "GPUs per replica (tensor parallel)" and model


def test_overview_of_a_labelled_dataset_alone_says_it_is_no_traffic(tmp_path, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(tmp_path))
    data = tmp_path / "tickets.csv"
    data.write_text("msg,topic\nmy card was charged twice,billing\nthe app crashes on start,tech\n")
    con = open_db("tickets", settings=get_settings(data_dir=tmp_path))
    assert ingest_labelled(con, data, "msg", "topic").rows_loaded == 2
    con.close()
    app = _open(AppTest.from_file(APP, default_timeout=60), "overview", ws="tickets")
    assert any("holds 2 labelled dataset rows" in i.value and "no logged traffic" in i.value for i in app.info)
    assert not app.metric  # no traffic figures made up from a test set
