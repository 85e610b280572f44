from analysis.ingest import ingest_paths
from analysis.present.report import csv_exports, html_report
from analysis.economics.scenario import Scenario


def _workspace(con, shared_dir):
    folder = shared_dir / "samples" / "openai-batch"
    ingest_paths(con, [folder / "genai_navirag_batch_output.jsonl", folder / "genai_navirag_batch_input.jsonl"])


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


def test_csv_exports(con, shared_dir):
    _workspace(con, shared_dir)
    files = csv_exports(con, Scenario())
    assert set(files) == {"by_day.csv", "by_model.csv", "by_task_type.csv", "cost_curve.csv"}
    assert b"gpt-4o-2024-08-06" in files["by_model.csv"]
    assert files["cost_curve.csv"].startswith(b"requests_per_day,api_usd,self_host_usd")
