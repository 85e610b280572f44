"""The `breakeven` command line, run as a real subprocess where the exit code matters."""

import json
import subprocess
import sys

import pytest

from analysis.cli import main
from analysis.store.database import open_db, rows
from analysis.present.formatting import usd


def _batch(shared_dir):
    folder = shared_dir / "samples" / "openai-batch"
    return [str(folder / "genai_navirag_batch_output.jsonl"), str(folder / "genai_navirag_batch_input.jsonl")]


def test_ingest_and_summary_json(shared_dir, capsys):
    assert main(["ingest", *_batch(shared_dir), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    output = next(r for r in results if r["format"] == "openai_batch")
    assert output["rows_loaded"] == 65 and output["rows_rejected"] == 0
    assert next(r for r in results if r["format"] == "openai_batch_input")["error"] is None

    assert main(["summary", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["requests"] == 65
    assert summary["input_tokens"] == 36501 and summary["output_tokens"] == 11980
    assert summary["by_model"][0]["model"] == "gpt-4o-2024-08-06"
    assert summary["cost_usd"] > 0 and summary["cost_computed_usd"] == summary["cost_usd"]
    assert sum(d["requests"] for d in summary["by_day"]) == 65
    assert summary["first_ts"].startswith("2024-10-")

    assert main(["summary"]) == 0  # for people: the same totals, formatted
    headline, header, first = capsys.readouterr().out.splitlines()[:3]
    assert headline.startswith("65 requests from 2024-10-") and "tokens in 36,501" in headline
    assert header.split() == ["model", "requests", "input_tokens", "output_tokens", "cost_usd"]
    assert first.split() == ["gpt-4o-2024-08-06", "65", "36,501", "11,980", usd(summary["by_model"][0]["cost_usd"])]


def test_ingest_twice_adds_nothing(shared_dir, capsys):
    main(["ingest", *_batch(shared_dir)])
    capsys.readouterr()
    assert main(["ingest", *_batch(shared_dir)]) == 0
    assert "already ingested" in capsys.readouterr().out
    main(["summary", "--json"])
    assert json.loads(capsys.readouterr().out)["requests"] == 65


def test_bad_file_gives_nonzero_exit_and_a_clear_message(tmp_path, data_dir):
    bad = tmp_path / "empty.jsonl"
    bad.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "analysis.cli", "ingest", str(bad)],
        capture_output=True, text=True, env={"BREAKEVEN_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "empty.jsonl" in done.stdout and "empty" in done.stdout


def test_a_missing_file_and_a_folder_are_named_once(tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "nope.csv"), str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"FAILED  {tmp_path / 'nope.csv'}: no such file ({tmp_path.resolve() / 'nope.csv'})",
        f"FAILED  {tmp_path}: a folder, not a file (name the files in it)"]


def test_unknown_format_name_is_refused(shared_dir, capsys):
    assert main(["ingest", _batch(shared_dir)[0], "--format", "nope"]) == 1
    assert "unknown format 'nope'" in capsys.readouterr().out


def test_generic_logs_through_mapping_flags_and_a_mapping_file(tmp_path, capsys):
    """`--map canonical=source` flags, a mapping file, or both (a flag wins over the file)."""
    calls = tmp_path / "calls.csv"
    calls.write_text("id,when,engine,tin,tout,secs\nr1,2025-05-01 10:00:00,gpt-4o-mini,100,5,1.5\n"
                     "r2,2025-05-01 10:01:00,gpt-4o-mini,200,7,0.5\n")
    flags = ["--map", "request_id=id", "--map", "ts=when", "--map", "model=engine", "--map", "input_tokens=tin",
             "--map", "output_tokens=tout", "--map", "latency_ms=secs", "--map", "latency_unit=s"]
    assert main(["ingest", str(calls), *flags, "--workspace", "flags", "--json"]) == 0
    loaded = json.loads(capsys.readouterr().out)[0]
    assert (loaded["format"], loaded["rows_loaded"], loaded["rows_rejected"]) == ("generic", 2, 0)
    mapping = tmp_path / "map.toml"
    mapping.write_text('latency_unit = "ms"\n[mapping]\nrequest_id = "id"\nts = "when"\nmodel = "engine"\n'
                       'input_tokens = "tin"\noutput_tokens = "tout"\nlatency_ms = "secs"\n')
    assert main(["ingest", str(calls), "--mapping", str(mapping), "--map", "latency_unit=s", "--workspace", "file"]) == 0
    assert "generic, 2 rows loaded, 0 rejected" in capsys.readouterr().out
    for workspace in ("flags", "file"):
        main(["summary", "--workspace", workspace, "--json"])
        summary = json.loads(capsys.readouterr().out)
        assert (summary["requests"], summary["input_tokens"]) == (2, 300)
        assert summary["by_model"][0]["model"] == "gpt-4o-mini"
    assert rows(open_db("file"), "SELECT latency_ms FROM requests ORDER BY request_id") == [(1500.0,), (500.0,)]
    assert main(["ingest", str(calls), "--map", "ts=when"]) == 2
    assert "refused: the mapping must say which column holds the model" in capsys.readouterr().err
    assert main(["ingest", str(calls), "--mapping", str(tmp_path / "none.toml")]) == 2
    assert "mapping file" in capsys.readouterr().err


def test_logs_go_apart_from_the_demo_which_is_never_rebuilt_over_them(shared_dir, capsys):
    """The default workspace is your own ('main'), not the synthetic demo; and `demo --force` does
    not delete files of yours that were ingested into the demo workspace."""
    assert main(["ingest", _batch(shared_dir)[0]]) == 0
    capsys.readouterr()
    assert main(["summary", "--workspace", "main", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 65
    assert main(["ingest", _batch(shared_dir)[0], "--workspace", "demo"]) == 0
    capsys.readouterr()
    assert main(["demo", "--force"]) == 1
    assert "also holds 1 file(s) of your own: not rebuilt" in capsys.readouterr().err
    main(["summary", "--workspace", "demo", "--json"])
    assert json.loads(capsys.readouterr().out)["requests"] == 65


def _tickets(shared_dir):
    return str(shared_dir / "datasets" / "helpdesk_tickets_600" / "helpdesk_customer_tickets.csv")


def test_ingest_labelled_then_attach_labels(shared_dir, tmp_path, capsys):
    args = ["ingest-labelled", _tickets(shared_dir), "--text", "subject", "--text", "body", "--label", "priority",
            "--id", "id", "--limit", "40", "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert (result["format"], result["rows_loaded"], result["error"]) == ("labelled", 40, None)
    main(["summary", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert (summary["requests"], summary["labelled_rows"]) == (0, 40)  # a test set, not traffic

    from analysis.store.database import open_db, rows
    con = open_db(None)
    ids = [r[0] for r in rows(con, "SELECT request_id FROM requests ORDER BY request_id LIMIT 3")]
    con.close()
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"{i},urgent\n" for i in ids))
    assert main(["attach-labels", str(labels), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"updated": 3, "unmatched": 0, "unmatched_examples": []}
    labels.write_text(labels.read_text() + "not-a-real-id,urgent\n")
    assert main(["attach-labels", str(labels)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "3 requests got a ground-truth label", "  1 id of the file matches no request, e.g. not-a-real-id"]
    missing = tmp_path / "nomatch.csv"
    missing.write_text("request_id,label\nnope,urgent\n")
    assert main(["attach-labels", str(missing)]) == 1
    assert "nope" in capsys.readouterr().err


def test_economics_issue_example_from_a_partial_scenario_file(shared_dir, tmp_path, capsys):
    main(["ingest", *_batch(shared_dir)])
    capsys.readouterr()
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"requests_per_day": 10_000, "api_cost_per_request": 0.0013,
                                    "gpu_hourly_usd": 1.0, "capacity_rps_per_gpu": 1000.0, "gpu_count": None,
                                    "ops_usd_per_month": 0, "fine_tuning_usd": 0, "batch_discount": False}))
    assert main(["economics", "--scenario", str(scenario), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert round(out["api_monthly_usd"]) == 395 and round(out["self_host_monthly_usd"]) == 730
    assert 18_450 < out["breakeven_requests_per_day"] < 18_470
    assert out["gpus"] == 1 and len(out["curve"]) > 50
    assert main(["economics", "--scenario", str(scenario)]) == 0
    assert "pays off above 18.5k requests/day" in capsys.readouterr().out
    scenario.write_text('{"gpu_hourly_usd": -1}')
    assert main(["economics", "--scenario", str(scenario)]) == 1
    assert "gpu_hourly_usd" in capsys.readouterr().err


def test_route_without_replay_keeps_unmeasured_segments_on_the_api(shared_dir, capsys):
    main(["ingest", *_batch(shared_dir)])
    capsys.readouterr()
    assert main(["route", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["segments"] and sum(d["request_share"] for d in rec["segments"]) == pytest.approx(1.0)
    assert rec["current_monthly_usd"] > 0
    assert main(["route", "--segment-by", "model"]) == 0
    assert "gpt-4o-2024-08-06" in capsys.readouterr().out
    assert main(["route", "--segment-by", "nope"]) == 1
    assert "segment_by must be" in capsys.readouterr().err


def test_replay_score_quality_through_the_cli(shared_dir, llama_server, capsys):
    main(["ingest-labelled", _tickets(shared_dir), "--text", "subject", "--label", "queue", "--limit", "4"])
    capsys.readouterr()
    spec = f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}"
    assert main(["replay", "--candidate", spec, "--sample", "4", "--max-tokens", "8", "--auto-labels",
                 "--concurrency", "2", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert (run["done"], run["failed"]) == (4, 0)
    assert main(["runs"]) == 0  # for people: times to the second, the candidates, spend in dollars
    listed = capsys.readouterr().out.splitlines()[1].split()
    assert listed[0] == run["run_id"] and listed[3:] == ["done", f"openai-compat:{llama_server.model}", "4", "4",
                                                         "0", "$0"]
    assert main(["runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["candidates"][0]["model"] == llama_server.model and "T" in runs[0]["created_at"]
    assert main(["score", "--run", run["run_id"], "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["scored"] == 4 and scored["by_reference"] == {"ground_truth": 4}
    assert scored["judge_agreement"]["n"] == 0  # no judge asked for
    assert main(["score", "--run", run["run_id"], "--scorer", "judge", "--judge", spec, "--json"]) == 0
    judged = json.loads(capsys.readouterr().out)
    assert judged["by_scorer"] == {"judge": 4}
    agreement = judged["judge_agreement"]
    assert agreement["n"] == 4 and agreement["exact_scorers"] == ["label"] and 0 <= agreement["agreement"] <= 1
    assert main(["quality", "--run", run["run_id"], "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    row = next(r for r in table if r["candidate"] == spec)
    assert row["n"] == 4 and 0 <= row["ci_low"] <= row["accuracy"] <= row["ci_high"] <= 1
    assert row["verdict"] in ("inferior", "inconclusive")
    assert main(["quality"]) == 0  # every run: the table says which row is whose
    header, first = capsys.readouterr().out.splitlines()[:2]
    assert header.split()[:2] == ["run_id", "candidate"] and first.split()[0] == run["run_id"]


def test_local_model_status_says_how_to_start(capsys):
    assert main(["local-model", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] in ("stopped", "not-installed")


def test_resuming_an_unknown_run_is_refused_clearly(capsys):
    open_db().close()
    assert main(["replay", "--resume", "nope"]) == 1
    assert "refused: no run 'nope'" in capsys.readouterr().err


def test_a_workspace_another_process_writes_is_busy_not_a_traceback(data_dir, capsys):
    open_db().close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(data_dir / "main.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["summary"]) == 1
        assert capsys.readouterr().err.startswith(
            f"refused: the workspace is busy: another process (PID {holder.pid}) has it open for writing")
    finally:
        holder.kill()
        holder.wait()


def test_mistakes_get_one_line_not_a_traceback(shared_dir, data_dir, capsys):
    """A typo'd workspace is refused (not created empty), as are unknown runs, values out of range
    and bad settings; a workspace without traffic says its figures are assumptions."""
    assert main(["summary", "--workspace", "nosuch"]) == 1
    assert capsys.readouterr().err.startswith("refused: no workspace 'nosuch'")
    assert not (data_dir / "nosuch.duckdb").exists()
    assert main(["ingest", _batch(shared_dir)[0]]) == 0
    capsys.readouterr()
    for argv, code, text in [
        (["summary", "--workspace", "nosuch"], 1, "no workspace 'nosuch' in"),
        (["summary", "--workspace", "../x"], 1, "invalid workspace name '../x'"),
        (["replay", "--candidate", "openai-compat:http://127.0.0.1:9/v1:m", "--sample", "0"], 2,
         "size: Input should be greater than or equal to 1"),
        (["quality", "--run", "nosuch"], 1, "no run 'nosuch' in this workspace"),
        (["route", "--run", "nosuch"], 1, "no run 'nosuch' in this workspace"),
    ]:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert err.startswith("refused: ") and text in err and "Traceback" not in err, argv
    assert main(["economics", "--workspace", "empty"]) == 0
    assert "note: no logged traffic in workspace 'empty'" in capsys.readouterr().out
    done = subprocess.run([sys.executable, "-m", "analysis.cli", "summary"], capture_output=True, text=True,
                          env={"BREAKEVEN_DATA_DIR": str(data_dir), "BREAKEVEN_LOCAL_ENGINE_PORT": "abc",
                               "PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stderr.strip()) == (
        2, "refused: Settings: local_engine_port: Input should be a valid integer, unable to parse string as an integer")
