"""Bad input through ingest_file: every case gets a specific message (file, line, what was expected),
bad records land in `rejects`, a file failing as a whole leaves the database as it was, and the
same content ingested twice adds nothing."""

import gzip
import json

import duckdb
import pytest
import zstandard

from analysis.ingest import context, core, ingest_file
from analysis.store.database import scalar


def chat(n: int, model: str = "gpt-4o-mini") -> str:
    return json.dumps({
        "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1731368630 + n, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer {n}"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10 + n, "completion_tokens": 5},
    })


GOOD = "\n".join(chat(n) for n in range(3)) + "\n"


def counts(con) -> dict:
    return {t: scalar(con, f"SELECT count(*) FROM {t}") for t in ("requests", "rejects", "sources")}


def write(tmp_path, name: str, data: str | bytes):
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_truncated_and_invalid_lines_are_rejected_with_their_line(con, tmp_path):
    text = chat(1) + "\n" + chat(2)[:40] + "\n" + "{not json at all}\n" + "[1, 2]\n" + chat(3) + "\n"
    result = ingest_file(con, write(tmp_path, "mixed.jsonl", text))
    assert result.ok and result.format == "openai_chat"
    assert (result.rows_loaded, result.rows_rejected) == (2, 3)
    assert result.reasons[0].startswith("line 2: invalid JSON (truncated or malformed line)")
    assert result.reasons[1].startswith("line 3: invalid JSON")
    assert result.reasons[2] == "line 4: expected a JSON object per line, found array"
    raw = scalar(con, "SELECT raw FROM rejects WHERE line = 2")
    assert raw == chat(2)[:40]


def test_missing_required_field(con, tmp_path):
    no_model = json.loads(chat(2))
    del no_model["model"]
    result = ingest_file(con, write(tmp_path, "m.jsonl", chat(1) + "\n" + json.dumps(no_model) + "\n"))
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert result.reasons == ["line 2: missing required field model (expected an OpenAI chat.completion or response object)"]


def test_a_line_in_another_encoding_is_rejected(con, tmp_path):
    latin = chat(2).replace("answer 2", "caf\u00e9").encode("latin-1")
    data = chat(1).encode() + b"\n" + latin + b"\n" + chat(3).encode() + b"\n"
    result = ingest_file(con, write(tmp_path, "latin.jsonl", data))
    assert (result.rows_loaded, result.rows_rejected) == (2, 1)
    assert result.reasons == ["line 2: not UTF-8 text; re-export the file as UTF-8"]


def test_a_file_in_another_encoding_fails_whole(con, tmp_path):
    data = chat(1).replace("answer 1", "caf\u00e9").encode("latin-1") + b"\n" + chat(2).encode()
    result = ingest_file(con, write(tmp_path, "latin1.jsonl", data))
    assert not result.ok
    assert "latin1.jsonl: line 1: not UTF-8" in result.error and "re-export the file as UTF-8" in result.error


@pytest.mark.parametrize("how", ["option", "monkeypatch"])
def test_an_enormous_field_is_rejected(con, tmp_path, monkeypatch, how):
    big = json.loads(chat(2))
    big["choices"][0]["message"]["content"] = "x" * 5000
    path = write(tmp_path, "big.jsonl", chat(1) + "\n" + json.dumps(big) + "\n" + chat(3) + "\n")
    if how == "monkeypatch":
        monkeypatch.setattr(context, "MAX_LINE_BYTES", 2048)
        options = None
    else:
        options = {"max_line_bytes": 2048}
    result = ingest_file(con, path, options=options)
    assert (result.rows_loaded, result.rows_rejected) == (2, 1)
    assert result.reasons[0].startswith("line 2: line too long (an enormous field)")
    assert scalar(con, "SELECT list(source_line ORDER BY source_line) FROM requests") == [1, 3]


def test_unknown_format(con, tmp_path):
    result = ingest_file(con, write(tmp_path, "odd.jsonl", '{"foo": 1}\n{"foo": 2}\n'))
    assert not result.ok
    assert "odd.jsonl: format not recognised from its content (jsonl)" in result.error
    assert "openai_chat" in result.error and "generic" in result.error
    named = ingest_file(con, write(tmp_path, "x.jsonl", GOOD), format="nope")
    assert "unknown format 'nope'" in named.error


def test_empty_whitespace_and_binary_files(con, tmp_path):
    assert "empty.jsonl: the file is empty" in ingest_file(con, write(tmp_path, "empty.jsonl", "")).error
    assert "the file is empty (only whitespace)" in ingest_file(con, write(tmp_path, "blank.jsonl", "\n \n")).error
    binary = ingest_file(con, write(tmp_path, "image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))))
    assert "image.png: looks like a binary file" in binary.error
    assert counts(con) == {"requests": 0, "rejects": 0, "sources": 0}


@pytest.mark.parametrize("name", ["log.jsonl.gz", "log.jsonl"])
def test_gzip_input(con, tmp_path, name):
    result = ingest_file(con, write(tmp_path, name, gzip.compress(GOOD.encode())))
    assert result.ok and result.rows_loaded == 3


@pytest.mark.parametrize("name", ["log.jsonl.zst", "log.data"])
def test_zstd_input(con, tmp_path, name):
    result = ingest_file(con, write(tmp_path, name, zstandard.ZstdCompressor().compress(GOOD.encode())))
    assert result.ok and result.rows_loaded == 3


def test_compressed_csv_and_json_documents(con, tmp_path):
    csv_text = "model,prompt_tokens,completion_tokens\ngpt-4o,10,2\ngpt-4o,20,4\n"
    assert ingest_file(con, write(tmp_path, "a.csv", gzip.compress(csv_text.encode()))).rows_loaded == 2
    doc = json.dumps([json.loads(chat(7)), json.loads(chat(8))])
    result = ingest_file(con, write(tmp_path, "b.json", zstandard.ZstdCompressor().compress(doc.encode())))
    assert result.ok and result.rows_loaded == 2


def test_the_same_file_twice_adds_nothing(con, tmp_path):
    path = write(tmp_path, "chat.jsonl", GOOD)
    first = ingest_file(con, path)
    before = counts(con)
    again = ingest_file(con, path)
    renamed = ingest_file(con, write(tmp_path, "copy.jsonl", GOOD))
    assert first.ok and again.ok and again.duplicate and renamed.duplicate
    assert again.source_id == first.source_id
    assert counts(con) == before == {"requests": 3, "rejects": 0, "sources": 1}


def test_a_file_failing_as_a_whole_leaves_the_database_as_it_was(con, tmp_path):
    ingest_file(con, write(tmp_path, "good.jsonl", GOOD))
    before = counts(con)
    bad = ingest_file(con, write(tmp_path, "bad.jsonl", "{oops\n{\"x\": \n"), format="openai_chat")
    assert not bad.ok and "bad.jsonl: no request could be read as openai_chat" in bad.error
    assert "line 1: invalid JSON" in bad.error
    assert counts(con) == before


def test_a_failure_after_rows_were_written_is_rolled_back(con, tmp_path, monkeypatch):
    ingest_file(con, write(tmp_path, "good.jsonl", GOOD))
    before = counts(con)

    def broken(*args, **kwargs):
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(core, "price_missing_costs", broken)
    more = "\n".join(chat(n) for n in range(10, 14)) + "\n{broken\n"
    result = ingest_file(con, write(tmp_path, "more.jsonl", more))
    assert not result.ok and "disk full" in result.error
    assert counts(con) == before
    monkeypatch.undo()
    assert ingest_file(con, tmp_path / "more.jsonl").rows_loaded == 4  # nothing half-written blocks a retry
