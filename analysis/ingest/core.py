"""Ingest one file: detect its format, load it in one transaction, price what has no logged cost.

A file either lands whole (its good rows in `requests`, its bad rows in `rejects`, one row in
`sources`) or not at all: any error rolls the transaction back, so the database is as it was.
The same file (same sha256) ingested twice adds nothing, and a request that another file already
loaded (same request_id: overlapping exports) is not added again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analysis.economics import prices as pricing
from analysis.ingest.context import INLINE_PRICES, FastPathFailed, IngestError, LoadContext
from analysis.ingest.registry import ADAPTERS, adapter_for, detect_format
from analysis.ingest.sample import UnreadableFileError, json_problem, read_sample
from analysis.present.formatting import count
from analysis.store.database import rows, scalar, utcnow


@dataclass
class IngestResult:
    path: str
    format: str | None = None
    source_id: str | None = None
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0  # records that are no LLM requests (e.g. non-gen_ai spans): not rejects
    skip_reasons: dict[str, int] = field(default_factory=dict)  # rows_skipped per reason (context.SKIP_REASONS)
    rows_known: int = 0  # requests another file already loaded (overlapping exports): not added again
    reasons: list[str] = field(default_factory=list)  # the first reject reasons, "line N: why"
    duplicate: bool = False  # the same content was ingested before: nothing added
    error: str | None = None  # set when the file was not ingested at all
    cost_computed: int = 0  # rows whose cost was computed from tokens with genai-prices
    rows_undated: int = 0  # loaded rows without a time: no per-day or per-month figure can use them

    @property
    def ok(self) -> bool:
        return self.error is None

    def counts_text(self) -> str:
        """What a loaded file gave, for people: "65 rows loaded, 0 rejected, 10 already in ..."."""
        skipped = "skipped (" + ", ".join(f"{why}: {n:,}" for why, n in sorted(self.skip_reasons.items())) + ")"
        return f"{count(self.rows_loaded, 'row')} loaded, {self.rows_rejected:,} rejected" + "".join(
            f", {n:,} {what}" for n, what in ((self.rows_skipped, skipped),
                                              (self.rows_undated, "without a time (left out of per-day figures)"),
                                              (self.rows_known, "already in the workspace from another file")) if n)


def sha256_of(path: Path, chunk: int = 4 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def price_missing_costs(con: duckdb.DuckDBPyConnection, source_id: str) -> int:
    """Make `cost_usd` where the log had none the cost from tokens (pricing.COST_SQL with
    genai-prices unit prices at each model's latest logged time, batch prices for batch requests),
    marked `computed`; return how many rows have it. The INSERT priced them already with the prices
    of the file's first rows (context.INLINE_PRICES): only models whose price differs at their
    latest time are priced again here."""
    needed = """r.source_id = ? AND (r.cost_usd IS NULL OR r.cost_source = 'computed') AND r.model IS NOT NULL
                AND r.status = 'ok' AND (r.input_tokens IS NOT NULL OR r.output_tokens IS NOT NULL)"""
    keys = rows(con, f"SELECT model, coalesce(provider, ''), max(ts), is_batch FROM requests r WHERE {needed} GROUP BY ALL",
                [source_id])
    applied = {(m, p, b): tuple(prices) for m, p, b, *prices in rows(con, f"SELECT * FROM {INLINE_PRICES}")}
    stale, unknown = [], []
    for model, provider, when, batch in keys:
        now = pricing.unit_prices(model, provider, when, batch)
        if (now and (now.input, now.cache_read, now.cache_write, now.output)) != applied.get((model, provider, batch)):
            (stale if now else unknown).append((model, provider, when, batch))
    if stale:
        pricing.create_price_table(con, stale)
        con.execute(
            f"""UPDATE requests r SET cost_usd = {pricing.cost_sql('r', 'p')}, cost_source = 'computed'
                FROM _prices p
                WHERE {needed}
                  AND p.model = r.model AND p.provider = coalesce(r.provider, '') AND p.is_batch = r.is_batch""",
            [source_id],
        ).fetchall()
    for model, provider, _, batch in unknown:  # priced from the first rows, but unknown at the latest time
        con.execute(
            """UPDATE requests SET cost_usd = NULL, cost_source = 'unknown' WHERE source_id = ?
               AND cost_source = 'computed' AND model = ? AND coalesce(provider, '') = ? AND is_batch = ?""",
            [source_id, model, provider, batch],
        ).fetchall()
    return scalar(con, "SELECT count(*) FROM requests WHERE source_id = ? AND cost_source = 'computed'", [source_id])


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    format: str | None = None,
    options: dict | None = None,
) -> IngestResult:
    """Ingest one file into the workspace behind `con`; never raises for bad input (the result's
    `error` says what went wrong), and leaves the database untouched when it fails."""
    path = Path(path)
    result = IngestResult(path=str(path))
    try:
        if format is not None and format not in ADAPTERS:
            raise IngestError(f"unknown format {format!r}; choose one of: {', '.join(ADAPTERS)}")
        sample = read_sample(path)
        # A column mapping means the generic adapter, whatever else the content looks like.
        name = format or ("generic" if (options or {}).get("mapping") else detect_format(sample))
        if name is None and sample.kind == "jsonl" and not sample.records:
            raise IngestError(
                f"{path.name}: not valid JSON ({json_problem(path)}); expected JSON lines (one object "
                "per line) or a JSON document, complete (truncated?)"
            )
        if name is None:
            raise IngestError(
                f"{path.name}: format not recognised from its content ({sample.kind}); pass "
                f"--format with one of: {', '.join(ADAPTERS)}"
            )
        result.format = name
        result.source_id = uuid.uuid4().hex[:16]
        # Hash in a thread while DuckDB loads (hashlib releases the GIL): the file is read twice
        # but not one after the other.
        with ThreadPoolExecutor(1) as pool:
            sha = pool.submit(sha256_of, path)
            _load(con, adapter_for(name), path, sample, sha, options or {}, result)
    except (IngestError, UnreadableFileError) as exc:
        result.error = str(exc)
    except duckdb.Error as exc:
        result.error = f"{path.name}: could not be read as {result.format or 'any format'}: {exc}"
    return result


def _load(con, adapter, path: Path, sample, sha_future, options: dict, result: IngestResult) -> None:
    # Row order in `requests` means nothing (readers order by source_line, ts or hash(request_id)),
    # and keeping it stalls DuckDB's parallel insert on many cores (bench/ingest.py on 16 cores: a
    # bare load takes 1.7 s keeping it, 1.0 s not). For this connection only, and set back after
    # the transaction ends (an aborted transaction refuses SET).
    ctx = LoadContext(con, path, result.source_id, sample, options)
    con.execute("SET SESSION preserve_insertion_order = false").fetchall()
    try:
        try:
            adapter.load(ctx)
            ctx.check_requests()
        except (duckdb.Error, FastPathFailed):
            if not ctx.fast:
                raise
            # Some record was bad on the fast path: start over line by line, rejecting exactly it.
            if ctx.in_transaction:
                con.execute("ROLLBACK")
            ctx = LoadContext(con, path, result.source_id, sample, {**options, "line_by_line": True})
            adapter.load(ctx)
            ctx.check_requests()
        sha = sha_future.result()
        existing = rows(con, "SELECT source_id FROM sources WHERE sha256 = ?", [sha])
        if existing:
            result.source_id, result.duplicate = existing[0][0], True
            raise _Duplicate
        reasons = [
            f"line {line}: {reason}" if line is not None else reason
            for line, reason in rows(
                con, "SELECT line, reason FROM rejects WHERE source_id = ? ORDER BY line LIMIT 5",
                [result.source_id],
            )
        ]
        if ctx.loaded:
            ctx.drop_known_requests()
        # Nothing new is no failure when every good request was there already (an overlapping
        # export, bad lines and all); it is when nothing could be read at all.
        if ctx.loaded == 0 and not ctx.known and not (ctx.skipped and not ctx.rejected):
            detail = f"; first problems: {'; '.join(reasons)}" if reasons else ""
            raise IngestError(f"{path.name}: no request could be read as {result.format}{detail}")
        if not ctx.in_transaction:  # nothing written yet (every record skipped)
            con.execute("BEGIN TRANSACTION")
            ctx.in_transaction = True
        result.cost_computed = price_missing_costs(con, result.source_id)
        result.rows_undated = scalar(con, "SELECT count(*) FROM requests WHERE source_id = ? AND ts IS NULL",
                                     [result.source_id])
        con.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [result.source_id, path.name, str(path.resolve()), result.format, sha,
             path.stat().st_size, ctx.loaded, ctx.rejected, utcnow()],
        ).fetchall()
        con.execute("COMMIT")
    except _Duplicate:
        if ctx.in_transaction:
            con.execute("ROLLBACK")
        return
    except BaseException:
        if ctx.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        ctx.drop_temporaries()
        con.execute("RESET SESSION preserve_insertion_order").fetchall()
    result.rows_loaded, result.rows_rejected, result.reasons = ctx.loaded, ctx.rejected, reasons
    result.rows_skipped, result.skip_reasons, result.rows_known = ctx.skipped, dict(ctx.skips), ctx.known


class _Duplicate(Exception):
    """The file's content was ingested before: undo this load, report a duplicate."""


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: list[str | Path],
    format: str | None = None,
    options: dict | None = None,
    progress: Callable[[IngestResult], None] | None = None,
) -> list[IngestResult]:
    """Ingest several files. OpenAI Batch *input* files among them are not ingested on their own:
    they give the prompts of the Batch *output* files ingested with them (joined on custom_id).
    `progress` is called with each file's result as soon as it is known."""
    options = dict(options or {})
    inputs, others = [], []
    for p in map(Path, paths):
        try:
            is_input = format is None and detect_format(read_sample(p)) == "openai_batch_input"
        except UnreadableFileError:
            is_input = False
        (inputs if is_input else others).append(p)
    if inputs:
        options["batch_inputs"] = [str(p) for p in inputs]
    results = []
    for p in others:
        results.append(ingest_file(con, p, format, options))
        if progress:
            progress(results[-1])
    used = any(r.format == "openai_batch" and r.ok for r in results)
    for p in inputs:
        results.append(
            IngestResult(
                path=str(p),
                format="openai_batch_input",
                error=None if used else (
                    f"{p.name}: an OpenAI Batch input file only holds prompts; ingest it together "
                    "with its output file (breakeven ingest OUTPUT.jsonl INPUT.jsonl)"
                ),
            )
        )
        if progress:
            progress(results[-1])
    return results
