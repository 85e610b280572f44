"""Mutated inputs (from the shared samples and hand-written lines): each either loads as the
original would, or lands its bad records in `rejects` with the line and what was expected, or
fails as a whole with a message naming the file and the spot, leaving the database as it was."""

import gzip
import json
from concurrent.futures import ThreadPoolExecutor

from local_files import write_jsonl

from analysis.ingest import ingest_file
from analysis.store.database import rows, scalar


def counts(con) -> dict:
    return {t: scalar(con, f"SELECT count(*) FROM {t}") for t in ("requests", "rejects", "sources")}


def batch_lines(shared_dir) -> list[str]:
    return (shared_dir / "samples" / "openai-batch" / "genai_navirag_batch_output.jsonl").read_text().splitlines()


def chat(n: int, **fields) -> dict:
    return {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1731368630 + n, "model": "gpt-4o-mini",
            "choices": [{"message": {"role": "assistant", "content": f"answer {n}"}}],
            "usage": {"prompt_tokens": 10 + n, "completion_tokens": 5}, **fields}


def test_bom_crlf_and_float_counts_load_like_the_original(con, tmp_path, shared_dir):
    lines = batch_lines(shared_dir)
    floats = [json.loads(line) for line in lines]
    for record in floats:
        usage = record["response"]["body"]["usage"]
        usage["prompt_tokens"] = float(usage["prompt_tokens"])
    mutated = tmp_path / "bom_crlf.jsonl"
    mutated.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\r\n" for r in floats).encode())
    result = ingest_file(con, mutated)
    assert (result.rows_loaded, result.rows_rejected) == (65, 0)
    expected = sum(json.loads(line)["response"]["body"]["usage"]["prompt_tokens"] for line in lines)
    assert scalar(con, "SELECT sum(input_tokens) FROM requests") == expected


def test_line_numbers_fast_path_and_retry(con, tmp_path, shared_dir):
    """A clean Batch file loads on the parallel fast path, which numbers no line (records are found
    by custom_id); a file with a bad line is retried line by line, and every row gets its line."""
    plain = ingest_file(con, shared_dir / "samples" / "openai-batch" / "genai_navirag_batch_output.jsonl")
    assert rows(con, "SELECT count(*), count(source_line), count(DISTINCT extra->>'custom_id') FROM requests "
                     "WHERE source_id = ?", [plain.source_id]) == [(65, 0, 65)]
    lines = [line.replace('"batch_req_', '"batch_req_copy_') for line in batch_lines(shared_dir)]
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(lines[:30]) + "\n\n{not json\n" + "\n".join(lines[30:]) + "\n")
    retried = ingest_file(con, path)
    assert (retried.rows_loaded, retried.rows_rejected, retried.reasons[0][:8]) == (65, 1, "line 32:")
    assert rows(con, "SELECT min(source_line), max(source_line), count(DISTINCT source_line) FROM requests "
                     "WHERE source_id = ?", [retried.source_id]) == [(1, 67, 65)]


def test_a_long_line_leaves_the_fast_path_and_the_line_limit_holds(con, tmp_path, shared_dir):
    """DuckDB's JSON reader takes lines up to about twice its object cap; a longer line fails the
    fast path (capped at 16 MB, to keep its per-thread buffers small) and the line-by-line retry
    loads it, or rejects it when it is over the line limit (the fast path used to let it in)."""
    records = [json.loads(line) for line in batch_lines(shared_dir)[:3]]
    records[1]["response"]["body"]["choices"][0]["message"]["content"] = "x" * (40 << 20)
    path = write_jsonl(tmp_path / "long.jsonl", records)
    loaded = ingest_file(con, path)
    assert (loaded.rows_loaded, loaded.rows_rejected) == (3, 0)
    assert rows(con, "SELECT source_line, length(output_text) FROM requests ORDER BY source_line") == [
        (1, len(records[0]["response"]["body"]["choices"][0]["message"]["content"])), (2, 40 << 20),
        (3, len(records[2]["response"]["body"]["choices"][0]["message"]["content"]))]
    path.write_text(path.read_text().replace("batch_req_", "batch_req_b_"))
    capped = ingest_file(con, path, options={"max_line_bytes": 36 << 20})
    assert (capped.rows_loaded, capped.rows_rejected) == (2, 1)
    assert capped.reasons[0].startswith("line 2: line too long (an enormous field)")


def test_ingest_gives_back_the_database_settings_it_changes(con, tmp_path, shared_dir):
    """The fast path runs its head query on one thread and inserts without keeping row order.
    `threads` belongs to the whole database, so every connection gets its value back, also with
    ingests running at once (dashboard sessions); row order is set for the ingesting connection only."""
    con.execute("SET threads = 3").fetchall()
    settings = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
    lines = batch_lines(shared_dir)
    paths = [tmp_path / f"batch_{n}.jsonl" for n in range(6)]
    for n, path in enumerate(paths):
        path.write_text("\n".join(line.replace('"batch_req_', f'"batch_req_{n}_') for line in lines) + "\n")
    cursors = [con.cursor() for _ in paths]
    with ThreadPoolExecutor(len(paths)) as pool:
        loaded = list(pool.map(lambda c, path: ingest_file(c, path).rows_loaded, cursors, paths))
    assert loaded == [65] * len(paths)
    assert rows(con, settings) == [(3, True)] and all(rows(c, settings) == [(3, True)] for c in cursors)
    assert not ingest_file(con, write_jsonl(tmp_path / "bad.jsonl", [{"custom_id": "x", "error": None}])).ok
    assert rows(con, settings) == [(3, True)]
    # A bad record past the head rows fails the fast path inside its transaction; the retry
    # rejects it, and the settings still come back.
    many = [line.replace('"batch_req_', f'"batch_req_m{k}_') for k in range(17) for line in lines] + ['{"custom_id": null}']
    (tmp_path / "many.jsonl").write_text("\n".join(many) + "\n")
    result = ingest_file(cursors[0], tmp_path / "many.jsonl")
    assert (result.rows_loaded, result.rows_rejected) == (17 * 65, 1)
    assert rows(cursors[0], settings) == [(3, True)]


def test_epoch_milliseconds_and_microseconds_are_read(con, tmp_path, shared_dir):
    """`created` in milliseconds crashed the pricing lookup with a Python AttributeError."""
    records = [json.loads(line) for line in batch_lines(shared_dir)[:3]]
    records[1]["response"]["body"]["created"] *= 1000
    records[2]["response"]["body"]["created"] *= 10**6
    result = ingest_file(con, write_jsonl(tmp_path / "ms.jsonl", records))
    assert (result.rows_loaded, result.rows_rejected, result.error) == (3, 0, None)
    assert [str(t) for (t,) in rows(con, "SELECT ts FROM requests ORDER BY source_line")] == [
        "2024-10-24 00:35:56", "2024-10-24 00:35:59", "2024-10-24 00:36:01"]


def test_impossible_values_are_rejected_with_their_line(con, tmp_path):
    records = [chat(1), chat(2, usage={"prompt_tokens": -12, "completion_tokens": 5}), chat(3, created=32503680000),
               chat(4, created=10**19), chat(5)]
    result = ingest_file(con, write_jsonl(tmp_path / "odd.jsonl", records))
    assert (result.rows_loaded, result.rows_rejected) == (2, 3)
    assert result.reasons == [
        "line 2: input_tokens -12 is negative (expected a token count of 0 or more)",
        "line 3: time 3000-01-01 00:00:00 is in the future (expected when the request was made)",
        "line 4: time 2286-11-20 17:46:40 is in the future (expected when the request was made)",
    ]
    assert json.loads(scalar(con, "SELECT raw FROM rejects WHERE line = 2"))["id"] == "chatcmpl-2"


def test_numbers_beyond_bigint_do_not_fail_the_file(con, tmp_path):
    langfuse = {"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": "2025-03-01T10:00:00Z",
                "model": "gpt-4o-mini", "usageDetails": {"input": 1e20, "output": 3}}
    result = ingest_file(con, write_jsonl(tmp_path / "lf.jsonl", [langfuse, {**langfuse, "id": "o2",
                                                                             "usageDetails": {"input": 7, "output": 3}}]))
    assert (result.rows_loaded, result.error) == (2, None)
    csv = tmp_path / "big.csv"
    csv.write_text("model,prompt_tokens,completion_tokens\ngpt-4o,1e20,4\ngpt-4o,-30,6\ngpt-4o,12.0,1\n")
    result = ingest_file(con, csv)
    assert (result.rows_loaded, result.rows_rejected, result.error) == (2, 1, None)
    assert result.reasons == ["line 3: input_tokens -30 is negative (expected a token count of 0 or more)"]
    assert rows(con, "SELECT source_line, input_tokens FROM requests WHERE source_id = ? ORDER BY 1",
                [result.source_id]) == [(2, None), (4, 12)]


def test_duplicate_request_ids_in_one_file(con, tmp_path, shared_dir):
    lines = batch_lines(shared_dir)
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join(lines + [lines[1]]) + "\n")
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (65, 1)
    request_id = json.loads(lines[1])["id"]
    assert result.reasons == [f"line 66: duplicate request_id {request_id} (first at line 2)"]
    assert scalar(con, "SELECT count(*) FROM requests WHERE request_id = ?", [request_id]) == 1
    assert scalar(con, "SELECT raw FROM rejects") == lines[1][:500]


def test_bom_before_a_json_array(con, tmp_path, shared_dir):
    spans = (shared_dir / "samples" / "otel-genai" / "openinference_vercel_v6_all-spans.json").read_bytes()
    path = tmp_path / "spans.json"
    path.write_bytes(b"\xef\xbb\xbf" + spans.replace(b"\n", b"\r\n"))
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected, result.rows_skipped) == ("otel", 5, 0, 5)


def test_malformed_json_documents_say_where(con, tmp_path, shared_dir):
    ingest_file(con, write_jsonl(tmp_path / "good.jsonl", [chat(1)]))
    before = counts(con)
    spans = (shared_dir / "samples" / "otel-genai" / "openinference_vercel_v6_all-spans.json").read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(spans[: len(spans) // 2])
    result = ingest_file(con, cut)
    line = spans[: len(spans) // 2].count("\n") + 1
    assert result.error.startswith(f"cut.json: not a valid JSON document (line {line}, column ")
    assert "Invalid Input Error" not in result.error and "expected a JSON object or an array of objects" in result.error
    spend = (shared_dir / "samples" / "litellm" / "spend_logs_payload.json").read_text()
    truncated = tmp_path / "spend.json"
    truncated.write_text(spend[:-40])
    result = ingest_file(con, truncated)
    assert result.error.startswith("spend.json: not valid JSON (line ")
    assert "expected JSON lines (one object per line) or a JSON document" in result.error
    assert counts(con) == before


def test_nul_byte_past_the_head_and_gzip_cut_short(con, tmp_path, shared_dir):
    lines = batch_lines(shared_dir)
    lines[20] = lines[20].replace('"role"', '"ro\x00le"')
    path = tmp_path / "nul.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (64, 1)
    assert result.reasons == ["line 21: a NUL byte (\\0) in the line; expected text (corrupted or binary data)"]
    before = counts(con)
    packed = gzip.compress("\n".join(batch_lines(shared_dir)).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    result = ingest_file(con, tmp_path / "cut.jsonl.gz")
    assert result.error.startswith("cut.jsonl.gz: corrupt gzip data") and counts(con) == before


def test_a_short_csv_row_is_one_reject_and_later_rows_keep_their_line(con, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("model,prompt_tokens,completion_tokens\ngpt-4o,10,2\ngpt-4o\ngpt-4o,30,6\ngpt-4o,4")
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 2)
    assert result.reasons == ["line 3: expected 3 columns as in the header, found 1",
                              "line 5: expected 3 columns as in the header, found 2"]
    assert rows(con, "SELECT source_line, input_tokens FROM requests ORDER BY 1") == [(2, 10), (4, 30)]


def test_overlapping_exports_count_each_request_once(con, tmp_path, shared_dir):
    """Two exports sharing requests (say, date ranges that overlap by a day): the second adds only
    its new requests and says how many it already found; a file of nothing new is no error."""
    lines = batch_lines(shared_dir)
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(lines[:40]) + "\n")
    assert ingest_file(con, first).rows_loaded == 40
    second = tmp_path / "second.jsonl"
    second.write_text("\n".join(lines[30:]) + "\n")
    result = ingest_file(con, second)
    assert (result.ok, result.rows_loaded, result.rows_known, result.rows_rejected) == (True, 25, 10, 0)
    assert scalar(con, "SELECT count(*) FROM requests") == scalar(con, "SELECT count(DISTINCT request_id) FROM requests") == 65
    assert rows(con, "SELECT rows_loaded FROM sources ORDER BY ingested_at") == [(40,), (25,)]
    inside = tmp_path / "inside.jsonl"
    inside.write_text("\n".join(lines[5:15]) + "\n")
    nothing_new = ingest_file(con, inside)
    assert (nothing_new.ok, nothing_new.rows_loaded, nothing_new.rows_known) == (True, 0, 10)
    assert scalar(con, "SELECT count(*) FROM requests") == 65
    known_and_bad = tmp_path / "known_and_bad.jsonl"
    known_and_bad.write_text("\n".join(lines[:8]) + '\n{"broken"\n')
    result = ingest_file(con, known_and_bad)  # was "no request could be read"
    assert (result.ok, result.rows_loaded, result.rows_known, result.rows_rejected) == (True, 0, 8, 1)
    assert result.reasons[0].startswith("line 9: invalid JSON")
