"""Generic CSV / JSONL / Parquet through a column mapping: mapping files and flags, JSON paths,
cost units (USD, cents, USD x 1e9), latency units (ms, s, ns), timestamp formats, clear errors."""

import json
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.ingest import ingest_file
from analysis.ingest.context import IngestError
from analysis.ingest.generic import load_mapping, mapping_from_flags
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

CSV = """id,when,engine,usage,elapsed,price,ok,labels
a,2025-05-01 10:00:00,openai/gpt-4o,"{""prompt_tokens"": 100, ""completion_tokens"": 20}",1.5,250,ok,"x, y"
b,2025-05-01 10:01:00,gpt-4o,"{""prompt_tokens"": 10, ""completion_tokens"": 2}",abc,,error,
c,2025-05-01 10:02:00,,"{}",1,,ok,
"""
FLAGS = ["request_id=id", "ts=when", "model=engine", "input_tokens=usage.prompt_tokens",
         "output_tokens=$.usage.completion_tokens", "latency_ms=elapsed", "cost_usd=price", "status=ok", "tags=labels"]


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text(CSV)
    return path


def test_csv_with_flags_json_paths_and_units(con, csv_path):
    options = mapping_from_flags([*FLAGS, "latency_unit=s", "cost_unit=cents"])
    assert options["mapping"]["model"] == "engine" and options["latency_unit"] == "s"
    result = ingest_file(con, csv_path, options=options)  # a mapping means the generic adapter
    assert (result.format, result.rows_loaded, result.rows_rejected) == ("generic", 1, 2)
    assert result.reasons == ["line 3: latency_ms (column elapsed) is not a number: abc",
                              "line 4: missing required field model (column engine)"]
    assert rows(con, """SELECT request_id, source_line, ts, provider, model, input_tokens, output_tokens, latency_ms,
                               status, cost_usd, cost_source, tags FROM requests""") == [
        ("a", 2, datetime(2025, 5, 1, 10), "openai", "gpt-4o", 100, 20, 1500.0, "ok", 2.5, "logged", ["x", "y"])]


@pytest.mark.parametrize("cost_unit, cost", [("usd", 250.0), ("cents", 2.5), ("usd_1e9", 2.5e-7)])
def test_cost_units(con, csv_path, cost_unit, cost):
    ingest_file(con, csv_path, options=mapping_from_flags([*FLAGS, f"cost_unit={cost_unit}"]))
    assert rows(con, "SELECT cost_usd FROM requests") == [(pytest.approx(cost),)]


@pytest.mark.parametrize("latency_unit, latency_ms", [("ms", 1.5), ("s", 1500.0), ("ns", 1.5e-6)])
def test_latency_units(con, csv_path, latency_unit, latency_ms):
    ingest_file(con, csv_path, options=mapping_from_flags([*FLAGS, f"latency_unit={latency_unit}"]))
    assert rows(con, "SELECT latency_ms FROM requests") == [(pytest.approx(latency_ms),)]


def test_toml_and_json_mapping_files(con, tmp_path):
    toml = tmp_path / "mapping.toml"
    toml.write_text('latency_unit = "ns"\ntimestamp_format = "epoch_ms"\ninput_excludes_cache = true\n\n'
                    '[mapping]\nmodel = "llm"\nts = "t"\nend_ts = "t_end"\ninput_tokens = "in"\n'
                    'cached_input_tokens = "cache_read"\noutput_tokens = "out"\nttft_ms = "first_ns"\n')
    as_json = tmp_path / "mapping.json"
    as_json.write_text(json.dumps({"model": "llm", "ts": "t", "end_ts": "t_end", "input_tokens": "in",
                                   "cached_input_tokens": "cache_read", "output_tokens": "out", "ttft_ms": "first_ns",
                                   "latency_unit": "ns", "timestamp_format": "epoch_ms", "input_excludes_cache": True}))
    assert load_mapping(toml) == load_mapping(as_json)
    data = tmp_path / "calls.jsonl"
    data.write_text(json.dumps({"llm": "claude-3-5-haiku-20241022", "t": 1746093600000, "t_end": 1746093602500,
                                "in": 10, "cache_read": 90, "out": 5, "first_ns": 400_000_000}) + "\n")
    result = ingest_file(con, data, options=load_mapping(toml))
    assert result.ok and result.rows_loaded == 1
    assert rows(con, "SELECT ts, latency_ms, ttft_ms, input_tokens, cached_input_tokens, cost_source FROM requests") == [
        (datetime(2025, 5, 1, 10), 2500.0, 400.0, 100, 90, "computed")]


def test_strptime_timestamps_and_parquet(con, tmp_path):
    path = tmp_path / "calls.parquet"
    pq.write_table(pa.table({"m": ["gpt-4o-mini", "gpt-4o-mini"], "when": ["01/05/2025 10:00:00", "02/05/2025 11:30:00"],
                             "tin": [100, 200], "tout": [10, 20], "usd": [0.001, 0.002]}), path)
    options = mapping_from_flags(["model=m", "ts=when", "input_tokens=tin", "output_tokens=tout", "cost_usd=usd",
                                  "timestamp_format=%d/%m/%Y %H:%M:%S"])
    result = ingest_file(con, path, options=options)
    assert (result.format, result.rows_loaded) == ("generic", 2)
    assert rows(con, "SELECT source_line, ts, input_tokens, cost_usd FROM requests ORDER BY 1") == [
        (1, datetime(2025, 5, 1, 10), 100, 0.001), (2, datetime(2025, 5, 2, 11, 30), 200, 0.002)]


def test_canonical_columns_are_detected_without_a_mapping(con, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("model,prompt_tokens,completion_tokens,timestamp,latency_ms,cost_usd\n"
                    "gpt-4o-mini,12,3,2025-05-01T00:00:00Z,120,0.00002\n")
    assert detect_format(read_sample(path)) == "generic"
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded) == ("generic", 1)
    assert rows(con, "SELECT model, input_tokens, output_tokens, ts, latency_ms, cost_usd FROM requests") == [
        ("gpt-4o-mini", 12, 3, datetime(2025, 5, 1), 120.0, 0.00002)]


def test_a_mapped_column_that_is_missing(con, csv_path):
    result = ingest_file(con, csv_path, options=mapping_from_flags(["model=engine", "latency_ms=duration"]))
    assert result.error == ("calls.csv: mapping says latency_ms=duration but the file has no column 'duration'; "
                            "columns are: id, when, engine, usage, elapsed, price, ok, labels")
    path_error = ingest_file(con, csv_path, options=mapping_from_flags(["model=engine", "input_tokens=usage2.x"]))
    assert "mapping says input_tokens=usage2.x but the file has no column 'usage2'" in path_error.error


def test_bad_mappings_are_refused(tmp_path):
    with pytest.raises(IngestError, match="unknown column\\(s\\) tokens_in"):
        mapping_from_flags(["model=m", "tokens_in=x"])
    with pytest.raises(IngestError, match="which column holds the model"):
        mapping_from_flags(["input_tokens=x"])
    with pytest.raises(IngestError, match="latency_unit 'h' unknown"):
        mapping_from_flags(["model=m", "latency_unit=h"])
    with pytest.raises(IngestError, match="is not canonical=source"):
        mapping_from_flags(["model"])
    bad = tmp_path / "bad.toml"
    bad.write_text("model = \n")
    with pytest.raises(IngestError, match="not a TOML or JSON mapping"):
        load_mapping(bad)


def test_column_names_with_quotes_slashes_and_indexed_paths(con, tmp_path):
    """Spreadsheet headers carry any characters; paths may index arrays. None may break the SQL."""
    path = tmp_path / "export.jsonl"
    record = {"Model's name": "gpt-4o-mini", 'tokens "in"': "12", "cost/usd {x}": "abc",
              "resp": {"choices": [{"message": {"content": "refund"}}], "usage": {"out~put": 3}}}
    path.write_text(json.dumps(record) + "\n" + json.dumps({**record, "cost/usd {x}": "0.5"}) + "\n")
    options = {"mapping": {"model": "Model's name", "input_tokens": 'tokens "in"', "cost_usd": "cost/usd {x}",
                           "output_text": "resp.choices[0].message.content", "output_tokens": "$.resp.usage.out~put"}}
    result = ingest_file(con, path, options=options)
    assert (result.rows_loaded, result.rows_rejected) == (1, 1), result.error
    assert result.reasons == ["line 1: cost_usd (column cost/usd {x}) is not a number: abc"]
    assert rows(con, "SELECT model, input_tokens, output_tokens, output_text, cost_usd, source_line FROM requests") == [
        ("gpt-4o-mini", 12, 3, "refund", 0.5, 2)]
