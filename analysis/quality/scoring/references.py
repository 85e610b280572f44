"""What an answer is compared with, per (run, request), and uploaded ground truth.

Reference rule, first that applies (the `reference` value stored with every score):
1. `ground_truth`: the request's `label` (from the log, a labelled import or `attach_labels`);
2. `incumbent`: the incumbent API's logged answer (`requests.output_text` of an ok request), so
   the number is an agreement rate, not an accuracy;
3. `model:<spec>`: the answer of a chosen reference candidate replayed in the same run (ok results
   only), when one is named.
Otherwise the request has no reference and its answers are not scored. Empty or blank texts
count as absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from analysis.errors import NotFound, UserError
from analysis.store.database import frame, rows, scalar

GROUND_TRUTH, INCUMBENT, MODEL_PREFIX = "ground_truth", "incumbent", "model:"

# The run's requests, one row per request id even if two sources logged the same id.
RUN_REQUESTS_SQL = """
    SELECT r.* FROM requests r
    WHERE r.request_id IN (SELECT request_id FROM run_requests WHERE run_id = $run_id)
    QUALIFY row_number() OVER (PARTITION BY r.request_id ORDER BY r.ts NULLS LAST, r.source_id) = 1"""

# Columns: request_id, ground_truth, incumbent_answer, reference, reference_text.
REFERENCES_SQL = f"""
    WITH req AS ({RUN_REQUESTS_SQL}),
    base AS (
        SELECT req.request_id, nullif(trim(req.label), '') AS ground_truth,
               CASE WHEN req.status = 'ok' THEN nullif(trim(req.output_text), '') END AS incumbent_answer,
               nullif(trim(m.output_text), '') AS model_answer
        FROM req LEFT JOIN results m
          ON m.run_id = $run_id AND m.request_id = req.request_id AND m.candidate = $reference_candidate::VARCHAR
         AND m.status = 'ok')
    SELECT request_id, ground_truth, incumbent_answer,
           CASE WHEN ground_truth IS NOT NULL THEN '{GROUND_TRUTH}'
                WHEN incumbent_answer IS NOT NULL THEN '{INCUMBENT}'
                WHEN model_answer IS NOT NULL THEN '{MODEL_PREFIX}' || $reference_candidate::VARCHAR END AS reference,
           coalesce(ground_truth, incumbent_answer, model_answer) AS reference_text
    FROM base"""


def resolve_reference_candidate(con: duckdb.DuckDBPyConnection, run_id: str, spec: str | None) -> str | None:
    """The run's candidate spec that `spec` names (as given, or in its canonical form from
    `parse_candidate_spec`); UserError listing the run's candidates when it names none."""
    if spec is None:
        return None
    specs = [r[0] for r in rows(con, "SELECT DISTINCT candidate FROM results WHERE run_id = ? ORDER BY 1", [run_id])]
    if spec in specs:
        return spec
    from analysis.replay.providers.registry import parse_candidate_spec

    try:
        canonical = parse_candidate_spec(spec).spec
    except UserError:
        canonical = None
    if canonical in specs:
        return canonical
    raise UserError(f"reference candidate {spec!r} has no results in run {run_id}; "
                    f"its candidates are: {', '.join(specs) or '(none yet)'}")


def run_references(
    con: duckdb.DuckDBPyConnection, run_id: str, reference_candidate: str | None = None
) -> pl.DataFrame:
    """Per request of the run: request_id, ground_truth, incumbent_answer, reference (kind, see
    the module rule; null when there is none) and reference_text."""
    if scalar(con, "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]) == 0:
        raise NotFound(f"no run {run_id!r}")
    candidate = resolve_reference_candidate(con, run_id, reference_candidate)
    return frame(con, REFERENCES_SQL + " ORDER BY request_id",
                 {"run_id": run_id, "reference_candidate": candidate})


def reference_counts(con: duckdb.DuckDBPyConnection, run_id: str, reference_candidate: str | None = None) -> dict[str, int]:
    """How many of the run's requests use each reference kind ('none' for no reference)."""
    candidate = resolve_reference_candidate(con, run_id, reference_candidate)
    found = rows(con, f"SELECT coalesce(reference, 'none'), count(*) FROM ({REFERENCES_SQL}) GROUP BY 1 ORDER BY 1",
                 {"run_id": run_id, "reference_candidate": candidate})
    return dict(found)


def _reader(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "(SELECT * FROM read_csv($path, all_varchar = true))"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "(SELECT json AS j FROM read_json_objects($path, format = 'auto'))"
    raise UserError(f"{path.name}: a label file must be CSV, JSON or JSON lines (.csv, .json, .jsonl)")


def _column(path: Path, name: str) -> str:
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        return "(j->>'$.\"" + name.replace("'", "''").replace('"', '\\"') + "\"')"
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class LabelsAttached:
    """What attach_labels did: request rows labelled, and the file's labelled ids that match no
    request (how many, and up to 3 of them)."""
    updated: int
    unmatched: int
    unmatched_examples: list[str]


def attach_labels(con: duckdb.DuckDBPyConnection, path: str | Path, id_col: str, label_col: str) -> LabelsAttached:
    """Set `requests.label` (ground truth) from a CSV / JSON / JSON lines file joined on request id:
    each file row's `id_col` is matched with `requests.request_id` (exact, after trimming) and its
    `label_col` (trimmed; blank skipped) becomes the label. Raises UserError when a column is
    missing, an id has two different labels, or no id of the file matches a request (the message
    shows ids from both sides)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"no label file {path}")
    source = _reader(path)
    try:
        columns = [r[0] for r in rows(con, f"DESCRIBE SELECT * FROM {source}", {"path": str(path)})]
    except duckdb.Error as exc:
        raise UserError(f"{path.name}: cannot read it: {exc}") from None
    if columns != ["j"]:
        missing = [c for c in (id_col, label_col) if c not in columns]
        if missing:
            raise UserError(f"{path.name}: no column {', '.join(map(repr, missing))}; it has: {', '.join(columns)}")
    labels_sql = f"""SELECT trim(CAST({_column(path, id_col)} AS VARCHAR)) AS request_id,
                            nullif(trim(CAST({_column(path, label_col)} AS VARCHAR)), '') AS label
                     FROM {source}"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _label_file AS {labels_sql}", {"path": str(path)})
    try:
        counts = rows(con, """SELECT count(*) FILTER (WHERE label IS NOT NULL AND request_id IS NOT NULL),
                                     count(*) FILTER (WHERE request_id IN (SELECT request_id FROM requests)
                                                      AND label IS NOT NULL)
                              FROM _label_file""")[0]
        if counts[0] == 0:
            raise UserError(f"{path.name}: no row has both an id ({id_col}) and a label ({label_col})")
        conflicts = rows(con, """SELECT request_id FROM _label_file WHERE label IS NOT NULL GROUP BY 1
                                 HAVING count(DISTINCT label) > 1 ORDER BY 1 LIMIT 3""")
        if conflicts:
            raise UserError(f"{path.name}: ids with two different labels: {', '.join(r[0] for r in conflicts)}")
        if counts[1] == 0:
            theirs = [r[0] for r in rows(con, "SELECT request_id FROM _label_file WHERE request_id IS NOT NULL LIMIT 3")]
            ours = [r[0] for r in rows(con, "SELECT request_id FROM requests ORDER BY request_id LIMIT 3")]
            raise UserError(f"{path.name}: none of its {counts[0]} ids (column {id_col}, e.g. {theirs}) matches "
                            f"a request id (they look like {ours or 'nothing: no requests yet'})")
        con.execute("""UPDATE requests SET label = f.label
                       FROM (SELECT DISTINCT request_id, label FROM _label_file WHERE label IS NOT NULL) f
                       WHERE requests.request_id = f.request_id""").fetchall()
        unmatched = [r[0] for r in rows(con, """SELECT DISTINCT request_id FROM _label_file
                                                 WHERE label IS NOT NULL AND request_id IS NOT NULL
                                                   AND request_id NOT IN (SELECT request_id FROM requests)
                                                 ORDER BY 1""")]
        return LabelsAttached(
            scalar(con, """SELECT count(*) FROM requests
                           WHERE request_id IN (SELECT request_id FROM _label_file WHERE label IS NOT NULL)"""),
            len(unmatched), unmatched[:3])
    finally:
        con.execute("DROP TABLE IF EXISTS _label_file")
