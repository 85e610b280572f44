"""The capacity probe against the real llama.cpp server (2 slots): small levels, few short requests."""

from __future__ import annotations

import json
import os
import socket

import pytest
from local_http import serve
from test_replay import Proxy

from analysis.cli import main
from analysis.economics.workspace_defaults import probe_measurements, probe_on_catalogue_gpu
from analysis.errors import UserError
from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.replay.probe import MIN_GAIN, LevelResult, probed_hardware, run_probe, stop_reason
from analysis.replay.providers.base import UnreachableError
from analysis.store.database import open_db, rows, scalar


def _spec(server) -> str:
    return f"openai-compat:{server.base_url}/v1:{server.model}"


def _logs(con, shared_dir, n: int = 6) -> None:
    """n short customer-support requests (11 categories), so each call is quick on 2 cores."""
    path = shared_dir / "datasets" / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
    assert ingest_labelled(con, path, "instruction", "category", limit=n, seed=5).rows_loaded == n


def test_sweep_measures_every_level_and_stores_it(con, shared_dir, llama_server):
    _logs(con, shared_dir)
    seen = []
    report = run_probe(con, _spec(llama_server), levels=(2, 1), requests_per_level=3, p95_target_ms=120_000,
                       max_tokens=6, on_progress=seen.append)
    assert [lv.concurrency for lv in report.levels] == [1, 2] and report.stopped_early is None
    for lv in report.levels:
        assert (lv.requests, lv.completed, lv.errors, lv.first_error) == (3, 3, 0, None)
        assert lv.capacity_rps > 0 and lv.output_tokens_per_s > 0 and lv.usage_reported
        assert lv.capacity_rps * lv.duration_s == pytest.approx(lv.completed)
        assert 0 < lv.p50_ms <= lv.p95_ms
        assert lv.p95_ms < lv.duration_s * 1000  # one request cannot outlast its whole level
        assert lv.within_target == (lv.p95_ms <= 120_000)
    assert report.best is max(report.levels, key=lambda lv: lv.capacity_rps)
    # progress: each level starts at 0 and ends at its request count
    assert [(p.concurrency, p.done) for p in seen if p.done in (0, 3)] == [(1, 0), (1, 3), (2, 0), (2, 3)]

    stored = rows(con, """SELECT probe_id, model, candidate, concurrency, requests, errors, capacity_rps,
                                 p50_ms, p95_ms, within_target, p95_target_ms, max_tokens
                          FROM probe_results ORDER BY concurrency""")
    assert stored == [(report.probe_id, llama_server.model, _spec(llama_server), lv.concurrency, 3, 0,
                       pytest.approx(lv.capacity_rps), pytest.approx(lv.p50_ms), pytest.approx(lv.p95_ms),
                       lv.within_target, 120_000.0, 6) for lv in report.levels]
    [measured] = probe_measurements(con)
    assert measured.capacity_rps == pytest.approx(report.best.capacity_rps)
    assert measured.hardware is None and probe_on_catalogue_gpu(con) is None  # unknown hardware: no GPU's capacity

    strict = run_probe(con, _spec(llama_server), levels=(1,), requests_per_level=2, p95_target_ms=1, max_tokens=4)
    [level] = strict.levels
    assert level.p95_ms > 1 and not level.within_target and strict.best is None
    assert probe_measurements(con)[0].capacity_rps is None  # the latest probe kept nothing under its target
    assert scalar(con, "SELECT count(DISTINCT probe_id) FROM probe_results") == 2


def test_each_level_sends_prompts_of_its_own(con, shared_dir, llama_server):
    """A server that caches prompts would answer a level that repeats the last one's from its
    cache; so the warm-up and every level send requests of their own (while the logs have enough)."""
    _logs(con, shared_dir, n=10)
    Proxy.upstream, Proxy.canned, Proxy.plan, Proxy.sent, Proxy.answered = llama_server.base_url, True, {}, [], []
    with serve(Proxy) as url:
        report = run_probe(con, f"openai-compat:{url}/v1:{llama_server.model}", levels=(1, 2), requests_per_level=3,
                           p95_target_ms=60_000, max_tokens=4)
    assert [lv.completed for lv in report.levels] == [3, 3]
    sent = [k for k, _ in Proxy.sent]
    assert len(sent) == len(set(sent)) == 1 + 3 + 3


def _level(concurrency: int, rps: float, p95: float) -> LevelResult:
    return LevelResult(concurrency, 10, 10, 0, 10 / rps, rps, rps * 20, p95 / 2, p95, p95 <= 1000, True)


def test_a_probe_records_the_hardware_it_measured():
    assert probed_hardware("local", None) == f"this computer ({os.cpu_count()} CPU cores)"
    assert probed_hardware("openai-compat:http://gpu-box:8000/v1:llama3.1:8b", None) is None
    assert probed_hardware("openai-compat:http://gpu-box:8000/v1:llama3.1:8b", "h100 80gb") == "H100 80GB"
    with pytest.raises(UserError, match="unknown GPU"):
        probed_hardware("local", "Z80")


def test_stop_rule_needs_flat_throughput_and_p95_over_target():
    earlier = [_level(1, 2.0, 400), _level(2, 3.0, 700)]
    flat = 3.0 * (1 + MIN_GAIN) - 0.01
    assert stop_reason(earlier, _level(4, flat, 1500), 1000).startswith("stopped after concurrency 4")
    assert stop_reason(earlier, _level(4, flat, 900), 1000) is None  # still within the target
    assert stop_reason(earlier, _level(4, 3.0 * (1 + MIN_GAIN), 1500), 1000) is None  # still rising
    assert stop_reason([], _level(1, 0.5, 5000), 1000) is None  # nothing to compare the first level with


def test_cli_prints_the_levels_as_json_and_as_a_table(shared_dir, llama_server, capsys):
    con = open_db(None)
    _logs(con, shared_dir)
    con.close()
    assert main(["probe", _spec(llama_server), "--levels", "1,2", "--requests-per-level", "2",
                 "--max-tokens", "4", "--p95-ms", "120000", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 2]
    assert report["best"]["capacity_rps"] == max(lv["capacity_rps"] for lv in report["levels"])
    assert report["candidate"] == _spec(llama_server) and "2/2 done" in captured.err
    con = open_db(None)
    assert probe_measurements(con)[0].capacity_rps == pytest.approx(report["best"]["capacity_rps"])  # stored
    con.close()

    assert main(["probe", _spec(llama_server), "--levels", "1", "--requests-per-level", "1", "--max-tokens", "4",
                 "--p95-ms", "120000"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["concurrency", "requests", "errors", "req/s"]
    assert "best: " in out and "req/s at concurrency 1" in out


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_endpoint_is_a_clear_error(shared_dir, capsys):
    con = open_db(None)
    _logs(con, shared_dir, n=2)
    spec = f"openai-compat:http://127.0.0.1:{_closed_port()}/v1:nothing"
    with pytest.raises(UnreachableError, match="cannot reach http://127.0.0.1"):
        run_probe(con, spec, levels=(1,), requests_per_level=1)
    assert scalar(con, "SELECT count(*) FROM probe_results") == 0
    con.close()
    assert main(["probe", spec, "--levels", "1"]) == 1
    assert "probe failed: cannot reach http://127.0.0.1" in capsys.readouterr().err


def test_empty_workspace_and_bad_levels_are_refused(data_dir, capsys):
    assert main(["probe", "openai-compat:http://127.0.0.1:9/v1:m", "--levels", "1"]) == 1
    assert "refused: no workspace 'main'" in capsys.readouterr().err
    assert not (data_dir / "main.duckdb").exists()  # not created empty
    open_db().close()
    assert main(["probe", "openai-compat:http://127.0.0.1:9/v1:m", "--levels", "1"]) == 1
    assert "no replayable logged request" in capsys.readouterr().err
    assert main(["probe", "openai-compat:http://127.0.0.1:9/v1:m", "--levels", "one,two"]) == 2
    assert "--levels must be integers" in capsys.readouterr().err
