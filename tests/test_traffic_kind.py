"""Traffic kinds (#17 item 3): a workspace with both Batch API and interactive traffic is split. The
interactive part is sized for its own busiest hour, the Batch part is scheduled work with no peak
factor, and the decision states both. The formula on known numbers; then a real mixed workspace
(the real OpenAI Batch pair with the real interactive samples) through the defaults, `breakeven
decide --json`, the HTML report and the Economics page."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.cli import main
from analysis.economics.cost_model import DAYS_PER_MONTH, api_monthly_cost, self_host_cost
from analysis.economics.scenario import Scenario
from analysis.economics.traffic_kind import api_price_factor, sized_peak_to_average, traffic_split
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.ingest import ingest_paths
from analysis.store.database import open_db, rows

approx = pytest.approx
APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
# The real samples' interactive requests by UTC hour: 03h 1, 09h 4, 15h 5, 23h 1 (one more has no
# time); the 65 Batch requests all ran in hour 0 of 2024-10-24.
INTERACTIVE, BATCH = 12, 65
INTERACTIVE_PEAK = 5 * 24 / 11
ALL_TRAFFIC_PEAK = 65 * 24 / 76  # what one blended profile would have said


def test_sized_peak_is_the_interactive_peak_or_the_days_work_on_known_numbers():
    assert sized_peak_to_average(3.0, 0.0) == 3.0  # all interactive: its own peak
    assert sized_peak_to_average(3.0, 0.5) == approx(1.5)  # half the volume at 3x: 1.5x the mean of all
    assert sized_peak_to_average(3.0, 0.8) == 1.0  # interactive peak 0.6x < the day's work spread: 1x
    assert sized_peak_to_average(7.0, 1.0) == 1.0  # all Batch: no peak factor
    assert api_price_factor(0.25, 0.5) == approx(0.875)
    split = traffic_split(10_000, 0.25, 2.4)
    assert (split.interactive.requests_per_day, split.batch.requests_per_day) == (7_500, 2_500)
    assert (split.interactive.peak_to_average, split.batch.peak_to_average, split.sized_peak_to_average) == (
        2.4, 1.0, approx(1.8))
    assert split.mixed and not traffic_split(10_000, 0.0, 2.4).mixed


def test_batch_volume_fills_off_peak_capacity_before_it_adds_gpus():
    # 86,400 requests/day is 1 request/s on average; one GPU serves 1 request/s at full utilisation.
    base = Scenario(requests_per_day=86_400, peak_to_average=3.0, capacity_rps_per_gpu=1.0, capacity_source="user",
                    target_utilisation=1.0, mode="dedicated", api_cost_per_request=0.002)

    def gpus(share: float) -> int:
        return self_host_cost(Scenario.from_dict({"batch_share": share}, base).to_cost_inputs()).gpus

    assert gpus(0.0) == 3  # 3 requests/s in the busiest hour
    assert gpus(0.5) == 2  # the interactive half peaks at 1.5 requests/s
    assert gpus(0.8) == 1  # the interactive peak (0.6/s) is below the mean of all the work (1/s)
    assert gpus(1.0) == 1
    mixed = Scenario.from_dict({"batch_share": 0.5}, base).to_cost_inputs()
    # the Batch half at half price: 0.002 × (1 − 0.5 × 0.5)
    assert mixed.api_cost_per_request == approx(0.0015)
    assert api_monthly_cost(86_400, mixed.api_cost_per_request) == approx(86_400 * DAYS_PER_MONTH * 0.0015)
    everything_batch_priced = Scenario.from_dict({"batch_share": 0.5, "batch_discount": True}, base)
    assert everything_batch_priced.to_cost_inputs().api_cost_per_request == approx(0.001)


@pytest.fixture
def mixed(shared_dir, data_dir):
    """The default workspace with the real OpenAI Batch pair and every real interactive sample."""
    samples = shared_dir / "samples"
    files = [samples / "openai-batch" / "genai_navirag_batch_output.jsonl",
             samples / "openai-batch" / "genai_navirag_batch_input.jsonl",
             *sorted(samples.glob("openai-chat-completion/*.yaml")), *sorted(samples.glob("anthropic-message/*.yaml")),
             *sorted(samples.glob("otel-genai/*.json")), *sorted(samples.glob("litellm/*.json"))]
    con = open_db()
    assert not any(r.error for r in ingest_paths(con, files))
    assert rows(con, "SELECT is_batch, count(*) FROM traffic GROUP BY 1 ORDER BY 1") == [
        (False, INTERACTIVE), (True, BATCH)]
    yield con
    con.close()


def test_the_defaults_take_the_peak_from_interactive_traffic_only(mixed):
    blended = rows(mixed, """SELECT max(n) * 24 / sum(n) FROM (SELECT hour(ts), count(*) AS n FROM traffic
                             WHERE ts IS NOT NULL GROUP BY 1)""")[0][0]
    assert blended == approx(ALL_TRAFFIC_PEAK)  # 20.5: the Batch burst would read as the busy hour
    scenario = scenario_defaults(mixed)
    share = BATCH / (BATCH + INTERACTIVE)
    assert scenario.batch_share == approx(share)
    assert scenario.peak_to_average == approx(INTERACTIVE_PEAK)
    assert not scenario.batch_discount  # the interactive part pays the standard rate
    # someone waits for the interactive part: its latency targets and a serving mode stay
    assert (scenario.ttft_p95_ms, scenario.latency_p95_ms) == (2000.0, 30000.0) and scenario.mode != "scheduled"
    assert scenario.to_cost_inputs().peak_to_average == approx((1 - share) * INTERACTIVE_PEAK)


def test_decide_json_and_the_report_state_both_parts(mixed, capsys, tmp_path):
    mixed.close()
    assert main(["decide", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    traffic, day = decision["traffic"], decision["requests_per_day"]
    share = BATCH / (BATCH + INTERACTIVE)
    assert traffic["batch"] == {"kind": "batch", "requests_per_day": approx(day * share), "share": approx(share),
                                "peak_to_average": 1.0}
    assert traffic["interactive"] == {"kind": "interactive", "requests_per_day": approx(day * (1 - share)),
                                      "share": approx(1 - share), "peak_to_average": approx(INTERACTIVE_PEAK)}
    assert traffic["sized_peak_to_average"] == approx((1 - share) * INTERACTIVE_PEAK)
    assert decision["traffic_note"].startswith("Two kinds of traffic:")
    assert "(84.4%, scheduled into off-peak capacity, no peak factor)" in decision["traffic_note"]
    assert "busiest hour 10.9x their average" in decision["traffic_note"]

    assert main(["decide"]) == 0  # for people: the same sentence
    assert decision["traffic_note"] in capsys.readouterr().out
    assert main(["report", "--out", str(tmp_path / "report.html")]) == 0  # and the HTML report
    assert html.escape(decision["traffic_note"]) in (tmp_path / "report.html").read_text()


def test_the_economics_page_states_both_parts(mixed):
    mixed.close()
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    app.switch_page("views/economics.py").run()
    assert not app.exception, app.exception
    captions = [c.value.replace("\\", "") for c in app.caption]  # shown escaped (components.as_text)
    note = next(c for c in captions if c.startswith("Two kinds of traffic"))
    assert "interactive requests/day (15.6%, busiest hour 10.9x their average)" in note
    assert "Batch API requests/day (84.4%, scheduled into off-peak capacity, no peak factor)" in note
    assert app.number_input(key="sc_batch_share").value == approx(BATCH / (BATCH + INTERACTIVE))
