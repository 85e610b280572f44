"""OpenAI Batch API output (joined with its input file): the shared real sample; and the registry."""

from analysis.ingest import ADAPTERS, ingest_paths
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import open_db, rows


def test_batch_output_with_its_input(tmp_path, shared_dir):
    folder = shared_dir / "samples" / "openai-batch"
    output, inputs = folder / "genai_navirag_batch_output.jsonl", folder / "genai_navirag_batch_input.jsonl"
    assert detect_format(read_sample(output)) == "openai_batch"
    assert detect_format(read_sample(inputs)) == "openai_batch_input"
    con = open_db(tmp_path / "t.duckdb")
    results = ingest_paths(con, [output, inputs])
    loaded = next(r for r in results if r.format == "openai_batch")
    assert (loaded.rows_loaded, loaded.rows_rejected) == (65, 0)
    assert rows(con, """SELECT count(*), sum(input_tokens), sum(output_tokens), list(DISTINCT model_logged),
                               bool_and(is_batch), count(input_text), min(ts) >= '2024-10-01' FROM requests""") == [
        (65, 36501, 11980, ["gpt-4o-2024-08-06"], True, 65, True)]


def test_every_adapter_has_the_contract():
    for name, module in ADAPTERS.items():
        assert name == module.NAME and module.DESCRIPTION
        assert callable(module.detect) and callable(module.load)
    assert list(ADAPTERS)[-2:] == ["generic", "labelled"]  # generic after every specific format
