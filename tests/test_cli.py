"""The `breakeven` command line, run as a real subprocess where the exit code matters."""

import json
import subprocess
import sys

from analysis.cli import main


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


def test_unknown_format_name_is_refused(shared_dir, capsys):
    assert main(["ingest", _batch(shared_dir)[0], "--format", "nope"]) == 1
    assert "unknown format 'nope'" in capsys.readouterr().out
