"""Any CSV, JSON lines, JSON array or Parquet log, through a column mapping.

options["mapping"] = {canonical column: source}, where a source is a column (or top-level key)
name (any characters), or a path into one (`usage.prompt_tokens`, `$.usage.prompt_tokens`,
`choices[0].message.content`; a column holding
JSON text is read through). Units, also in options (all optional):
- latency_unit: ms (default) | s | ns, for latency_ms and ttft_ms;
- cost_unit: usd (default) | cents | usd_1e9 (USD x 1e9), for cost_usd;
- timestamp_format: iso (default; epoch numbers are told apart by magnitude) | epoch_s | epoch_ms |
  epoch_ns | a strptime pattern such as "%d/%m/%Y %H:%M:%S" (times are taken as UTC);
- input_excludes_cache: true when input_tokens leaves out cache reads and writes (Anthropic-style):
  they are then added to it.
Mappings come from a TOML or JSON file, `canonical=source` flags, or both, a flag winning over the
file (mapping_options; load_mapping and mapping_from_flags take one of them). Without a mapping the adapter is detected only when the columns already
have canonical names (model, input_tokens or prompt_tokens, output_tokens or completion_tokens).
latency_ms, when not mapped, is end_ts - ts when both are mapped.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path

from analysis.ingest.context import IngestError, LoadContext
from analysis.ingest.sample import Sample
from analysis.store.database import sql_literal

NAME = "generic"
DESCRIPTION = "generic CSV / JSONL / JSON / Parquet with a column mapping (canonical=source)"
TEXT = ("request_id", "provider", "model", "operation", "input_text", "output_text", "status", "error",
        "user_id", "team", "label", "task_type")
INTEGER = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
NUMBER = ("latency_ms", "ttft_ms", "cost_usd")
CANONICAL = (*TEXT, *INTEGER, *NUMBER, "ts", "end_ts", "input_messages", "request_params", "tags")
UNITS = {"latency_unit": {"ms": 1.0, "s": 1000.0, "ns": 1e-6}, "cost_unit": {"usd": 1.0, "cents": 0.01, "usd_1e9": 1e-9}}
FLAGS = (*UNITS, "timestamp_format", "input_excludes_cache")
ALIASES = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens", "timestamp": "ts",
           "created_at": "ts", "cost": "cost_usd", "duration_ms": "latency_ms"}
EPOCHS = {"epoch_s": "ts_from_epoch_s(try_cast({v} AS DOUBLE))", "epoch_ms": "ts_from_epoch_s(try_cast({v} AS DOUBLE) / 1e3)",
          "epoch_ns": "ts_from_epoch_ns(try_cast({v} AS HUGEINT))", "iso": "ts_from_text({v})"}


def validate(options: dict) -> dict:
    """The options with their mapping checked: canonical names, units; raises IngestError."""
    mapping = options.get("mapping") or {}
    unknown = [k for k in mapping if k not in CANONICAL]
    if unknown:
        raise IngestError(f"mapping names unknown column(s) {', '.join(unknown)}; canonical columns are: "
                          f"{', '.join(CANONICAL)}")
    if "model" not in mapping:
        raise IngestError("the mapping must say which column holds the model (model=COLUMN)")
    for flag, units in UNITS.items():
        if options.get(flag, next(iter(units))) not in units:
            raise IngestError(f"{flag} {options[flag]!r} unknown; choose one of {', '.join(units)}")
    return options


def _split(items: dict) -> dict:
    """{canonical: source, unit flags...} or {"mapping": {...}, flags...} -> options."""
    items = dict(items)
    mapping = dict(items.pop("mapping", {}))
    options = {k: items.pop(k) for k in FLAGS if k in items}
    mapping.update(items)
    return validate({"mapping": mapping, **options})


def load_mapping(path: str | Path) -> dict:
    """Options from a TOML or JSON mapping file (see the module docstring)."""
    return mapping_options(path)


def mapping_from_flags(flags: list[str]) -> dict:
    """Options from `canonical=source` (and `latency_unit=s`, ...) strings."""
    return mapping_options(flags=flags)


def mapping_options(path: str | Path | None = None, flags: Sequence[str] = ()) -> dict:
    """Options from a TOML or JSON mapping file and/or `canonical=source` flags (a flag wins over
    the file); raises IngestError saying what is wrong."""
    items: dict = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise IngestError(f"mapping file {path}: cannot be read ({exc.strerror or exc})") from exc
        try:
            items = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise IngestError(f"{path.name}: not a TOML or JSON mapping ({exc})") from exc
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise IngestError(f"mapping flag {flag!r} is not canonical=source")
        items[key.strip()] = value.strip()
    if isinstance(items.get("input_excludes_cache"), str):
        items["input_excludes_cache"] = items["input_excludes_cache"].lower() in ("1", "true", "yes")
    return _split(items)


def _auto_mapping(keys: list[str]) -> dict:
    mapping = {ALIASES.get(k, k): k for k in keys if k in CANONICAL or k in ALIASES}
    return {c: mapping[c] for c in mapping if c in CANONICAL}


def detect(sample: Sample) -> bool:
    """Canonical column names: model, input_tokens or prompt_tokens, output_tokens or completion_tokens."""
    keys = set(sample.columns or sample.first())
    return "model" in keys and bool({"input_tokens", "prompt_tokens"} & keys) and bool(
        {"output_tokens", "completion_tokens"} & keys)


def _json_pointer(segments: list[str]) -> str:
    """A JSON Pointer (RFC 6901) to `segments`: any key works, quotes, slashes and spaces included."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in segments)


def _path_segments(path: str) -> list[str]:
    """`usage.prompt_tokens` or `choices[0].message.content` -> keys and array indexes."""
    segments = []
    for part in path.split("."):
        name, *indexes = part.split("[")
        segments += [name] if name else []
        segments += [index.rstrip("]") for index in indexes]
    return segments


def _source(ctx: LoadContext, canonical: str, source: str, keys: list[str]) -> str:
    """SQL text for a source over `r.j`, or IngestError naming what is missing."""
    if source in keys:
        return f"r.j->>{sql_literal(_json_pointer([source]))}"
    head, *rest = _path_segments(source[2:] if source.startswith("$.") else source) or [""]
    if head not in keys:
        raise IngestError(f"{ctx.label}: mapping says {canonical}={source} but the file has no column "
                          f"{head!r}; columns are: {', '.join(keys)}")
    if not rest:
        return f"r.j->>{sql_literal(_json_pointer([head]))}"
    return f"json_unwrap(r.j->{sql_literal(_json_pointer([head]))})->>{sql_literal(_json_pointer(rest))}"


def load(ctx: LoadContext) -> None:
    """Map each row's sources to canonical columns with the units given; reject rows whose numbers
    are not numbers or whose model is empty."""
    options = validate(ctx.options) if ctx.options.get("mapping") else {
        **ctx.options, "mapping": _auto_mapping(ctx.keys())}
    table = ctx.json_rows()
    keys = ctx.keys()
    src = {c: f"nullif(trim({_source(ctx, c, s, keys)}), '')" for c, s in options["mapping"].items()}
    for column in (*INTEGER, *NUMBER):
        if column in src:
            why = sql_literal(f"{column} (column {options['mapping'][column]}) is not a number: ")
            ctx.reject_where(table, f"{src[column]} IS NOT NULL AND try_cast({src[column]} AS DOUBLE) IS NULL",
                             f"{why} || {src[column]}")
    ctx.reject_where(table, f"{src['model']} IS NULL",
                     sql_literal(f"missing required field model (column {options['mapping']['model']})"))
    num = {c: f"try_cast({src[c]} AS DOUBLE)" if c in src else "NULL" for c in (*INTEGER, *NUMBER)}
    latency_factor = UNITS["latency_unit"][options.get("latency_unit", "ms")]
    fmt = options.get("timestamp_format", "iso")
    ts = {c: (EPOCHS[fmt].format(v=src[c]) if fmt in EPOCHS else f"try_strptime({src[c]}, {sql_literal(fmt)})")
          if c in src else "NULL" for c in ("ts", "end_ts")}
    text = {c: src.get(c, "NULL") for c in TEXT}
    tokens = {c: f"try_cast(round({num[c]}) AS BIGINT)" for c in INTEGER}  # NULL beyond BIGINT
    if options.get("input_excludes_cache"):
        tokens["input_tokens"] += f" + coalesce({tokens['cached_input_tokens']}, 0) + coalesce({tokens['cache_write_tokens']}, 0)"
    messages = f"CASE WHEN json_type(try_cast({src['input_messages']} AS JSON)) = 'ARRAY' THEN {src['input_messages']}::JSON END" \
        if "input_messages" in src else "CAST(NULL AS JSON)"
    params = f"CASE WHEN json_type(try_cast({src['request_params']} AS JSON)) = 'OBJECT' THEN {src['request_params']}::JSON END" \
        if "request_params" in src else "NULL"
    status = text["status"]
    cost = f"{num['cost_usd']} * {UNITS['cost_unit'][options.get('cost_unit', 'usd')]}"
    tags = (f"""CASE WHEN json_type(try_cast({src['tags']} AS JSON)) = 'ARRAY' THEN json_extract_string({src['tags']}, '$[*]')
                ELSE list_filter(list_transform(string_split({src['tags']}, ','), lambda t: trim(t)), lambda t: t <> '') END"""
            if "tags" in src else "NULL")
    ctx.insert_requests(
        f"""SELECT
            coalesce({text['request_id']}, '{ctx.source_id}-' || r.line) AS request_id,
            r.line AS source_line,
            {ts['ts']} AS ts,
            coalesce(lower({text['provider']}), nullif(regexp_extract({text['model']}, '^([^/]+)/', 1), '')) AS provider,
            {text['model']} AS model_logged,
            norm_model({text['model']}) AS model,
            coalesce(lower({text['operation']}), 'chat') AS operation,
            {messages} AS input_messages,
            coalesce({text['input_text']}, msg_text({messages})) AS input_text,
            {text['output_text']} AS output_text,
            {params} AS request_params,
            {', '.join(f"{tokens[c]} AS {c}" for c in INTEGER)},
            coalesce({num['latency_ms']} * {latency_factor}, ms_between({ts['ts']}, {ts['end_ts']})) AS latency_ms,
            {num['ttft_ms']} * {latency_factor} AS ttft_ms,
            CASE WHEN lower({status}) IN ('error', 'failed', 'failure', 'false', 'fail') OR try_cast({status} AS INTEGER) >= 400
                      OR ({status} IS NULL AND {text['error']} IS NOT NULL) THEN 'error'
                 WHEN lower({status}) IN ('canceled', 'cancelled') THEN 'canceled'
                 WHEN lower({status}) = 'expired' THEN 'expired' ELSE 'ok' END AS status,
            {text['error']} AS error,
            {cost} AS cost_usd,
            CASE WHEN {cost} IS NOT NULL THEN 'logged' ELSE 'unknown' END AS cost_source,
            {text['user_id']} AS user_id, {text['team']} AS team, {tags} AS tags,
            {text['label']} AS label, {text['task_type']} AS task_type
        FROM {table} AS r"""
    )
