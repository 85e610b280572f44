"""Labelled datasets as requests with ground truth (`breakeven ingest-labelled`), so a candidate
can be measured on a real classification task without any logs.

The rows are loaded by the `labelled` ingest adapter (analysis/ingest/labelled.py), so a file
gets a `sources` row, rejects with line numbers, one transaction and the same-content dedupe of
every ingest: the same file ingested again (even with other columns or another limit) adds
nothing and is reported as a duplicate.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from analysis.ingest import IngestError, IngestResult, ingest_file
from analysis.store.database import rows

GENERIC_STEMS = {"train", "test", "dev", "val", "valid", "validation", "data", "dataset", "eval"}


def dataset_tag(path: str | Path) -> str:
    """The dataset's tag and request-id prefix: the file stem, prefixed by its folder when the
    stem alone says nothing ('banking77/test.csv' -> 'banking77-test', 'cfpb_test.json' -> 'cfpb_test')."""
    path = Path(path)
    if path.stem.lower() in GENERIC_STEMS and path.parent.name:
        return f"{path.parent.name}-{path.stem}"
    return path.stem


def read_label_file(path: str | Path) -> list[str]:
    """A label set from a file: a JSON list (its items), a JSON object (its keys), or text with one
    label per line (blank lines skipped). Order kept, duplicates dropped, labels trimmed. IngestError
    when it holds no label list."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text.splitlines()
    if isinstance(value, dict):
        value = list(value)
    if not isinstance(value, list):
        raise IngestError(f"{path.name}: expected a JSON list or object of labels, or one label per line")
    labels = list(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
    if not labels:
        raise IngestError(f"{path.name}: no labels found")
    return labels


def ingest_labelled(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    text_col: str | list[str],
    label_col: str,
    labels_from: str | Path | None = None,
    id_col: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    split: str | None = None,
    instruction: str | None = None,
) -> IngestResult:
    """Ingest a labelled CSV / JSON / JSON lines / Parquet file as classification requests.

    `text_col` is one column or several (joined as "column: value" blocks, e.g. a question and
    an answer to judge). The label set is `labels_from` (see read_label_file) or the distinct
    labels of the file; rows whose label is outside a given set are rejected. `split` keeps the
    'train' (80%) or 'test' (20%) part, fixed per row id; `limit` keeps a sample of that size,
    seeded by `seed` and stratified by label. `instruction` replaces the first line of the task
    prompt ("Classify the text below by its LABEL_COL."). Never raises for bad input: the
    result's `error` says why nothing was ingested."""
    text_cols = [text_col] if isinstance(text_col, str) else list(text_col)
    result = IngestResult(path=str(path), format="labelled")
    if not text_cols or not label_col:
        result.error = "give the text column(s) and the label column"
        return result
    if split not in (None, "train", "test"):
        result.error = f"split must be 'train' or 'test', not {split!r}"
        return result
    if limit is not None and limit < 1:
        result.error = f"limit must be at least 1, got {limit}"
        return result
    options = {"text_cols": text_cols, "label_col": label_col, "id_col": id_col, "limit": limit,
               "seed": seed, "split": split, "instruction": instruction, "tag": dataset_tag(path)}
    if labels_from is not None:
        try:
            options["labels"] = read_label_file(labels_from)
        except (OSError, UnicodeDecodeError, IngestError) as exc:
            result.error = f"cannot read the label set: {exc}"
            return result
        options["labels_source"] = Path(labels_from).name
    return ingest_file(con, path, format="labelled", options={"labelled": options})


def label_set(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """The label set of a labelled import, in its prompt's order, by source_id or by tag (e.g.
    the dataset tag); the union in ingest order when a tag matches several imports; [] if none."""
    found = rows(
        con,
        """SELECT any_value(json_extract_string(r.extra, '$.label_set[*]')) FROM requests r
           JOIN sources s USING (source_id)
           WHERE r.provider = 'labelled' AND (r.source_id = ? OR list_contains(r.tags, ?))
           GROUP BY r.source_id ORDER BY min(s.ingested_at), r.source_id""",
        [source, source],
    )
    return list(dict.fromkeys(label for (labels,) in found for label in labels or []))
