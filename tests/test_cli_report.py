"""`breakeven report` and `breakeven scenarios`: the dashboard's HTML report written to a file, and
the saved scenarios listed, shown and saved from the command line."""

import html
import json
import re

from analysis.cli import main
from analysis.economics import scenario_store
from analysis.present.formatting import compact, usd
from analysis.store.database import open_db

KEY = "sk-test-do-not-leak-0123456789"


def _ingest(shared_dir, capsys) -> None:
    folder = shared_dir / "samples" / "openai-batch"
    assert main(["ingest", str(folder / "genai_navirag_batch_output.jsonl"),
                 str(folder / "genai_navirag_batch_input.jsonl")]) == 0
    capsys.readouterr()


def test_report_writes_the_pages_html_with_its_headline_and_no_key(shared_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    _ingest(shared_dir, capsys)
    assert main(["report", "--json"]) == 0  # default: the workspace defaults, as `economics`
    out = json.loads(capsys.readouterr().out)
    written = tmp_path / "llm-breakeven-report.html"
    assert out["path"] == str(written) and out["source"] == "the workspace defaults" and out["notes"] == []
    document = written.read_text()
    assert out["bytes"] == len(document.encode())
    assert document.startswith("<!doctype html>") and "<title>llm-breakeven: main</title>" in document
    main(["economics", "--json"])
    economics = json.loads(capsys.readouterr().out)
    assert out["scenario"] == economics["scenario"]  # the same scenario as `economics` uses
    assert out["breakeven_requests_per_day"] == economics["breakeven_requests_per_day"]
    # the report opens with the decision, the same as the JSON's (and `breakeven decide`'s) ...
    assert out["verdict"] in ("self-host", "hybrid", "api")
    assert f'<p class="headline"><b>{html.escape(out["decision_headline"])}</b></p>' in document
    assert document.index('class="headline"') < document.index("Cost only, before quality")
    # ... then cost only, before quality: the break-even against today's volume
    headline = re.search(r'<p class="cost-only">[^<]*</p>', document).group()
    assert f"At today{chr(39)}s {compact(out['scenario']['requests_per_day'])} requests/day" in html.unescape(headline)
    assert "pays off above" not in headline
    assert f"<b>{usd(out['api_monthly_usd'])}</b>" in document
    assert KEY not in document
    assert not re.search(r"\bsk-[A-Za-z0-9_-]{8,}", document)  # nor anything shaped like a key

    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"requests_per_day": 10_000, "api_cost_per_request": 0.0013}))
    target = tmp_path / "out" / "mine.html"
    target.parent.mkdir()
    assert main(["report", "--scenario", str(scenario), "--out", str(target)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"report written to {target} (scenario: {scenario} over the workspace defaults)"]
    assert "At today's 10k requests/day" in html.unescape(target.read_text())


def test_report_of_an_empty_workspace_says_its_figures_are_assumptions(tmp_path, capsys):
    open_db("empty").close()
    assert main(["report", "--workspace", "empty", "--out", str(tmp_path / "r.html")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("report written to") and lines[1].startswith("  note: no logged traffic")
    assert (tmp_path / "r.html").exists()


def test_scenarios_save_list_show_round_trip(shared_dir, tmp_path, capsys):
    _ingest(shared_dir, capsys)
    assert main(["scenarios", "list"]) == 0
    assert capsys.readouterr().out.startswith("no saved scenarios yet")
    assert main(["scenarios", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"requests_per_day": 10_000, "api_cost_per_request": 0.0013,
                                    "gpu_hourly_usd": 1.0, "capacity_rps_per_gpu": 1000.0}))
    assert main(["scenarios", "save", str(scenario), "--name", "ten k", "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    sid = saved["scenario_id"]
    assert saved["name"] == "ten k" and saved["link"] == f"/economics?ws=main&scenario={sid}"
    assert saved["scenario"]["requests_per_day"] == 10_000 and saved["scenario"]["gpu_hourly_usd"] == 1.0
    assert main(["economics", "--scenario", str(scenario), "--json"]) == 0  # the same file over the same defaults
    economics = json.loads(capsys.readouterr().out)
    assert saved["scenario"] == economics["scenario"]
    assert saved["breakeven_requests_per_day"] == economics["breakeven_requests_per_day"]
    con = open_db()
    stored = scenario_store.load(con, sid)
    con.close()
    assert stored.scenario.model_dump(mode="json") == saved["scenario"] and stored.name == "ten k"

    assert main(["scenarios", "save", str(scenario)]) == 0  # the same assumptions: the same id, name kept
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"saved {sid} (ten k): 10k req/day, ")
    assert main(["scenarios", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed == saved
    assert main(["scenarios", "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["scenario_id", "name", "saved", "summary"]
    assert row.startswith(sid) and "ten k" in row and "10k req/day" in row

    assert main(["scenarios", "show", sid, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == saved
    assert main(["scenarios", "show", sid]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == first.replace("saved", "scenario", 1)
    assert lines[1] == f"link: /economics?ws=main&scenario={sid} (after the dashboard's address)"
    assert lines[2].split() == ["assumption", "value"]
    assert ["requests_per_day", "10000.0"] in [line.split() for line in lines[3:]]

    out = tmp_path / "saved.html"
    assert main(["report", "--saved", sid, "--out", str(out), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported["scenario_id"] == sid and reported["scenario"] == saved["scenario"]
    assert reported["source"] == f"saved scenario {sid} (ten k)"
    document = html.unescape(out.read_text())
    assert "At today's 10k requests/day" in document
    assert "<title>llm-breakeven: main · ten k</title>" in document  # the saved scenario's name
    assert "Scenario: <b>ten k</b>" in document
