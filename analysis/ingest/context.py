"""What an adapter gets: the connection inside the file's transaction, and SQL building blocks.

Adapters read files only through `records()`/`csv_rows()`/`parquet_rows()`, which put every
readable record in a TEMP table with its line (or row) number and every unreadable one in
`rejects` with the reason, so no adapter has to re-implement error handling.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analysis.economics import prices as pricing
from analysis.errors import UserError
from analysis.ingest import model_ids, nesting
from analysis.ingest.sample import Sample, json_problem
from analysis.quality import tasks
from analysis.redact import redact_sql
from analysis.store.database import sql_literal

RAW_LIMIT = 500  # characters of a rejected record kept in `rejects.raw`
MAX_LINE_BYTES = 64 * 1024 * 1024  # a longer line is rejected as an enormous field (options["max_line_bytes"])
# The fast path's cap (DuckDB's default): its JSON reader holds buffers of about twice the cap per
# thread, so 64 MB cost ~0.4 GB more on 16 threads. A longer line fails the fast path, and the
# line-by-line retry applies MAX_LINE_BYTES.
FAST_PATH_MAX_LINE_BYTES = 16 * 1024 * 1024

FAST_PATH_MARK = "llm-breakeven fast path: a record needs a closer look"
HEAD_ROWS = 1000  # rows whose models are priced before an INSERT (see insert_requests)
INLINE_PRICES = "_inline_prices"  # the unit prices insert_requests applied (pricing.create_price_table)
TS_MAX = "9999-12-31 23:59:59"  # later times read as unreadable (NULL)
DATABASE_SETTINGS_LOCK = threading.Lock()  # see LoadContext._database_setting
COUNTS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
# Why a record is no request: every skip names one of these (skip_reason / skip_reason_sql classify
# a URL, operation or span name).
EMBEDDINGS, MODERATION, TOKEN_COUNTING = "embeddings", "moderation", "token counting"
NOT_LLM, UNSUPPORTED = "not an LLM call", "unsupported provider"
SKIP_PATTERNS = (("embed", EMBEDDINGS), ("moderation", MODERATION), ("count_tokens", TOKEN_COUNTING),
                 ("counttokens", TOKEN_COUNTING), ("tokenize", TOKEN_COUNTING))
SKIP_REASONS = (EMBEDDINGS, MODERATION, TOKEN_COUNTING, NOT_LLM, UNSUPPORTED)


def skip_reason(text: str | None) -> str:
    """The skip reason a URL path, operation or span name says (NOT_LLM when it says none)."""
    lowered = (text or "").lower()
    return next((reason for pattern, reason in SKIP_PATTERNS if pattern in lowered), NOT_LLM)


def skip_reason_sql(text: str) -> str:
    """skip_reason in SQL, over an expression `text`."""
    cases = " ".join(f"WHEN lower({text}) LIKE '%{pattern}%' THEN '{reason}'" for pattern, reason in SKIP_PATTERNS)
    return f"CASE {cases} ELSE '{NOT_LLM}' END"


# A row with some token count: only such rows are priced from tokens (no count is no $0).
COUNTED = "(s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL)"
# A successful call that says nothing: see LoadContext.check_requests.
EMPTY_CALL = ("(r.status = 'ok' AND r.model IS NULL AND r.input_tokens IS NULL AND r.output_tokens IS NULL "
              "AND r.cost_usd IS NULL AND r.provider IS DISTINCT FROM 'labelled')")  # a labelled dataset's rows are no calls
EMPTY_REASON = ("an LLM call with no model, no token counts and no cost (the response body is missing "
                "or of an unknown shape)")


def _sql_type(structure) -> str:
    """A json_transform structure as a DuckDB type: {"a": "BIGINT"} -> STRUCT("a" BIGINT)."""
    if isinstance(structure, str):
        return structure
    if isinstance(structure, list):
        return _sql_type(structure[0]) + "[]"
    return "STRUCT(" + ", ".join(f'"{k}" {_sql_type(v)}' for k, v in structure.items()) + ")"


class IngestError(UserError):
    """A file that cannot be ingested; the message says which file and why."""


class FastPathFailed(Exception):
    """A fast-path load met a record that needs a closer look: core retries line by line."""


MACROS = [
    # Messages ([{role, content}] with content a string or a list of parts) flattened to text; NULL
    # for none (coalesce: a constant NULL argument would leave the lambda's list untyped.)
    """CREATE OR REPLACE TEMP MACRO msg_text(msgs) AS
       CASE WHEN msgs IS NOT NULL THEN nullif(
       array_to_string(list_transform(json_extract(coalesce(msgs::JSON, '[]'::JSON), '$[*]'), lambda m:
           coalesce(m->>'role', '') || ': ' ||
           CASE WHEN json_type(m, '$.content') = 'ARRAY'
                THEN array_to_string(json_extract_string(m, '$.content[*].text'), chr(10))
                ELSE coalesce(m->>'content', '') END), chr(10)), '') END""",
    # Model as logged -> normalised (norm_model, norm_provider): see model_ids.
    *model_ids.MACROS,
    # A timestamp in years 1..9999, else NULL: DuckDB goes further, Python's datetime does not.
    f"""CREATE OR REPLACE TEMP MACRO ts_in_range(t) AS
       CASE WHEN t BETWEEN TIMESTAMP '0001-01-01' AND TIMESTAMP '{TS_MAX}' THEN t END""",
    # Epoch seconds / milliseconds / nanoseconds -> naive UTC timestamp; NULL out of range.
    f"""CREATE OR REPLACE TEMP MACRO ts_from_epoch_s(s) AS
       CASE WHEN s::DOUBLE BETWEEN -62135596800 AND epoch(TIMESTAMP '{TS_MAX}')
            THEN CAST(make_timestamp(CAST(round(s::DOUBLE * 1e6) AS BIGINT)) AS TIMESTAMP) END""",
    f"""CREATE OR REPLACE TEMP MACRO ts_from_epoch_ns(ns) AS
       CASE WHEN ns::HUGEINT BETWEEN -62135596800 * 10::HUGEINT ** 9 AND epoch(TIMESTAMP '{TS_MAX}') * 10::HUGEINT ** 9
            THEN CAST(make_timestamp(CAST(ns::HUGEINT // 1000 AS BIGINT)) AS TIMESTAMP) END""",
    # An ISO-8601 string -> naive UTC timestamp; a string without a zone is taken as UTC already
    # (not as the session's time zone).
    r"""CREATE OR REPLACE TEMP MACRO ts_from_iso(s) AS ts_in_range(
       CASE WHEN regexp_matches(trim(s::VARCHAR), '\d:\d\d(:\d\d([.,]\d+)?)?\s*([Zz]|[+-]\d\d(:?\d\d)?|UTC|GMT)$')
            THEN CAST(timezone('UTC', try_cast(trim(s::VARCHAR) AS TIMESTAMPTZ)) AS TIMESTAMP)
            ELSE try_cast(trim(s::VARCHAR) AS TIMESTAMP) END)""",
    # Units per second of an epoch number, told apart by magnitude: s, ms, us or ns.
    """CREATE OR REPLACE TEMP MACRO epoch_units(n) AS
       CASE WHEN abs(n) < 1e11 THEN 1 WHEN abs(n) < 1e14 THEN 1e3 WHEN abs(n) < 1e17 THEN 1e6 ELSE 1e9 END""",
    # Text holding an epoch number (epoch_units) or ISO-8601; nanoseconds read exactly.
    r"""CREATE OR REPLACE TEMP MACRO ts_from_text(s) AS
       CASE WHEN NOT regexp_full_match(trim(s::VARCHAR), '-?\d+(\.\d+)?([eE][+-]?\d+)?') THEN ts_from_iso(s)
            WHEN epoch_units(try_cast(s AS DOUBLE)) < 1e9
            THEN ts_from_epoch_s(try_cast(s AS DOUBLE) / epoch_units(try_cast(s AS DOUBLE)))
            ELSE ts_from_epoch_ns(try_cast(trim(s::VARCHAR) AS HUGEINT)) END""",
    # Milliseconds between two timestamps.
    """CREATE OR REPLACE TEMP MACRO ms_between(a, b) AS
       (epoch_us(b::TIMESTAMP) - epoch_us(a::TIMESTAMP)) / 1000.0""",
    # JSON that may hold an object or a string holding JSON (LiteLLM stores strings) -> JSON.
    """CREATE OR REPLACE TEMP MACRO json_unwrap(j) AS
       CASE WHEN json_type(j::JSON) = 'VARCHAR' THEN try_cast(j::JSON->>'$' AS JSON) ELSE j::JSON END""",
]


@dataclass
class LoadContext:
    con: duckdb.DuckDBPyConnection
    path: Path
    source_id: str
    sample: Sample
    options: dict = field(default_factory=dict)
    loaded: int = 0
    rejected: int = 0
    skips: dict[str, int] = field(default_factory=dict)  # records that are no requests, per reason (SKIP_REASONS)
    known: int = 0  # requests another file already loaded (overlapping exports): neither loaded nor rejected
    in_transaction: bool = False  # opened by the first write, so reads can fail harmlessly
    fast_guards: dict[str, list[str]] = field(default_factory=dict)  # fast-path views -> guards

    @property
    def skipped(self) -> int:
        """Records that are no requests (e.g. non-LLM spans): neither loaded nor rejected."""
        return sum(self.skips.values())

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skips[reason] = self.skips.get(reason, 0) + count

    @property
    def fast(self) -> bool:
        """True when some records come from a fast-path view (see records())."""
        return bool(self.fast_guards)

    def __post_init__(self) -> None:
        self.drop_temporaries()
        for macro in MACROS:
            self.con.execute(macro)
        pricing.create_price_table(self.con, [], INLINE_PRICES)

    def drop_temporaries(self) -> None:
        """Drop this connection's temporary views and tables (a previous file's or attempt's),
        so names can be reused and large staging tables don't linger in memory."""
        for name, kind in self.con.execute(
            """SELECT view_name, 'VIEW' FROM duckdb_views() WHERE temporary AND NOT internal
               UNION ALL SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE temporary"""
        ).fetchall():
            self.con.execute(f'DROP {kind} IF EXISTS "{name}" CASCADE')

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def max_line_bytes(self) -> int:
        """The longest line (or JSON document) read; longer ones are rejected as enormous."""
        return int(self.options.get("max_line_bytes", MAX_LINE_BYTES))

    @property
    def compression(self) -> str:
        """DuckDB's `compression` argument: from the content (sample), not the file name."""
        return self.sample.compression or "none"

    # -- reading -------------------------------------------------------------------------------
    def records(self, table: str = "_records", structure: str | None = None) -> str:
        """A TEMP table `table(line BIGINT, j JSON)`: one row per JSONL line or JSON-array item
        (or the whole JSON object). Blank lines are skipped; bad lines go to `rejects`.

        With `structure` (a json_transform structure) the table has `line` and the structure's
        top-level fields as columns instead, parsed once; read it as `FROM table AS r` so that
        `r.field.sub` works. JSON lines files then take the fast path (see _strict_view). The
        original text of each record stays in `_lines(line, text)` for rejects."""
        if structure and self.sample.kind == "jsonl" and not self.options.get("line_by_line"):
            self._strict_view(table, structure)
            return table
        parsed = f"json_transform(text, '{structure}')" if structure else "text::JSON"
        column = "r" if structure else "j"
        if self.sample.kind == "json":
            # 'array' said outright: 'auto' reads an array after a byte-order mark as one value.
            shape = "array" if self.sample.text.lstrip().startswith("[") else "auto"
            try:
                self.con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE _lines AS
                        SELECT CAST(n AS BIGINT) AS line, json::VARCHAR AS text
                        FROM read_json_objects(?, format='{shape}', maximum_object_size=?, compression=?)
                             WITH ORDINALITY AS t(json, n)""",
                    [str(self.path), self.max_line_bytes, self.compression],
                )
            except duckdb.InvalidInputException as exc:
                raise IngestError(
                    f"{self.label}: not a valid JSON document ({json_problem(self.path)}); expected a JSON "
                    "object or an array of objects, complete (a truncated or malformed file fails as a whole)"
                ) from exc
        else:
            self._read_lines("_lines")
        self._reject_too_deep("_lines")
        # One parse per line; try() turns invalid JSON into NULL. Objects start with '{'.
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT line, CASE WHEN ltrim(text) LIKE '{{%' THEN try({parsed}) END AS {column}
                FROM _lines WHERE trim(text) <> ''"""
        )
        self.reject(
            f"""SELECT line, CASE WHEN ltrim(text) LIKE '{{%'
                    THEN 'invalid JSON (truncated or malformed line); expected one JSON object per line'
                    ELSE 'expected a JSON object per line, found ' || coalesce(lower(try(json_type(text))), 'invalid JSON')
                    END, text
                FROM _lines SEMI JOIN (SELECT line FROM {table} WHERE {column} IS NULL) USING (line)"""
        )
        self.con.execute(f"DELETE FROM {table} WHERE {column} IS NULL").fetchall()
        if structure:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT line, unnest(r) FROM {table}")
        return table

    def _strict_view(self, table: str, structure: str) -> None:
        """Fast path: a VIEW over DuckDB's JSON reader with the structure as its schema, which
        refuses any bad line, so the file is parsed once, by the INSERT itself. Any bad line or
        any record caught by `reject_where` makes the load fail (a DuckDB error or FastPathFailed);
        core then retries line by line (options["line_by_line"]) to reject exactly the bad records.

        The reader numbers nothing, so `line` (hence `source_line`) is NULL on this path: numbering
        (WITH ORDINALITY, or an order-keeping INSERT) runs the load on one thread, ~1.5x slower.
        A Batch record is found by its custom_id (in `extra`) instead; rejects, which only the
        line-by-line retry makes, always carry their line."""
        fields = json.loads(structure)
        names = ", ".join(f'"{k}"' for k in fields)
        columns = "{" + ", ".join(f"'{k}': '{_sql_type(v)}'" for k, v in fields.items()) + "}"
        self.con.execute(
            f"""CREATE OR REPLACE TEMP VIEW {table}_all AS
                SELECT CAST(NULL AS BIGINT) AS line, {names}
                FROM read_json({sql_literal(self.path)}, format='newline_delimited', columns={columns},
                               maximum_object_size={min(self.max_line_bytes, FAST_PATH_MAX_LINE_BYTES)},
                               compression='{self.compression}')"""
        )
        self.fast_guards[table] = []
        self._guard_view(table)

    def _guard_view(self, table: str) -> None:
        guards = self.fast_guards[table]
        where = " AND ".join(
            f"CASE WHEN {condition} THEN error('{FAST_PATH_MARK}') ELSE true END" for condition in guards
        ) or "true"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {table}_all AS r WHERE {where}")

    def _read_lines(self, table: str) -> None:
        """Lines of the file with their true line numbers; lines the CSV reader refuses (bad
        UTF-8, over MAX_LINE_BYTES) go to rejects and are accounted for in the numbering."""
        self.con.execute("DROP TABLE IF EXISTS _rej_errors")
        self.con.execute("DROP TABLE IF EXISTS _rej_scans")
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT CAST(n AS BIGINT) AS line, text
                FROM read_csv(?, columns={{'text': 'VARCHAR'}}, header=false, delim=chr(0), quote='',
                              escape='', auto_detect=false, store_rejects=true,
                              rejects_table='_rej_errors', rejects_scan='_rej_scans',
                              max_line_size=?, compression=?) WITH ORDINALITY AS t(text, n)""",
            [str(self.path), self.max_line_bytes, self.compression],
        )
        if not self._count("_rej_errors"):
            return
        self.reject(
            """SELECT line, CASE error_type
                    WHEN 'INVALID ENCODING' THEN 'not UTF-8 text; re-export the file as UTF-8'
                    WHEN 'LINE SIZE OVER MAXIMUM' THEN 'line too long (an enormous field): ' || error_message
                    WHEN 'TOO MANY COLUMNS' THEN 'a NUL byte (\\0) in the line; expected text (corrupted or binary data)'
                    ELSE error_message END, csv_line
               FROM _rej_errors"""
        )
        self._renumber(table, 0)

    def _reject_too_deep(self, table: str) -> None:
        """Move the lines of `table(line, text)` nested deeper than nesting.MAX_DEPTH to rejects,
        before anything parses them (see analysis.ingest.nesting). Only lines with more opening
        brackets than that are measured, a batch at a time."""
        found = self.con.execute(
            f"SELECT line, text FROM {table} WHERE {nesting.openings_sql('text')} > {nesting.MAX_DEPTH}")
        deep = []
        while batch := found.fetchmany(256):
            deep += [(line, nesting.too_deep_reason(levels)) for line, text in batch
                     if (levels := nesting.depth(text)) > nesting.MAX_DEPTH]
        if not deep:
            return
        self.con.execute("CREATE OR REPLACE TEMP TABLE _too_deep (line BIGINT, reason VARCHAR)")
        self.con.executemany("INSERT INTO _too_deep VALUES (?, ?)", deep)
        self.reject(f"SELECT d.line, d.reason, l.text FROM _too_deep AS d JOIN {table} AS l USING (line)")
        self.con.execute(f"DELETE FROM {table} WHERE line IN (SELECT line FROM _too_deep)").fetchall()

    def _renumber(self, table: str, first: int) -> None:
        """Give `table`'s rows (numbered `first` + 1, `first` + 2, ... by a reader that counts only
        the rows it kept) their true numbers: good row n comes after every refused line i (1-based
        rank) with line_i - i - first < n."""
        self.con.execute(
            f"""UPDATE {table} SET line = line + (
                    SELECT count(*) FROM (SELECT line - row_number() OVER (ORDER BY line) - {first} AS before
                                          FROM (SELECT DISTINCT line FROM _rej_errors)) AS bad
                    WHERE bad.before < {table}.line - {first})"""
        ).fetchall()

    def csv_rows(self, table: str = "_rows", all_varchar: bool = True) -> str:
        """A TEMP table of the CSV's rows (header names as columns) plus `line` (the row's number
        counting the header as 1); bad rows go to rejects."""
        self.con.execute("DROP TABLE IF EXISTS _rej_errors")
        self.con.execute("DROP TABLE IF EXISTS _rej_scans")
        # No alias on WITH ORDINALITY: DuckDB 2.0 refuses `AS t` + `t.*` (ambiguous reference).
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT CAST(ordinality AS BIGINT) + 1 AS line, * EXCLUDE (ordinality)
                FROM read_csv(?, header=true, all_varchar=?, store_rejects=true,
                              rejects_table='_rej_errors', rejects_scan='_rej_scans',
                              max_line_size=?, compression=?) WITH ORDINALITY""",
            [str(self.path), all_varchar, self.max_line_bytes, self.compression],
        )
        # One reject per row (DuckDB reports each missing column); rows of blanks are no records.
        self.reject(
            r"""SELECT line, arg_min(CASE WHEN error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS')
                    THEN 'expected ' || regexp_extract(error_message, 'Columns: (\d+)', 1) || ' columns as in the header, found '
                         || regexp_extract(error_message, 'Found: (\d+)', 1)
                    WHEN error_type = 'INVALID ENCODING' THEN 'not UTF-8 text; re-export the file as UTF-8'
                    ELSE lower(error_type) || ': ' || error_message END, column_idx), first(csv_line)
               FROM _rej_errors WHERE trim(csv_line, chr(32) || chr(9) || chr(13) || chr(10)) <> '' GROUP BY line"""
        )
        if self._count("_rej_errors"):
            self._renumber(table, 1)
        return table

    def parquet_rows(self, table: str = "_rows") -> str:
        """A TEMP table of the Parquet file's rows plus `line` (1-based row number)."""
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT file_row_number + 1 AS line, * EXCLUDE (file_row_number)
                FROM read_parquet(?, file_row_number=true)""",
            [str(self.path)],
        )
        return table

    def json_rows(self, table: str = "_records") -> str:
        """Any tabular or JSON input as a TEMP table `table(line BIGINT, j JSON)`: JSON lines and
        documents through records(), CSV and Parquet rows as JSON objects (CSV values are text;
        read numbers with a cast, nested JSON held in text with json_unwrap). `_lines(line, text)`
        holds each record's text, so reject_where can quote it."""
        if self.sample.kind in ("json", "jsonl"):
            return self.records(table)
        rows = self.csv_rows("_tab_rows") if self.sample.kind == "csv" else self.parquet_rows("_tab_rows")
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT line, to_json(r) AS j FROM (SELECT * EXCLUDE (line), line FROM {rows}) AS r"""
        )
        self.con.execute(f"UPDATE {table} SET j = json_merge_patch(j, '{{\"line\": null}}')").fetchall()
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _lines AS SELECT line, j::VARCHAR AS text FROM {table}")
        self.con.execute(f"DROP TABLE {rows}")
        return table

    def keys(self) -> list[str]:
        """The field names the sample shows (CSV/Parquet columns, or the first records' keys)."""
        if self.sample.columns:
            return list(self.sample.columns)
        return list(dict.fromkeys(k for record in self.sample.records for k in record))

    # -- writing -------------------------------------------------------------------------------
    def _write(self, sql: str, params: list) -> int:
        """Run an INSERT into the workspace's tables, opening the file's transaction first."""
        if not self.in_transaction:
            self.con.execute("BEGIN TRANSACTION")
            self.in_transaction = True
        return self.con.execute(sql, params).fetchall()[0][0]

    def insert_requests(self, select_sql: str, params: list | None = None) -> int:
        """Insert the rows of `select_sql` (canonical `requests` column names; `source_id` is added,
        absent columns get their defaults) and return how many.

        Rows are finished on the way in, so that no UPDATE has to rewrite a large file's rows:
        `provider` by model_ids' norm_provider, `task_type` and `complexity` by tasks.typed_select (a task type the log gave kept first),
        a placeholder cost (0 with no token count) made unknown, and a missing cost from tokens with
        the unit prices of INLINE_PRICES, which holds each model
        of the first HEAD_ROWS rows priced at its latest time there. core.price_missing_costs then
        re-prices only the models whose price at their latest time in the whole file differs."""
        params = [self.source_id, *(params or [])]
        select_sql = f"SELECT ?::VARCHAR AS source_id, * FROM ({select_sql})"
        given = [d[0] for d in self.con.execute(f"SELECT * FROM ({select_sql}) LIMIT 0", params).description]
        self.con.fetchall()
        schema = self.con.execute(
            """SELECT column_name, data_type, column_default FROM duckdb_columns()
               WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'requests'
               ORDER BY column_index"""
        ).fetchall()
        filled = "".join(
            f', CAST({default or "NULL"} AS {kind}) AS "{name}"' for name, kind, default in schema if name not in given
        )
        # The provider a cloud model id names wins; gateway aliases read as the provider (model_ids).
        rows_sql = f"""SELECT * REPLACE (norm_provider(provider, model_logged) AS provider)
                       FROM (SELECT *{filled} FROM ({select_sql}))"""
        # On the fast path, one thread: each thread of a JSON scan parses a whole buffer (~32 MB)
        # before LIMIT stops it. Only outside a transaction, where a failure cannot abort it and
        # leave the setting unrestorable (the line-by-line path reads small TEMP tables anyway).
        single = self._database_setting("threads", 1) if self.fast and not self.in_transaction else nullcontext()
        with single:
            head = self.con.execute(
                f"""SELECT model, coalesce(provider, ''), max(ts), is_batch FROM (SELECT * FROM ({rows_sql}) LIMIT {HEAD_ROWS})
                    WHERE cost_usd IS NULL AND model IS NOT NULL AND status = 'ok' GROUP BY ALL""",
                params,
            ).fetchall()
        known = set(self.con.execute(f"SELECT model, provider, is_batch FROM {INLINE_PRICES}").fetchall())
        pricing.add_prices(self.con, [(m, p, t, b) for m, p, t, b in head if (m, p, b) not in known], INLINE_PRICES)
        # A logged cost of 0 without any token count is a placeholder (Langfuse's totalCost: 0 on a call
        # with null usage): unknown, not a logged $0.
        placeholder = "(s.cost_usd = 0 AND s.input_tokens IS NULL AND s.output_tokens IS NULL)"
        priced = f"""(SELECT s.* REPLACE (
                         CASE WHEN {placeholder} THEN NULL ELSE
                         coalesce(s.cost_usd, CASE WHEN s.status = 'ok' AND {COUNTED} THEN {pricing.cost_sql('s', 'p')} END)
                         END AS cost_usd,
                         CASE WHEN {placeholder} THEN 'unknown'
                              WHEN s.cost_usd IS NULL AND s.status = 'ok' AND {COUNTED} AND p.model IS NOT NULL THEN 'computed'
                              ELSE s.cost_source END AS cost_source)
                      FROM ({rows_sql}) AS s LEFT JOIN {INLINE_PRICES} AS p
                        ON p.model = s.model AND p.provider = coalesce(s.provider, '') AND p.is_batch = s.is_batch)"""
        typed = tasks.typed_select(
            tasks.stored_rules(self.con), priced,
            [name for name, _, _ in schema if name not in ("task_type", "complexity")], keep_logged=True,
        )
        added = self._write(f"INSERT INTO requests BY NAME {typed}", params)  # row order: see core._load
        self.loaded += added
        return added

    def reject(self, select_sql: str, params: list | None = None) -> int:
        """Record rejected records; `select_sql` yields (line, reason, raw). The raw text is kept
        without API keys (analysis.redact) and cut to RAW_LIMIT characters."""
        added = self._write(
            f"""INSERT INTO rejects (source_id, line, reason, raw)
                SELECT ?, r.line, r.reason, left({redact_sql('r.raw::VARCHAR')}, {RAW_LIMIT})
                FROM ({select_sql}) AS r(line, reason, raw)""",
            [self.source_id, *(params or [])],
        )
        self.rejected += added
        return added

    def reject_where(self, table: str, condition: str, reason: str) -> int:
        """Move the records of `table` matching `condition` to rejects with `reason` (a SQL
        string literal or expression; both see the record as `r`), quoting their original text
        from `_lines`. On the fast path a matching record aborts the load instead (it is then
        retried line by line)."""
        if table in self.fast_guards:
            self.fast_guards[table].append(condition)
            self._guard_view(table)
            return 0
        if not self._count(f"{table} AS r", condition):
            return 0
        added = self.reject(
            f"SELECT r.line, {reason}, l.text FROM {table} AS r JOIN _lines AS l ON l.line = r.line "
            f"WHERE {condition}"
        )
        self.con.execute(f"DELETE FROM {table} AS r WHERE {condition}").fetchall()
        return added

    def skip_where(self, table: str, condition: str, reason: str = "'" + NOT_LLM + "'") -> int:
        """Drop the records of `table` (seen as `r`) matching `condition` that are not requests
        (say, non-LLM spans): counted per `reason` (a SQL expression over `r`, one of
        SKIP_REASONS), neither loaded nor rejected."""
        counts = self.con.execute(f"SELECT {reason}, count(*) FROM {table} AS r WHERE {condition} GROUP BY ALL").fetchall()
        if counts:
            self.con.execute(f"DELETE FROM {table} AS r WHERE {condition}")
            for why, count in counts:
                self.skip(why or NOT_LLM, count)
        return sum(count for _, count in counts)

    def check_requests(self) -> int:
        """Move this file's loaded rows that no log can mean to rejects, quoting their line: a
        request_id seen earlier in the file (the first is kept), a negative token count or cost, a
        time in the future, a successful call with no model, no token count and no cost (its body
        is missing or of a shape the reader does not know: never stored as an empty success). On the fast path any such row raises FastPathFailed instead (the retry
        has the lines' text to quote). Returns how many rows were moved."""
        negative = " ".join(f"WHEN r.{c} < 0 THEN '{c} ' || r.{c} || ' is negative (expected a token count of 0 or more)'"
                            for c in COUNTS)
        future = "r.ts > timezone('UTC', now()) + INTERVAL 1 DAY"
        duplicates, odd = self.con.execute(  # one cheap pass first: most files have none
            f"""SELECT count(*) - count(DISTINCT r.request_id),
                       count(*) FILTER (least({', '.join(f'r.{c}' for c in COUNTS)}, r.cost_usd) < 0 OR {future}
                                        OR {EMPTY_CALL})
                FROM requests AS r WHERE r.source_id = ?""",
            [self.source_id],
        ).fetchall()[0]
        if not duplicates and not odd:
            return 0
        if self.fast:
            raise FastPathFailed
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _bad_rows AS
                SELECT rid, source_line, reason FROM (
                    SELECT r.rowid AS rid, r.source_line,
                           CASE WHEN row_number() OVER same_id > 1
                                THEN 'duplicate request_id ' || r.request_id || ' (first at line '
                                     || coalesce(CAST(first_value(r.source_line) OVER same_id AS VARCHAR), '?') || ')'
                                {negative}
                                WHEN r.cost_usd < 0 THEN 'cost_usd ' || r.cost_usd || ' is negative (expected USD of 0 or more)'
                                WHEN {future} THEN 'time ' || r.ts || ' is in the future (expected when the request was made)'
                                WHEN {EMPTY_CALL} THEN '{EMPTY_REASON}' END AS reason
                    FROM requests AS r WHERE r.source_id = ?
                    WINDOW same_id AS (PARTITION BY r.request_id ORDER BY r.source_line, r.rowid))
                WHERE reason IS NOT NULL""",
            [self.source_id],
        ).fetchall()
        lines = self._count("duckdb_tables()", "temporary AND table_name = '_lines'")
        raw = "(SELECT l.text FROM _lines AS l WHERE l.line = b.source_line LIMIT 1)" if lines else "NULL"
        bad = self.reject(f"SELECT b.source_line, b.reason, {raw} FROM _bad_rows AS b ORDER BY b.source_line")
        self.con.execute("DELETE FROM requests WHERE rowid IN (SELECT rid FROM _bad_rows)").fetchall()
        self.loaded -= bad
        return bad

    def drop_known_requests(self) -> int:
        """Drop this file's rows whose request_id another file already loaded, so overlapping
        exports (say, two date ranges that share a day) count each request once; counted in
        `known`. The earlier file's row is kept as it was."""
        dropped = self.con.execute(
            """DELETE FROM requests WHERE source_id = $s
                 AND request_id IN (SELECT request_id FROM requests WHERE source_id <> $s)""",
            {"s": self.source_id},
        ).fetchall()[0][0]
        self.loaded -= dropped
        self.known += dropped
        return dropped

    @contextmanager
    def _database_setting(self, name: str, value) -> Iterator[None]:
        """A setting DuckDB keeps for the whole database (`threads`) at `value` for the statements
        inside, then as before; under a process-wide lock, so that two ingests at once (two
        dashboard sessions) cannot leave each other's value behind."""
        with DATABASE_SETTINGS_LOCK:
            kept = self.con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0]
            self.con.execute(f"SET {name} = {value}").fetchall()
            try:
                yield
            finally:
                self.con.execute(f"SET {name} = {kept}").fetchall()

    def _count(self, table: str, where: str = "true", params: list | None = None) -> int:
        return self.con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params or []).fetchall()[0][0]
