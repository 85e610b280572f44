"""Page behaviours an engineering manager meets in the browser, through Streamlit's AppTest: a saved
scenario survives moving between pages, the API price control moves the bill, uploads report each
file plainly and stay with their workspace, an empty workspace offers no made-up report, and the
charts mark the break-even where it is and draw a single logged day as a day."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from pages import logs_uploader
from streamlit.testing.v1 import AppTest

from analysis.economics import comparison, scenario_store
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.present import formatting as fmt
from analysis.present import report
from analysis.settings import get_settings
from analysis.store.database import open_db, scalar
from dashboard.components import as_text

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
BATCH_OUTPUT = Path("samples") / "openai-batch" / "genai_navirag_batch_output.jsonl"


@pytest.fixture
def demo(demo_dir, monkeypatch) -> Path:
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(demo_dir))
    return demo_dir


def _app(**params) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        app.query_params[key] = value
    return app


def _go(app: AppTest, page: str, drop_params: bool = False) -> AppTest:
    """Show `page`. drop_params: as a browser does when the sidebar moves to another page (its URL
    keeps no query parameters; AppTest's switch_page would keep them)."""
    if drop_params:
        for key in list(app.query_params):
            del app.query_params[key]
    app.switch_page(f"views/{page}.py").run()
    assert not app.exception, app.exception
    return app


def _defaults(folder: Path, workspace: str = "demo"):
    con = open_db(workspace, settings=get_settings(data_dir=folder))  # same config as the app's cached one
    try:
        return scenario_defaults(con)
    finally:
        con.close()


def _metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def _chart(app: AppTest, key: str) -> dict:
    """The plotly figure (JSON) of the chart drawn with widget key `key`."""
    specs = [json.loads(c.proto.spec) for c in app.get("plotly_chart") if key in c.proto.id]
    assert len(specs) == 1, [c.proto.id for c in app.get("plotly_chart")]
    return specs[0]


def test_a_saved_link_keeps_its_scenario_when_moving_to_other_pages(demo):
    scenario = _defaults(demo).model_copy(update={"requests_per_day": 40_000.0, "gpu_hourly_usd": 1.25})
    con = open_db("demo", settings=get_settings(data_dir=demo))
    sid = scenario_store.save(con, scenario, "review")
    con.close()
    app = _app(ws="demo", scenario=sid)
    app.run()
    _go(app, "economics")
    expected = comparison.evaluate(scenario.to_cost_inputs())
    assert _metrics(app)["API per month"] == fmt.usd(expected.api_monthly_usd)
    _go(app, "routing", drop_params=True)
    assert any(fmt.per_day(40_000) in c.value and "$1.25/hour" in c.value for c in app.caption)
    assert _metrics(app)["All-API cost / month"] == fmt.usd(expected.api_monthly_usd)
    _go(app, "economics", drop_params=True)
    assert app.number_input(key="sc_requests_per_day").value == 40_000
    assert _metrics(app)["Self-hosting per month"] == fmt.usd(expected.self_host.total_usd)


def test_the_api_price_control_moves_the_bill_when_the_logs_price_each_task(demo):
    defaults = _defaults(demo)
    assert defaults.api_cost_by_task  # the demo's logs price each task type: the case that ignored the control
    app = _app(ws="demo")
    app.run()
    _go(app, "economics")
    before = _metrics(app)["API per month"]
    price = round(defaults.api_cost_per_request * 3, 6)
    app.number_input(key="sc_api_cost_per_request").set_value(price).run()
    flat = defaults.model_copy(update={"api_cost_per_request": price, "api_cost_by_task": None})
    after = _metrics(app)["API per month"]
    assert after == fmt.usd(comparison.evaluate(flat.to_cost_inputs()).api_monthly_usd) != before
    assert app.query_params["api"] in (str(price), [str(price)]) and app.query_params["tt"] in ("", [""])


def test_routing_names_batch_rates_and_prices_with_them(demo):
    defaults = _defaults(demo)
    app = _app(ws="demo", bd="1")
    app.run()
    _go(app, "routing")
    effective = defaults.api_cost_per_request * defaults.batch_price_ratio
    assert any(f"API {fmt.usd(effective)} per request at Batch rates" in c.value for c in app.caption)


def test_uploads_say_what_happened_to_each_file_and_stay_with_their_workspace(shared_dir, data_dir):
    for name in ("uploads", "other"):
        open_db(name, settings=get_settings(data_dir=data_dir)).close()
    sample = (shared_dir / BATCH_OUTPUT).read_bytes()

    def ingest(app: AppTest, name: str, content: bytes) -> list[str]:
        logs_uploader(app).set_value((name, content, "application/octet-stream")).run()
        app.button(key="logs_ingest").click().run()
        assert not app.exception, app.exception
        return [m.value for m in [*app.success, *app.info, *app.error] if name in m.value]

    def requests() -> int:
        con = open_db("uploads", settings=get_settings(data_dir=data_dir))
        try:
            return scalar(con, "SELECT count(*) FROM requests")
        finally:
            con.close()

    app = _app(ws="uploads")
    app.run()
    _go(app, "logs")
    assert any("65 rows loaded, 0 rejected" in m for m in ingest(app, BATCH_OUTPUT.name, sample))
    assert requests() == 65
    assert any("already ingested" in m and "nothing added" in m for m in ingest(app, BATCH_OUTPUT.name, sample))
    garbage = ingest(app, "garbage.jsonl", bytes(range(256)) * 16)
    assert garbage == ["**garbage.jsonl** was not ingested: " + as_text(  # the message is text, not Markdown
        "looks like a binary file (NUL bytes near the start); expected JSON lines, a JSON document, CSV or Parquet")]
    assert ingest(app, "empty.jsonl", b"") == ["**empty.jsonl** was not ingested: the file is empty"]
    assert requests() == 65
    app.sidebar.selectbox(key="workspace").set_value("other").run()
    assert not app.exception, app.exception
    assert not [m for m in [*app.success, *app.info, *app.error] if "ingested" in m.value]


def test_an_upload_on_the_demo_goes_to_a_workspace_of_your_own(shared_dir, demo_dir, data_dir):
    """A first visit shows the synthetic demo; an export uploaded there lands in the workspace of
    your own logs (settings: 'main'), which the dashboard then shows; the demo stays synthetic."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo_dir / "demo.duckdb", data_dir / "demo.duckdb")

    def counts(name: str) -> int:
        con = open_db(name, settings=get_settings(data_dir=data_dir))
        try:
            return scalar(con, "SELECT count(*) FROM requests")
        finally:
            con.close()

    demo_rows = counts("demo")
    assert counts("main") == 0  # an empty workspace of your own (say, every file failed) ...
    app = _app()
    app.run()
    assert app.sidebar.selectbox(key="workspace").value == "demo"  # ... is not shown over the demo
    _go(app, "logs")
    assert app.text_input(key="logs_target").value == "main"
    app.text_input(key="logs_target").set_value("demo").run()
    logs_uploader(app).set_value(
        (BATCH_OUTPUT.name, (shared_dir / BATCH_OUTPUT).read_bytes(), "application/octet-stream")).run()
    app.button(key="logs_ingest").click().run()
    assert any("cannot hold your logs" in e.value for e in app.error) and counts("demo") == demo_rows
    app.text_input(key="logs_target").set_value("main").run()
    app.button(key="logs_ingest").click().run()
    assert not app.exception, app.exception
    assert app.sidebar.selectbox(key="workspace").value == "main" and app.query_params["ws"] == "main"
    assert any("65 rows loaded" in m.value for m in app.success)
    assert (counts("main"), counts("demo")) == (65, demo_rows)
    fresh = _app()
    fresh.run()  # a new visit now opens your logs
    assert fresh.sidebar.selectbox(key="workspace").value == "main"


def test_an_empty_workspace_offers_no_report_of_made_up_numbers(data_dir):
    app = _app(ws="fresh")
    app.run()
    _go(app, "scenarios")
    assert any("No requests in this workspace yet" in i.value for i in app.info)
    assert not app.get("download_button") and not app.error


def test_logs_filters_offer_all_rather_than_none(demo):
    app = _app(ws="demo")
    app.run()
    _go(app, "logs")
    for key in ("logs_f_model", "logs_f_task", "logs_f_status"):
        box = app.selectbox(key=key)
        assert box.options[0] == "All" and box.value is None and "None" not in box.options


def test_cost_curve_labels_the_break_even_and_today_where_they_are(demo):
    app = _app(ws="demo")
    app.run()
    _go(app, "economics")
    defaults = _defaults(demo)
    be = comparison.evaluate(defaults.to_cost_inputs()).breakeven.requests_per_day
    layout = _chart(app, "econ_curve")["layout"]
    marks = {a["text"].split()[0]: a["x"] for a in layout["annotations"]}
    assert marks["break-even"] == pytest.approx(math.log10(be))  # a log axis places annotations at log10(x)
    assert marks["today"] == pytest.approx(math.log10(defaults.requests_per_day))
    assert layout["legend"]["y"] > 1  # above the plot, clear of the x-axis title


def test_a_single_logged_day_is_drawn_as_one_day(shared_dir, data_dir):
    app = _app(ws="oneday")
    app.run()
    _go(app, "logs")
    sample = (shared_dir / BATCH_OUTPUT).read_bytes()
    logs_uploader(app).set_value((BATCH_OUTPUT.name, sample, "application/octet-stream")).run()
    app.button(key="logs_ingest").click().run()
    _go(app, "overview")
    assert _chart(app, "overview_daily")["layout"]["xaxis"]["type"] == "category"
    _go(app, "routing")
    assert _chart(app, "rt_bill")["layout"]["xaxis"]["type"] == "category"


def test_the_report_shows_no_python_none(demo):
    con = open_db("demo", settings=get_settings(data_dir=demo))
    try:
        html = report.html_report(con, _defaults(demo))
    finally:
        con.close()
    assumptions = html.split("<h2>Assumptions</h2>", 1)[1].split("<h2>", 1)[0]
    assert "None" not in assumptions and "{'" not in assumptions
    assert "<td class=t>GPU count</td><td class=t>automatic (sized for the peak)</td>" in assumptions
