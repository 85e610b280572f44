"""The `breakeven` command line, run as a real subprocess where the exit code matters."""

import json
import subprocess
import sys

import pytest

from analysis.cli import main
from analysis.present.formatting import usd
from analysis.quality.verdicts import MIN_LATENCY_REQUESTS
from analysis.store.database import open_db, rows


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
                                    "gpu_hourly_usd": 1.0, "capacity_rps_per_gpu": 1000.0, "gpu_count": None, "mode": "dedicated",
                                    "ops_usd_per_month": 0, "fine_tuning_usd": 0, "batch_discount": False}))
    # The file leaves batch_share to the logs: this workspace is all Batch API traffic, so the API
    # is priced at the Batch rate (0.5 x the example's 395 $/month) whatever batch_discount says.
    assert main(["economics", "--scenario", str(scenario), "--json"]) == 0
    assert round(json.loads(capsys.readouterr().out)["api_monthly_usd"]) == 198
    # The issue's example prices every request at the standard rate: batch_share 0 says so.
    scenario.write_text(json.dumps({**json.loads(scenario.read_text()), "batch_share": 0}))
    assert main(["economics", "--scenario", str(scenario), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert round(out["api_monthly_usd"]) == 395 and round(out["self_host_monthly_usd"]) == 730
    assert 18_450 < out["breakeven_requests_per_day"] < 18_470
    assert out["gpus"] == 1 and len(out["curve"]) > 50
    assert main(["economics", "--scenario", str(scenario)]) == 0
    assert "Self-hosting is cheaper from 18.5k requests/day on" in capsys.readouterr().out
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


def test_a_workspace_another_process_writes_is_busy_not_a_traceback(data_dir, capsys, monkeypatch):
    """A process holding the file without saying what it does (no holder record) is named by its
    pid; the command waits BREAKEVEN_WORKSPACE_WAIT_S, saying so, then gives up in one line."""
    monkeypatch.setenv("BREAKEVEN_WORKSPACE_WAIT_S", "1")
    open_db().close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(data_dir / "main.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["summary"]) == 1
        assert capsys.readouterr().err.splitlines() == [
            f"waiting for another process (pid {holder.pid}) to finish…",
            f"refused: the workspace 'main' is busy: another process (pid {holder.pid}) has held it for over 1 s; "
            "try again when it is done (BREAKEVEN_WORKSPACE_WAIT_S sets how long to wait)"]
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


# --- per-candidate figures of replay and runs, the run quality and route used ---------------------------


def _expected_figures(run_id: str, candidate: str) -> dict:
    """The candidate's figures computed here from its stored results (numpy's quantiles)."""
    import numpy as np

    con = open_db(None)
    try:
        stored = rows(con, "SELECT status, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd FROM results "
                           "WHERE run_id = ? AND candidate = ?", [run_id, candidate])
    finally:
        con.close()
    ok = [r for r in stored if r[0] == "ok"]
    latencies = [r[1] for r in ok if r[1] is not None]
    ttfts = [r[2] for r in ok if r[2] is not None]
    enough, ttft_enough = len(latencies) >= MIN_LATENCY_REQUESTS, len(ttfts) >= MIN_LATENCY_REQUESTS
    return {"run_id": run_id, "candidate": candidate, "ok": len(ok), "failed": len(stored) - len(ok),
            "timed": len(latencies),
            "latency_p50_ms": float(np.quantile(latencies, 0.5)) if enough else None,
            "latency_p95_ms": float(np.quantile(latencies, 0.95)) if enough else None,
            "ttft_p50_ms": float(np.quantile(ttfts, 0.5)) if ttft_enough else None,
            "input_tokens": sum(r[3] or 0 for r in stored), "output_tokens": sum(r[4] or 0 for r in stored),
            "cost_usd": sum(r[5] for r in stored)}


def _same_figures(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_replay_and_runs_give_each_candidates_figures(shared_dir, llama_server, capsys):
    """Against the real engine: calls ok/failed, latency p50/p95, TTFT p50, tokens in/out and cost
    per candidate, in replay's and runs' JSON and text alike; quality and route name their run."""
    from analysis.quality.verdicts import latency_table

    main(["ingest-labelled", _tickets(shared_dir), "--text", "subject", "--label", "queue", "--limit", "4"])
    capsys.readouterr()
    spec = f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}"
    assert main(["replay", "--candidate", spec, "--sample", "4", "--max-tokens", "8", "--auto-labels",
                 "--concurrency", "2", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    [figures] = run["by_candidate"]
    expected = _expected_figures(run["run_id"], spec)
    _same_figures(figures, expected)
    assert (figures["ok"], figures["failed"], figures["cost_usd"]) == (4, 0, 0)  # local: no cost per call
    assert figures["input_tokens"] > 0 and 0 < figures["output_tokens"] <= 4 * 8
    assert figures["timed"] == 4 and figures["latency_p50_ms"] is None  # 4 answers: too few to quote a latency
    con = open_db(None)
    [measured] = [r for r in latency_table(con, run["run_id"]).to_dicts() if r["candidate"] == spec]
    con.close()  # the same point estimates as the Quality page's latency table
    assert (figures["latency_p50_ms"], figures["latency_p95_ms"], figures["ttft_p50_ms"]) == pytest.approx(
        (measured["p50_ms"], measured["p95_ms"], measured["ttft_p50_ms"]))

    assert main(["runs", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    _same_figures(listed["by_candidate"][0], expected)
    assert len(listed["by_candidate"]) == 1

    assert main(["runs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "run_id" and out[1].split()[0] == run["run_id"] and out[2] == ""
    assert out[3].split() == ["run_id", "candidate", "ok", "failed", "latency", "p50", "latency", "p95", "TTFT", "p50",
                              "tokens", "in", "tokens", "out", "cost"]
    row = out[4]
    assert row.split()[:4] == [run["run_id"], spec, "4", "0"] and row.split()[-1] == "$0"
    assert row.count("too few (4)") == 3  # latency p50, p95 and TTFT p50
    assert f"{figures['input_tokens']:,}" in row

    assert main(["replay", "--resume", run["run_id"]]) == 0  # nothing left to send: the same figures, as text
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"run {run['run_id']}: done, 4 ok, 0 failed, spent $0.0000 of estimated $0.0000"
    assert lines[2].split()[:2] == ["candidate", "ok"] and lines[3].split()[:3] == [spec, "4", "0"]

    assert main(["score", "--run", run["run_id"]]) == 0
    capsys.readouterr()
    assert main(["quality", "--run", run["run_id"]]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"run {run['run_id']}"
    assert main(["route", "--json"]) == 0  # default: the newest scored run and its most scored candidate
    rec = json.loads(capsys.readouterr().out)
    assert (rec["run_id"], rec["candidate"]) == (run["run_id"], spec)
    assert main(["route"]) == 0
    assert f"quality from run {run['run_id']}, candidate {spec}" in capsys.readouterr().out.splitlines()


def test_a_candidate_without_results_is_listed_with_zeros(shared_dir, capsys):
    """A run not executed yet (or a candidate given up before any call) still lists each candidate."""
    from analysis.replay import runs as replay
    from analysis.replay.sampling import SampleSpec

    main(["ingest", *_batch(shared_dir)])
    capsys.readouterr()
    con = open_db(None)
    run_id = replay.create_run(con, ["local:gemma-3-270m", "openai-compat:http://127.0.0.1:9/v1:m"],
                               SampleSpec(size=2))
    con.close()
    assert main(["runs", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)[0]["by_candidate"]
    assert [(f["candidate"], f["ok"], f["failed"], f["latency_p50_ms"], f["cost_usd"]) for f in figures] == [
        ("local:gemma-3-270m", 0, 0, None, 0.0), ("openai-compat:http://127.0.0.1:9/v1:m", 0, 0, None, 0.0)]
    assert all(f["run_id"] == run_id for f in figures)
    assert main(["route", "--json"]) == 0  # no scored run: quality unknown, and it says so
    assert (json.loads(capsys.readouterr().out)["run_id"]) is None
    assert main(["route"]) == 0
    assert "quality: no scored replay run, so nothing goes local on merit" in capsys.readouterr().out


# --- errors: the user's in one line with their code, a bug with its traceback --------------------------


def test_an_internal_error_is_not_a_refusal(data_dir, monkeypatch, capsys):
    """A bug is said to be one (exit 70) and its traceback kept in the data directory's log."""
    import analysis.cli as cli

    def broken(args):
        return 1 / 0

    open_db().close()
    monkeypatch.setitem(cli.COMMANDS, "summary", (broken, "broken"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-0123456789")
    assert main(["summary"]) == cli.INTERNAL_ERROR == 70
    err = capsys.readouterr().err
    log = data_dir / cli.ERROR_LOG
    assert err == f"internal error, please report: ZeroDivisionError: division by zero (traceback in {log.resolve()})\n"
    assert "refused" not in err
    logged = log.read_text()
    assert "breakeven summary" in logged and "Traceback (most recent call last)" in logged
    assert "in broken" in logged and logged.rstrip().endswith("ZeroDivisionError: division by zero")

    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(log))  # the log cannot be written: the traceback on stderr
    assert main(["summary"]) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.splitlines()[-1] == (
        "internal error, please report: ZeroDivisionError: division by zero")


def test_an_internal_error_in_a_subprocess_keeps_its_traceback_in_the_log(data_dir, tmp_path):
    """`python -m analysis.cli` with a command that fails inside: exit 70, one line, the log."""
    code = ("import sys, analysis.cli as cli\n"
            "cli.COMMANDS['summary'] = (lambda args: {}['missing'], 'broken')\n"
            "sys.exit(cli.main())\n")
    done = subprocess.run([sys.executable, "-c", code, "summary"], capture_output=True, text=True,
                          env={"BREAKEVEN_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 70 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("internal error, please report: KeyError: 'missing' (traceback in ")
    assert "KeyError: 'missing'" in (data_dir / "cli-errors.log").read_text()


def test_each_user_error_is_one_line_with_its_exit_code(shared_dir, tmp_path, monkeypatch, capsys):
    """Every refusal goes through main's one path: "refused: ..." on one line, exit 2 for a usage
    or value the command cannot take, else 1; never a traceback or an internal error."""
    from analysis.replay.providers import local_engine

    main(["ingest", *_batch(shared_dir)])
    capsys.readouterr()
    labels = tmp_path / "nomatch.csv"
    labels.write_text("request_id,label\nnope,urgent\n")
    bad_scenario = tmp_path / "bad.json"
    bad_scenario.write_text('{"gpu_hourly_usd": -1}')
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00bad")

    def engine_refuses(**kwargs):
        raise local_engine.LocalEngineError("port 1 is taken by another process")

    monkeypatch.setattr(local_engine, "start", engine_refuses)
    closed = "openai-compat:http://127.0.0.1:9/v1:m"
    for argv, code, text in [
        (["replay"], 2, "give at least one --candidate SPEC (or --resume RUN_ID)"),
        (["replay", "--resume", "nope"], 1, "no run 'nope' in this workspace"),
        (["probe", closed, "--levels", "one,two"], 2, "--levels must be integers separated by commas, got 'one,two'"),
        (["probe", closed, "--levels", "1", "--requests-per-level", "1"], 1, "probe failed: cannot reach"),
        (["attach-labels", str(labels)], 1, "nope"),
        (["local-model", "start"], 1, "port 1 is taken by another process"),
        (["score", "--run", "nosuch"], 1, "no run 'nosuch' in this workspace"),
        (["economics", "--scenario", str(bad_scenario)], 1, "gpu_hourly_usd"),
        (["economics", "--scenario", str(tmp_path / "none.json")], 1, "none.json"),
        (["economics", "--scenario", str(binary)], 1, "not a text file"),
        (["route", "--segment-by", "nope"], 1, "segment_by must be"),
        (["report", "--scenario", str(bad_scenario), "--saved", "abcdefghij"], 2, "not both"),
        (["report", "--saved", "abcdefghij"], 1, "no saved scenario 'abcdefghij'"),
        (["report", "--out", str(tmp_path)], 1, str(tmp_path)),
        (["scenarios", "show", "nope"], 1, "scenario link id 'nope' is malformed"),
        (["scenarios", "save", str(bad_scenario)], 1, "gpu_hourly_usd"),
        (["scenarios", "list", "--workspace", "nosuch"], 1, "no workspace 'nosuch'"),
    ]:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        lines = [line for line in err.split("\n") if line and not line.startswith("\r")]  # less progress lines
        assert len(lines) == 1 and lines[0].startswith("refused: ") and text in lines[0], (argv, err)


def test_hostile_scenario_files_are_refused_in_one_line(shared_dir, tmp_path, capsys):
    """Issue #15 item 11: deep nesting, non-UTF-8, an empty file, absurd numbers and a million task
    types end in one `refused:` line, never a traceback, Infinity/NaN or hours of work."""
    import time

    files = {
        "deep.json": ("[" * 2000 + "]" * 2000).encode(),
        "latin1.json": '{"candidate_model": "caf\u00e9"}'.encode("latin-1"),
        "empty.json": b"",
        "blank.json": b"  \n",
        "huge_costs.json": json.dumps({"api_cost_by_task": {"a": {"share": 1, "cost_per_request": 1e308},
                                                            "b": {"share": 1, "cost_per_request": 1e308}}}).encode(),
        "tiny_capacity.json": b'{"capacity_rps_per_gpu": 1e-300}',
        "nan.json": b'{"requests_per_day": NaN}',
        "many_tasks.json": json.dumps({"api_cost_by_task": {f"t{i}": {"share": 1, "cost_per_request": 0.001}
                                                            for i in range(1_000_000)}}).encode(),
    }
    expected = {"deep.json": "nests 2000 levels deep", "latin1.json": "not a text file", "empty.json": "is empty",
                "blank.json": "is empty", "huge_costs.json": "cost_per_request", "tiny_capacity.json": "capacity_rps_per_gpu",
                "nan.json": "NaN", "many_tasks.json": "too large"}
    assert main(["ingest", *_batch(shared_dir)]) == 0  # route needs logged traffic
    capsys.readouterr()
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        for command in ("economics", "route"):
            start = time.monotonic()
            assert main([command, "--scenario", str(path), "--json"]) == 1, (command, name)
            captured = capsys.readouterr()
            lines = [line for line in captured.err.split("\n") if line and not line.startswith("\r")]
            assert len(lines) == 1 and lines[0].startswith("refused: ") and expected[name] in lines[0], (name, captured.err)
            assert "Infinity" not in captured.out and "NaN" not in captured.out
            assert time.monotonic() - start < 5, (command, name)
