"""One DuckDB file per workspace, opened through `open_db`, which applies the migrations.

Migrations are named functions `mNNN_...` applied in order and recorded in `_migrations`.
A database that records a migration this code does not know was written by a newer version:
opening it fails loudly instead of touching (or dropping) anything.

DuckDB 2.x note: `con.execute()` leaves a streaming result open until it is fully fetched, so
reads here go through `rows`/`scalar`/`frame`, which always drain their result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from analysis.errors import UserError
from analysis.settings import Settings, get_settings


class SchemaTooNewError(UserError):
    """The database was migrated by a newer llm-breakeven than this one."""


class SchemaOutdatedError(UserError):
    """A read-only open of a database that lacks this version's latest migrations."""


def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE sources (
            source_id      VARCHAR PRIMARY KEY,   -- random 16 hex digits
            file_name      VARCHAR NOT NULL,
            path           VARCHAR,
            format         VARCHAR NOT NULL,
            sha256         VARCHAR NOT NULL UNIQUE,
            size_bytes     BIGINT,
            rows_loaded    BIGINT NOT NULL,
            rows_rejected  BIGINT NOT NULL,
            ingested_at    TIMESTAMP NOT NULL     -- UTC
        )
        """
    )
    con.execute(
        """
        CREATE TABLE requests (
            request_id          VARCHAR NOT NULL,
            source_id           VARCHAR NOT NULL,
            source_line         BIGINT,            -- line (JSONL) or row (CSV/Parquet) number, 1-based; NULL from the Batch fast path
            ts                  TIMESTAMP,         -- UTC
            provider            VARCHAR,
            model_logged        VARCHAR,
            model               VARCHAR,           -- normalised: lower case, no provider prefix
            operation           VARCHAR,           -- chat | completion | responses | messages | embedding
            input_messages      JSON,              -- [{role, content}] as sent
            input_text          VARCHAR,           -- the messages flattened to text
            output_text         VARCHAR,
            request_params      JSON,              -- temperature, max_tokens, response_format, tools...
            input_tokens        BIGINT,            -- ALL prompt tokens, cache reads and writes included
            cached_input_tokens BIGINT,            -- of which read from the prompt cache
            cache_write_tokens  BIGINT,            -- of which written to the prompt cache
            output_tokens       BIGINT,            -- reasoning tokens included
            reasoning_tokens    BIGINT,
            latency_ms          DOUBLE,
            ttft_ms             DOUBLE,
            status              VARCHAR NOT NULL,  -- ok | error | canceled | expired
            error               VARCHAR,
            is_batch            BOOLEAN NOT NULL DEFAULT false,
            cost_usd            DOUBLE,
            cost_source         VARCHAR NOT NULL DEFAULT 'unknown',  -- logged | computed | unknown
            label               VARCHAR,           -- ground truth, when known
            task_type           VARCHAR,
            complexity          DOUBLE,
            user_id             VARCHAR,
            team                VARCHAR,
            tags                VARCHAR[],
            extra               JSON               -- the original record's other fields
        )
        """
    )
    con.execute(
        """
        CREATE TABLE rejects (
            source_id  VARCHAR NOT NULL,
            line       BIGINT,
            reason     VARCHAR NOT NULL,
            raw        VARCHAR                     -- cut to 500 characters
        )
        """
    )


def m002_replay(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE runs (
            run_id       VARCHAR PRIMARY KEY,
            created_at   TIMESTAMP NOT NULL,
            sample_spec  JSON NOT NULL,    -- size, strategy, stratify_by, seed, filters
            candidates   JSON NOT NULL,    -- candidate specs (provider, base_url, model): never keys
            adapter      JSON NOT NULL,    -- prompt adapter, stored so results can be reproduced
            params       JSON NOT NULL,    -- temperature, max_tokens, concurrency, timeout_s
            budget_usd   DOUBLE,
            estimate_usd DOUBLE,
            status       VARCHAR NOT NULL, -- created | running | done | failed | stopped_budget | interrupted
            updated_at   TIMESTAMP NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE run_requests (      -- the sample, frozen when the run is created
            run_id     VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            position   INTEGER NOT NULL,
            PRIMARY KEY (run_id, request_id)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE results (
            run_id         VARCHAR NOT NULL,
            candidate      VARCHAR NOT NULL,  -- the candidate's spec string
            request_id     VARCHAR NOT NULL,
            output_text    VARCHAR,
            input_tokens   BIGINT,
            output_tokens  BIGINT,
            usage_reported BOOLEAN,
            latency_ms     DOUBLE,
            ttft_ms        DOUBLE,
            tokens_per_s   DOUBLE,
            cost_usd       DOUBLE NOT NULL DEFAULT 0,
            status         VARCHAR NOT NULL,  -- ok | failed
            error          VARCHAR,
            attempts       INTEGER NOT NULL,
            finished_at    TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, candidate, request_id)
        )
        """
    )


def m003_scores_and_scenarios(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE scores (
            run_id     VARCHAR NOT NULL,
            candidate  VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            scorer     VARCHAR NOT NULL,
            reference  VARCHAR NOT NULL,   -- ground_truth | incumbent | model:<candidate spec>
            score      DOUBLE NOT NULL,    -- in [0, 1]
            passed     BOOLEAN NOT NULL,
            reason     VARCHAR,            -- why it failed, when it did
            scored_at  TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, candidate, request_id, scorer)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE scenarios (
            scenario_id VARCHAR PRIMARY KEY,  -- short id used in share links (?scenario=ID)
            name        VARCHAR,
            body        JSON NOT NULL,        -- Scenario.to_json(): assumptions only, never keys or prompts
            created_at  TIMESTAMP NOT NULL
        )
        """
    )


def m004_task_rules(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE task_rules (        -- the user's task-type rules (analysis.quality.tasks.apply_rules)
            position    INTEGER PRIMARY KEY,  -- tried in this order, first match wins
            pattern     VARCHAR NOT NULL,     -- RE2 regular expression, searched anywhere
            field       VARCHAR NOT NULL,     -- input_text | model | tag
            task_type   VARCHAR NOT NULL,
            complexity  DOUBLE,               -- overrides the computed score when set
            created_at  TIMESTAMP NOT NULL
        )
        """
    )


def m005_probe_results(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE probe_results (     -- one row per concurrency level of a capacity probe (analysis.replay.probe)
            probe_id            VARCHAR NOT NULL,
            measured_at         TIMESTAMP NOT NULL,  -- UTC, when the level finished
            model               VARCHAR NOT NULL,    -- the candidate spec's model
            candidate           VARCHAR NOT NULL,    -- the candidate's spec string: never a key
            concurrency         INTEGER NOT NULL,
            requests            INTEGER NOT NULL,    -- sent, errors included
            errors              INTEGER NOT NULL,
            duration_s          DOUBLE NOT NULL,     -- wall time of the level
            capacity_rps        DOUBLE NOT NULL,     -- completed requests / duration_s
            output_tokens_per_s DOUBLE NOT NULL,
            p50_ms              DOUBLE,              -- latency quantiles; NULL when nothing completed
            p95_ms              DOUBLE,
            within_target       BOOLEAN NOT NULL,    -- no errors and p95_ms <= p95_target_ms
            p95_target_ms       DOUBLE NOT NULL,
            max_tokens          INTEGER NOT NULL,
            PRIMARY KEY (probe_id, concurrency)
        )
        """
    )


def m006_run_errors(con: duckdb.DuckDBPyConnection) -> None:
    # Why each given-up candidate stopped ({spec: reason}), so a reloaded page still says it.
    con.execute("ALTER TABLE runs ADD COLUMN errors JSON")


def m007_traffic_view(con: duckdb.DuckDBPyConnection) -> None:
    # The logged traffic that volumes, bills and routing are computed from: every request but the
    # rows of labelled datasets (analysis.ingest.labelled_datasets), which are test sets to replay, not traffic.
    con.execute("CREATE VIEW traffic AS SELECT * FROM requests WHERE provider IS DISTINCT FROM 'labelled'")


def m008_probe_hardware(con: duckdb.DuckDBPyConnection) -> None:
    # What the probed endpoint ran on: a catalogue GPU name, or a description such as 'this
    # computer (2 CPU cores)'. A measurement is the capacity of that hardware only (never another
    # GPU's); rows probed before this column read NULL (unknown hardware).
    con.execute("ALTER TABLE probe_results ADD COLUMN hardware VARCHAR")


def m009_run_owner(con: duckdb.DuckDBPyConnection) -> None:
    # The process executing a run (pid, host name, and the pid's start time as /proc/PID/stat gives
    # it, so a later process with the same pid is not taken for it): a 'running' run whose owner is
    # gone from this host was killed (replay.runs.owner_gone) and reads 'interrupted'.
    con.execute("ALTER TABLE runs ADD COLUMN owner_pid INTEGER")
    con.execute("ALTER TABLE runs ADD COLUMN owner_host VARCHAR")
    con.execute("ALTER TABLE runs ADD COLUMN owner_started VARCHAR")


def m010_training_split(con: duckdb.DuckDBPyConnection) -> None:
    # The held-out test split of fine-tuning (replay.tuning): a request assigned to it is never
    # exported for training, and base and tuned candidates are compared on it alone. Assigned once
    # per request and kept, so the split is stable across exports and runs.
    con.execute("""
        CREATE TABLE held_out_requests (
            request_id VARCHAR PRIMARY KEY,
            assigned_at TIMESTAMP NOT NULL
        )""")
    # Each training-set export: where its files went and its manifest (counts, split, filters,
    # leakage and PII reports, file hashes).
    con.execute("""
        CREATE TABLE training_exports (
            export_id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,
            directory VARCHAR NOT NULL,
            manifest JSON NOT NULL
        )""")


def m011_fine_tune_jobs(con: duckdb.DuckDBPyConnection) -> None:
    # A fine-tuning job (replay.tuning): the base candidate, the export it trained on, its budget
    # and settings, progress, the measured training time and tokens, and the tuned candidate it
    # produced. The owner columns detect a killed job as in m009.
    con.execute("""
        CREATE TABLE fine_tune_jobs (
            job_id VARCHAR PRIMARY KEY,
            base_model VARCHAR NOT NULL,
            export_id VARCHAR,
            status VARCHAR NOT NULL,
            settings JSON NOT NULL,
            progress DOUBLE,
            message VARCHAR,
            training_tokens BIGINT,
            epochs_done DOUBLE,
            train_seconds DOUBLE,
            output_path VARCHAR,
            candidate VARCHAR,
            error VARCHAR,
            owner_pid INTEGER,
            owner_host VARCHAR,
            owner_started VARCHAR,
            created_at TIMESTAMP NOT NULL,
            started_at TIMESTAMP,
            ended_at TIMESTAMP
        )""")


MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    m001_initial,
    m002_replay,
    m003_scores_and_scenarios,
    m004_task_rules,
    m005_probe_results,
    m006_run_errors,
    m007_traffic_view,
    m008_probe_hardware,
    m009_run_owner,
    m010_training_split,
    m011_fine_tune_jobs,
]


def applied_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the migrations recorded in this database, in order."""
    return [r[0] for r in rows(con, "SELECT name FROM _migrations ORDER BY id")]


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction; return their names.

    Raises SchemaTooNewError when the database records migrations unknown to this code."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS _migrations "
        "(id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    known = [m.__name__ for m in MIGRATIONS]
    done = applied_migrations(con)
    unknown = [name for name in done if name not in known]
    if unknown or done != known[: len(done)]:
        raise SchemaTooNewError(
            f"this workspace was written by a newer llm-breakeven (migrations {unknown or done} "
            f"are not all known to this version, which knows {known}); upgrade llm-breakeven "
            "instead of opening it with this one"
        )
    applied = []
    for number, migration in enumerate(MIGRATIONS[len(done) :], start=len(done) + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            migration(con)
            con.execute(
                "INSERT INTO _migrations VALUES (?, ?, ?)",
                [number, migration.__name__, utcnow()],
            ).fetchall()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.__name__)
    return applied


def workspace_file(workspace: str | Path | None = None, settings: Settings | None = None) -> Path:
    """The DuckDB file of `workspace`: a workspace name (resolved under the data directory), a
    path to a `.duckdb` file, or None for the configured default workspace."""
    if isinstance(workspace, Path) or (workspace and str(workspace).endswith(".duckdb")):
        return Path(workspace)
    return (settings or get_settings()).workspace_path(workspace)


def open_db(
    workspace: str | Path | None = None,
    *,
    settings: Settings | None = None,
    read_only: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) a workspace's DuckDB file and bring its schema up to date.

    `workspace` as in `workspace_file`. Several processes sharing a workspace open it through
    `analysis.store.access` (`reading` / `writing`), which calls this per operation."""
    path = workspace_file(workspace, settings)
    if read_only:
        con = duckdb.connect(str(path), read_only=True)
        known = [m.__name__ for m in MIGRATIONS]
        try:
            done = applied_migrations(con)
        except duckdb.CatalogException:  # created but never migrated
            done = []
        if done != known:
            con.close()
            if done == known[: len(done)]:
                raise SchemaOutdatedError(f"{path} has schema {done}, this version expects {known}: "
                                          "open it writable once to migrate")
            raise SchemaTooNewError(
                f"{path} has schema {done}, this version expects {known}: upgrade llm-breakeven"
            )
        return con
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
    return con


def sql_literal(text: str) -> str:
    """`text` as a SQL string literal, for SQL built as text (views and DDL take no parameters)."""
    return "'" + str(text).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (a column name taken from a user's file)."""
    return '"' + name.replace('"', '""') + '"'


def utcnow() -> datetime:
    """Now, in UTC, as a naive timestamp (the store's convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | dict | None = None) -> list[tuple]:
    """All rows of a query (drains the result, so the connection is free afterwards)."""
    return con.execute(sql, params or []).fetchall()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | dict | None = None) -> Any:
    """The first column of the first row, or None when there is no row."""
    result = rows(con, sql, params)
    return result[0][0] if result else None


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | dict | None = None) -> pl.DataFrame:
    """A query's result as a polars DataFrame."""
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


def data_version(con: duckdb.DuckDBPyConnection) -> str:
    """A string that changes whenever the workspace's data changes (keys dashboard caches): new
    sources, runs, results, scores (re-scoring included), labels, probes, task rules, the held-out
    split, training exports or fine-tuning jobs (their progress included)."""
    return "|".join(
        str(value)
        for value in rows(
            con,
            """SELECT (SELECT max(ingested_at) FROM sources), (SELECT count(*) FROM requests),
                      (SELECT count(*) FROM _migrations), (SELECT max(updated_at) FROM runs),
                      (SELECT count(*) FROM results), (SELECT count(*) FROM scores), (SELECT max(scored_at) FROM scores),
                      (SELECT count(label) FROM requests), (SELECT count(*) FROM probe_results),
                      (SELECT sum(hash(position, pattern, field, task_type, complexity)) FROM task_rules),
                      (SELECT count(*) FROM held_out_requests), (SELECT count(*) FROM training_exports),
                      (SELECT sum(hash(job_id, status, progress, candidate)) FROM fine_tune_jobs)""",
        )[0]
    )
