"""A labelled dataset (CSV, JSON array, JSON lines or Parquet) as classification requests.

Never detected: used only through `analysis.ingest.labelled_datasets.ingest_labelled` (`breakeven
ingest-labelled`), which passes the columns and the label set in `ctx.options["labelled"]`.

Each kept row becomes one request: operation 'chat', provider 'labelled', no model, a system
prompt listing the label set and the text as the user message, `label` = the ground truth,
no answer, status 'ok', cost unknown, task_type 'classification' (also in `extra.task_type`, so
`analysis.quality.tasks` keeps it), tags ['labelled', TAG], request_id 'TAG:ID' (ID = the id column, or
the row's line number). `extra` holds the label set, the columns used and the row's split.

Order: rows with an empty text or label, a label outside a given label set or a repeated id are
rejected (with line and reason); then `split` keeps the train or test part; then `limit` keeps a
seeded sample, stratified by label (see SAMPLE_ORDER).
"""

from __future__ import annotations

import json

from analysis.ingest.context import IngestError, LoadContext
from analysis.ingest.sample import Sample
from analysis.store.database import sql_identifier, sql_literal

NAME = "labelled"
DESCRIPTION = "a labelled dataset as classification requests (only through `breakeven ingest-labelled`)"

# Known dataset wrappers around the text, removed before use (both ends must match):
# IBM's CFPB prompt-tuning files: test inputs are "Including narratives choice the best match
# product with the items from the list: '...'.\nComment: TEXT\nProduct:\n", train inputs are
# "Narrative: TEXT\nProduct:\n".
WRAPPERS = [
    (r"(?s)^(?:Including narratives choice the best match product with the items from the list:"
     r"[^\n]*\nComment:|Narrative:)\s*(.*?)\s*\nProduct:\s*$", r"\1"),
]
TEST_BUCKETS = 5  # split: a row is in 'test' when md5(id or line) % 5 == 0 (20%), else 'train'; seed-free
# limit: proportional stratified sample: within each label rows are ranked by md5(seed:key); rows
# are taken by (rank - 0.5) / rows of that label, so every label keeps its share of the file.
SAMPLE_ORDER = ("(row_number() OVER (PARTITION BY label ORDER BY md5(?::VARCHAR || ':' || key), line) - 0.5)"
                " / count(*) OVER (PARTITION BY label), md5(?::VARCHAR || ':' || key), line")
DEFAULT_INSTRUCTION = "Classify the text below by its {label_column}."
GENERIC_LABEL_COLUMNS = {"label", "labels", "output", "target", "class", "y"}  # say nothing to a model


def detect(sample: Sample) -> bool:
    return False


def _columns(ctx: LoadContext, wanted: list[str]) -> tuple[str, dict[str, str]]:
    """The file's rows as a table and a SQL expression (text or NULL) per wanted column."""
    kind = ctx.sample.kind
    available = ctx.keys()
    if kind in ("csv", "parquet"):
        table = ctx.csv_rows() if kind == "csv" else ctx.parquet_rows()
        expr = {c: f"CAST(r.{sql_identifier(c)} AS VARCHAR)" for c in wanted}
    elif kind in ("json", "jsonl"):
        table = ctx.records()
        expr = {c: f"r.j->>{sql_literal('$.' + sql_identifier(c))}" for c in wanted}
    else:
        raise IngestError(f"{ctx.label}: a labelled dataset must be CSV, JSON, JSON lines or Parquet, not {kind}")
    missing = [c for c in wanted if c not in available]
    if missing:
        raise IngestError(f"{ctx.label}: no column {', '.join(map(repr, missing))}; "
                          f"the file has: {', '.join(available)}")
    return table, expr


def system_prompt(labels: list[str], label_column: str, instruction: str | None = None) -> str:
    """The task prompt: the instruction, the label set one per line, and the answer format."""
    if instruction:
        head = instruction
    elif label_column.lower() in GENERIC_LABEL_COLUMNS:
        head = "Classify the text below."
    else:
        head = DEFAULT_INSTRUCTION.format(label_column=label_column)
    options = "\n".join(f"- {label}" for label in labels)
    return (f"{head}\nAnswer with exactly one of these labels:\n{options}\n"
            "Reply with the label only, written exactly as above.")


def _text_expr(expr: dict[str, str], text_cols: list[str]) -> str:
    parts = [f"nullif(trim({expr[c]}), '')" for c in text_cols]
    if len(parts) > 1:  # several columns: "column: value" blocks, empty ones left out
        parts = [f"{sql_literal(c + ': ')} || {p}" for c, p in zip(text_cols, parts)]
        text = f"nullif(concat_ws(chr(10) || chr(10), {', '.join(parts)}), '')"
    else:
        text = parts[0]
    for pattern, replacement in WRAPPERS:
        text = f"regexp_replace({text}, {sql_literal(pattern)}, {sql_literal(replacement)})"
    return text


def load(ctx: LoadContext) -> None:
    opts = ctx.options.get("labelled")
    if not opts:
        raise IngestError(f"{ctx.label}: the labelled format needs its columns; use "
                          "`breakeven ingest-labelled FILE --text COL --label COL`")
    text_cols, label_col, id_col = opts["text_cols"], opts["label_col"], opts.get("id_col")
    table, expr = _columns(ctx, [*dict.fromkeys([*text_cols, label_col, *([id_col] if id_col else [])])])
    key = f"coalesce(nullif(trim({expr[id_col]}), ''), r.line::VARCHAR)" if id_col else "r.line::VARCHAR"
    ctx.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _lab AS
            SELECT r.line, {key} AS key, {_text_expr(expr, text_cols)} AS text,
                   nullif(trim({expr[label_col]}), '') AS label FROM {table} AS r"""
    )
    _lines_for_rejects(ctx, table)
    ctx.reject_where("_lab", "r.text IS NULL", sql_literal(f"empty text (column {', '.join(text_cols)})"))
    ctx.reject_where("_lab", "r.label IS NULL", sql_literal(f"empty label (column {label_col})"))
    labels = opts.get("labels")
    if labels:
        source = opts.get("labels_source", "the given list")
        ctx.con.execute("CREATE OR REPLACE TEMP TABLE _label_set AS SELECT unnest(?::VARCHAR[]) AS label", [labels])
        ctx.reject_where("_lab", "r.label NOT IN (SELECT label FROM _label_set)",
                "'label ' || r.label || " + sql_literal(f" is not in the label set from {source}"))
    if id_col:
        ctx.reject_where("_lab", "r.line IN (SELECT line FROM _lab QUALIFY row_number() OVER (PARTITION BY key ORDER BY line) > 1)",
                "'repeated id ' || r.key || " + sql_literal(f" (column {id_col})"))
    if not labels:
        labels = [r[0] for r in ctx.con.execute("SELECT DISTINCT label FROM _lab ORDER BY 1").fetchall()]
    ctx.con.execute("ALTER TABLE _lab ADD COLUMN split VARCHAR")
    ctx.con.execute(f"UPDATE _lab SET split = CASE WHEN md5_number(key) % {TEST_BUCKETS} = 0 THEN 'test' ELSE 'train' END").fetchall()
    if opts.get("split"):
        ctx.con.execute("DELETE FROM _lab WHERE split <> ?", [opts["split"]]).fetchall()
    if opts.get("limit") is not None:
        seed = str(opts.get("seed", 0))
        ctx.con.execute(
            f"DELETE FROM _lab WHERE line NOT IN (SELECT line FROM _lab ORDER BY {SAMPLE_ORDER} LIMIT ?)",
            [seed, seed, int(opts["limit"])],
        ).fetchall()
    tag = opts["tag"]
    extra = {"task_type": "classification", "label_set": labels, "label_column": label_col,
             "text_columns": text_cols}
    ctx.insert_requests(
        """SELECT ? || ':' || key AS request_id, line AS source_line, 'labelled' AS provider,
                  NULL::VARCHAR AS model, 'chat' AS operation, m AS input_messages, msg_text(m) AS input_text,
                  'ok' AS status, label, 'classification' AS task_type, ['labelled', ?] AS tags,
                  json_merge_patch(?::JSON, json_object('split', split, 'id', key)) AS extra
           FROM (SELECT *, json_array(json_object('role', 'system', 'content', ?::VARCHAR),
                                      json_object('role', 'user', 'content', text)) AS m FROM _lab)
           ORDER BY line""",
        [tag, tag, json.dumps(extra), system_prompt(labels, label_col, opts.get("instruction"))],
    )


def _lines_for_rejects(ctx: LoadContext, table: str) -> None:
    """Rejects quote a record from `_lines(line, text)`; CSV and Parquet rows have none, so
    build it from the row itself (as JSON)."""
    if ctx.sample.kind in ("csv", "parquet"):
        ctx.con.execute(f"CREATE OR REPLACE TEMP TABLE _lines AS SELECT line, to_json(r)::VARCHAR AS text FROM {table} AS r")
