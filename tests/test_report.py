import html
import re

import pytest

from analysis.economics.decision import workspace_decision
from analysis.economics.scenario import Scenario
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.ingest import ingest_paths
from analysis.ingest.demo import DEMO_WORKSPACE
from analysis.present import charts, report
from analysis.present import formatting as fmt
from analysis.present.report import csv_exports, html_report
from analysis.settings import get_settings
from analysis.store.database import open_db


def _workspace(con, shared_dir):
    folder = shared_dir / "samples" / "openai-batch"
    ingest_paths(con, [folder / "genai_navirag_batch_output.jsonl", folder / "genai_navirag_batch_input.jsonl"])


def _section(page: str, title: str) -> str:
    """The HTML of one <h2> section, up to the next."""
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start:end if end > 0 else len(page)]


def _text(page: str) -> str:
    """The page without its scripts (the inlined plotly library and the charts' data)."""
    return re.sub(r"<script.*?</script>", "", page, flags=re.DOTALL)


def test_html_report_is_self_contained_and_has_no_prompts_or_keys(con, shared_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-in-reports")
    _workspace(con, shared_dir)
    scenario = Scenario(requests_per_day=10_000, api_cost_per_request=0.0013, gpu_hourly_usd=1.0,
                        capacity_rps_per_gpu=1000, target_utilisation=1.0, peak_to_average=1.0)
    page = html_report(con, scenario)
    assert page.startswith("<!doctype html>") and "plotly" in page.lower()
    assert "<script src=" not in page  # the plotly library is inlined, the file works offline
    assert "18.5k req/day" in page  # the hand-worked break-even
    assert "sk-never-in-reports" not in page
    assert "embodied robot navigation" not in page  # a phrase of the logged prompts


def test_without_a_scored_run_the_report_says_quality_is_unknown(con, shared_dir):
    _workspace(con, shared_dir)
    scenario = Scenario(requests_per_day=10_000, api_cost_per_request=0.0013)
    decision = workspace_decision(con, scenario)
    assert decision.evidence.run_id is None
    page = html_report(con, scenario, decision)
    quality = html.unescape(_section(page, "Quality"))
    assert "No replayed candidate yet: quality unknown, nothing goes local on merit." in quality
    assert "<table>" not in quality  # no per-segment verdicts to show
    assert f'<p class="headline"><b>{html.escape(decision.headline)}</b></p>' in page
    assert decision.verdict == "api" and "Quality unknown" in decision.caveat
    assert html.escape(decision.caveat) in page
    assert "Scenario: <b>unsaved</b>" in page and "<title>llm-breakeven report</title>" in page


@pytest.fixture(scope="module")
def demo(demo_dir):
    """The demo workspace (its synthetic scored run), its default scenario, its decision and the
    report of both under a saved scenario's name."""
    con = open_db(DEMO_WORKSPACE, settings=get_settings(data_dir=demo_dir))
    scenario = scenario_defaults(con)
    decision = workspace_decision(con, scenario)
    page = html_report(con, scenario, decision, title="llm-breakeven: demo", scenario_name="Q3 plan")
    yield con, scenario, decision, page
    con.close()


def test_the_report_opens_with_the_decisions_headline_and_figures(demo):
    con, scenario, decision, page = demo
    headline = f'<p class="headline"><b>{html.escape(decision.headline)}</b></p>'
    assert headline in page
    assert page.index(headline) < page.index("<h2>Quality</h2>") < page.index("<h2>Cost only, before quality</h2>")
    assert html.escape(decision.caveat) in page
    figures = {"All on the API, per month": fmt.usd(decision.all_api_monthly_usd),
               "With the decision, per month": fmt.usd(decision.monthly_usd),
               "Savings per month": fmt.usd(decision.savings_monthly_usd),
               "Requests served locally": fmt.percent(decision.local_share),
               "API spend moved": fmt.percent(decision.local_spend_share),
               "Requests per day (scenario)": fmt.per_day(scenario.requests_per_day)}
    top = _section(page, "The decision")
    for label, value in figures.items():
        assert f'<div class="kpi">{html.escape(label)}<b>{html.escape(value)}</b></div>' in top, label
    # without a decision given, the report computes the same one
    again = html_report(con, scenario)
    assert headline in again


def test_the_quality_section_shows_the_evidence_and_every_segment(demo):
    _, scenario, decision, page = demo
    quality = html.unescape(_section(page, "Quality"))
    assert decision.evidence.synthetic and decision.recommendation.segments
    assert decision.evidence.run_id in quality and "Synthetic demo run" in quality and "yes: the demo's synthetic" in quality
    assert f"{decision.evidence.compared:,}" in quality
    assert "http://" not in quality  # the candidate without its base URL
    rows = re.findall(r"<tr>(.*?)</tr>", quality)
    for segment in decision.recommendation.segments:
        [row] = [r for r in rows if r.startswith(f"<td class=t>{segment.key}</td>")]
        assert fmt.percent(segment.request_share) in row and segment.reason in row
        assert (segment.verdict or "not measured") in row
        assert row.split("</td>")[1] == f"<td class=t>{report.SIDES[segment.side]}"  # where it goes
    assert "Cost only, before quality: " in _section(page, "Cost only, before quality")
    assert html.escape(decision.cost_only_headline) in page


def test_assumptions_in_words_without_float_noise_or_json(demo, monkeypatch):
    con, scenario, _, page = demo
    text = _text(page)
    assert not re.search(r"\d\.\d{10,}", text)  # e.g. peak_to_average 23.636363636363637
    assumptions = _section(text, "Assumptions")
    assert "{" not in assumptions and "}" not in assumptions  # the per-task mix is a table, not JSON
    assert scenario.api_cost_by_task and "<h3>API cost per task type</h3>" in assumptions
    for task in scenario.api_cost_by_task:
        assert f"<td class=t>{task}</td>" in assumptions
    labels = re.findall(r"<tr><td class=t>([^<]*)</td>", assumptions)
    assert not set(labels) & set(Scenario.model_fields)  # human labels, never field names
    assert "Peak-to-average (busiest hour / day&#x27;s average)" in assumptions
    for named in ("Requests per day (scenario)", "Logged requests per day", "Days covered", "Active days"):
        assert f"<td class=t>{named}</td>" in assumptions
    # a field without a label of its own shows its description
    monkeypatch.delitem(report.ASSUMPTIONS, "cached_share")
    rows = dict(report.assumption_rows(scenario))
    assert "cached_share" not in rows
    assert re.fullmatch(r"0\.\d{1,4}", rows["Share of prompt tokens read from a prefix cache"])  # 0.0438


def test_the_name_glossary_and_no_key(demo, monkeypatch):
    _, _, _, page = demo
    assert "<title>llm-breakeven: demo · Q3 plan</title>" in page and "Scenario: <b>Q3 plan</b>" in page
    glossary = _section(page, "Glossary")
    for term in ("Non-inferior", "Margin", "Confidence interval", "Break-even", "Peak-to-average", "Utilisation",
                 "tensor parallel", "TTFT", "p95", "cost only", "Synthetic demo run"):
        assert term in glossary, term
    assert not re.search(r"\bsk-[A-Za-z0-9_-]{8,}", page)


def test_report_charts_make_room_for_their_labels(demo):
    con, scenario, decision, _ = demo
    from analysis.economics import projections
    from analysis.store.summary import summarise

    inputs = scenario.to_cost_inputs()
    figures = [charts.cost_curve(projections.cost_curve(inputs), decision.cost_only.breakeven, scenario.requests_per_day),
               charts.tornado(projections.sensitivity(inputs), decision.cost_only.savings_monthly_usd),
               charts.growth(projections.growth_projection(inputs)), charts.daily(summarise(con).by_day)]
    for figure in figures:
        axes = [figure.layout[name] for name in figure.layout if re.fullmatch(r"[xy]axis\d*", name)]
        assert axes and all(axis.automargin for axis in axes)


def test_csv_exports(con, shared_dir):
    _workspace(con, shared_dir)
    files = csv_exports(con, Scenario())
    assert set(files) == {"by_day.csv", "by_model.csv", "by_task_type.csv", "cost_curve.csv"}
    assert b"gpt-4o-2024-08-06" in files["by_model.csv"]
    assert files["cost_curve.csv"].startswith(b"requests_per_day,api_usd,self_host_usd")
