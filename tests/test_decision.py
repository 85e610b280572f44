"""analysis.economics.decision: one verdict for one candidate, and every page, the CLI and the
report stating the same verdict, local share and savings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.cli import main
from analysis.economics.decision import Evidence, decide, workspace_decision
from analysis.economics.routing_segments import SegmentQuality, SegmentStats, Traffic
from analysis.economics.scenario import Scenario
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.present import formatting as fmt
from analysis.settings import get_settings
from analysis.store.database import open_db
from dashboard.components import as_text

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
GOOD = SegmentQuality(n=400, local_accuracy=0.95, api_accuracy=0.95, local_wins=4, api_wins=4)
BAD = SegmentQuality(n=400, local_accuracy=0.60, api_accuracy=0.95, local_wins=2, api_wins=142)


def _traffic() -> Traffic:
    segments = [SegmentStats("classification", 6000, 6000 * 0.004), SegmentStats("reasoning", 4000, 4000 * 0.02)]
    return Traffic(segments=tuple(segments), days_covered=10)


SCENARIO = Scenario(requests_per_day=200_000, api_cost_per_request=0.0104, gpu="H100 80GB",
                    capacity_rps_per_gpu=40.0, capacity_source="user")
EVIDENCE = Evidence(run_id="run1", candidate="openai-compat:http://gpu:8000/v1:llama-3.1-8b-instruct",
                    compared=800, synthetic=False)


def test_no_quality_evidence_means_stay_on_the_api_with_the_cost_only_figure_beside_it():
    decision = decide(_traffic(), {}, SCENARIO)
    assert decision.verdict == "api" and decision.local_share == 0 and decision.savings_monthly_usd == 0
    assert decision.headline.startswith("Stay on the API") and "no candidate's quality" in decision.headline
    assert "Quality unknown" in decision.caveat
    assert decision.cost_only.savings_monthly_usd > 0  # cheaper on cost alone ...
    assert decision.cost_only_headline.startswith("Cost only, before quality: ")  # ... and labelled so


def test_a_segment_that_fails_quality_stays_on_the_api_and_the_caveat_names_it():
    decision = decide(_traffic(), {"classification": GOOD, "reasoning": BAD}, SCENARIO, evidence=EVIDENCE)
    assert decision.verdict == "hybrid" and decision.local_segments == ("classification",)
    assert decision.local_share == pytest.approx(0.6)
    assert decision.quality_fails == ("reasoning",) and "does not hold for reasoning" in decision.caveat
    assert f"{fmt.percent(0.6)} of requests (classification)" in decision.headline
    assert fmt.usd(decision.savings_monthly_usd) in decision.headline and decision.savings_monthly_usd > 0
    assert decision.savings_monthly_usd == decision.recommendation.savings_monthly_usd


def test_everything_local_is_self_host():
    decision = decide(_traffic(), {"classification": GOOD, "reasoning": GOOD}, SCENARIO, evidence=EVIDENCE)
    assert decision.verdict == "self-host" and decision.headline.startswith("Serve all requests locally")


def test_the_caveat_says_when_the_price_and_the_quality_are_of_different_models():
    other = Evidence(run_id="r", candidate="local:gemma-3-270m", compared=40, synthetic=False)
    decision = decide(_traffic(), {"classification": GOOD}, SCENARIO, evidence=other)
    assert "The price is for Llama 3.1 8B Instruct, the quality for Gemma 3 270M" in decision.caveat


def test_every_page_and_the_cli_state_the_same_decision(demo_dir, monkeypatch, capsys):
    """Overview, Economics and Routing (through AppTest) and `breakeven decide --json` on the
    demo workspace: the same headline, local share and savings."""
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(demo_dir))
    con = open_db("demo", settings=get_settings(data_dir=demo_dir))
    expected = workspace_decision(con, scenario_defaults(con))
    con.close()
    assert main(["decide", "--workspace", "demo", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert (cli["headline"], cli["local_share"], cli["savings_monthly_usd"]) == (
        expected.headline, expected.local_share, expected.savings_monthly_usd)
    shown = f"{as_text(expected.headline)}"
    for page in ("overview", "economics", "routing"):
        app = AppTest.from_file(APP, default_timeout=90)
        app.query_params["ws"] = "demo"
        app.run()
        if page != "overview":
            app.switch_page(f"views/{page}.py").run()
        assert not app.exception, (page, app.exception)
        assert any(m.value.endswith(shown) for m in app.markdown), page
        if page == "routing":
            metrics = {m.label: m.value for m in app.metric}
            assert metrics["Savings / month"] == fmt.usd(expected.savings_monthly_usd)
            assert metrics["Served locally"] == fmt.percent(expected.local_share)
