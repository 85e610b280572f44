"""The training set from the logs: the chosen segments' requests with a target answer, split into
train and the fixed held-out test set, guarded against leakage, optionally scrubbed of PII, and
written in trainers' formats with a manifest.

Steps, in order:
1. Segments: requests whose task type is one of `task_types`, model one of `models` and tags
   include one of `tags` (each filter only when given); one row per request id.
2. Target: `incumbent` = the logged answer of an ok request (distillation); `labels` = the
   attached ground truth (`requests.label`). A request without a prompt, without a target, or
   whose messages no format can hold is skipped, counted by reason.
3. Split: the held-out split (`held_out`; its fraction fixed by the workspace's first export) is
   assigned; held-out requests go to test.jsonl only, never to a train file.
4. Leakage guard (`leakage`): training requests whose prompt is an exact or near duplicate of the
   prompt of ANY held-out request of the workspace (not only the segment's) are dropped, counted.
5. PII scrub (`pii`), when asked: every message text, answer and tool-call arguments of both
   splits, counted per kind (the offered tools' schemas are left as they are).
6. Files: train.<format>.jsonl per chosen format (a request one format cannot hold is left out of
   that file, counted), test.jsonl (OpenAI format) and manifest.json (counts, split, filters,
   leakage and PII reports, each file's rows, bytes and sha256, created_at, the workspace's data
   version); the export is recorded in `training_exports`.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analysis.errors import UserError
from analysis.replay.sampling import segment_clauses
from analysis.replay.tuning import held_out
from analysis.replay.tuning.leakage import find_leaks
from analysis.replay.tuning.pii import ScrubReport, scrub, scrub_value
from analysis.replay.tuning.training_formats import (
    FORMATS,
    Conversation,
    NotInFormat,
    Unwritable,
    conversation,
    prompt_text,
)
from analysis.settings import get_settings
from analysis.store.database import data_version, rows, scalar, utcnow

TARGETS = {"incumbent": "the incumbent API's logged answers (distillation)",
           "labels": "the attached ground-truth labels"}
TEST_FILE = "test.jsonl"
MANIFEST_FILE = "manifest.json"
EXPORTS_FOLDER = "training-exports"  # under the data directory, when no directory is given

__all__ = ["FORMATS", "TARGETS", "TrainingExport", "TrainingSetError", "TrainingSetSpec", "export_training_set",
           "export_zip", "recorded_exports", "segment_options"]


class TrainingSetError(UserError):
    """A training-set request that cannot be met: unknown target or format, no matching request,
    a directory that is not empty."""


@dataclass(frozen=True)
class TrainingSetSpec:
    """What to export: segment filters (empty: all), target, test fraction, PII scrub, formats."""

    task_types: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    target: str = "incumbent"
    test_fraction: float | None = None  # None: the workspace's fixed one, else the default
    scrub_pii: bool = False
    formats: list[str] = field(default_factory=lambda: list(FORMATS))

    def check(self) -> None:
        if self.target not in TARGETS:
            raise TrainingSetError(f"unknown target {self.target!r}: choose "
                                   + " or ".join(f"{name} ({what})" for name, what in TARGETS.items()))
        unknown = [name for name in self.formats if name not in FORMATS]
        if unknown or not self.formats:
            raise TrainingSetError(f"unknown format {', '.join(map(repr, unknown)) or '(none given)'}: "
                                   f"choose from {', '.join(FORMATS)}")
        if self.test_fraction is not None:
            held_out.check_fraction(self.test_fraction)


@dataclass(frozen=True)
class TrainingExport:
    """A written export: its id, directory and manifest (see the module docstring)."""

    export_id: str
    directory: Path
    manifest: dict

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def file_names(self) -> list[str]:
        """Every file of the export, the manifest last."""
        return [*self.manifest["files"], MANIFEST_FILE]


@dataclass
class _Example:
    request_id: str
    conversation: Conversation
    held_out: bool
    prompt: str


def _segment_sql(spec: TrainingSetSpec) -> tuple[str, list]:
    clauses, params = segment_clauses(spec.task_types, spec.models)
    clauses.insert(0, "true")
    if spec.tags:
        clauses.append("list_has_any(coalesce(tags, []::VARCHAR[]), ?::VARCHAR[])")
        params.append(spec.tags)
    return " AND ".join(clauses), params


def _no_match(con: duckdb.DuckDBPyConnection, spec: TrainingSetSpec) -> TrainingSetError:
    """The error for filters that match nothing, naming what the workspace holds."""
    if not rows(con, "SELECT 1 FROM requests LIMIT 1"):
        return TrainingSetError("the workspace has no requests: ingest logs first (breakeven ingest FILE)")
    asked = "; ".join(f"{name} {', '.join(values)}" for name, values in
                      (("task type", spec.task_types), ("model", spec.models), ("tag", spec.tags)) if values)
    have = rows(con, """SELECT (SELECT string_agg(DISTINCT task_type, ', ' ORDER BY task_type) FROM requests),
                               (SELECT string_agg(DISTINCT model, ', ' ORDER BY model) FROM requests),
                               (SELECT string_agg(DISTINCT t, ', ' ORDER BY t) FROM (SELECT unnest(tags) AS t FROM requests))""")[0]
    return TrainingSetError(f"no requests match {asked}; the workspace has task types: {have[0] or 'none'}; "
                            f"models: {have[1] or 'none'}; tags: {have[2] or 'none'}")


def _target(spec: TrainingSetSpec, status: str, output_text: str | None, label: str | None) -> str:
    """The answer to learn, or Unwritable naming why there is none."""
    if spec.target == "labels":
        if label is None or not label.strip():
            raise Unwritable("no ground-truth label")
        return label.strip()
    if status != "ok":
        raise Unwritable(f"no incumbent answer (request {status})")
    if output_text is None or not output_text.strip():
        raise Unwritable("no incumbent answer logged")
    return output_text


def _examples(con: duckdb.DuckDBPyConnection, spec: TrainingSetSpec, skipped: Counter) -> list[_Example]:
    where, params = _segment_sql(spec)
    selected = rows(con, f"""
        SELECT request_id, status, input_messages, output_text, label, request_params->'tools',
               request_id IN (SELECT request_id FROM held_out_requests)
        FROM requests WHERE {where}
        QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY ts NULLS LAST, source_id) = 1
        ORDER BY request_id""", params)
    if not selected:
        raise _no_match(con, spec)
    examples = []
    for request_id, status, messages_json, output_text, label, tools_json, is_held_out in selected:
        try:
            if messages_json is None:
                raise Unwritable("no prompt logged")
            messages = json.loads(messages_json)
            answer = _target(spec, status, output_text, label)
            conv = conversation(messages, answer, json.loads(tools_json) if tools_json else None)
        except Unwritable as reason:
            skipped[str(reason)] += 1
            continue
        examples.append(_Example(request_id=request_id, conversation=conv, held_out=bool(is_held_out),
                                 prompt=prompt_text(messages)))
    return examples


def _held_out_prompts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The prompt text of every held-out request of the workspace (the leakage guard's test side)."""
    return [prompt_text(json.loads(m)) for (m,) in rows(
        con, """SELECT any_value(input_messages) FROM requests
                WHERE request_id IN (SELECT request_id FROM held_out_requests) AND input_messages IS NOT NULL
                GROUP BY request_id""")]


def _scrubbed_arguments(arguments: str, report: ScrubReport) -> str:
    """Tool-call arguments (a JSON string) scrubbed value by value, so they stay valid JSON;
    arguments that are not JSON are scrubbed as text."""
    try:
        decoded = json.loads(arguments)
    except ValueError:
        return scrub(arguments, report)
    return json.dumps(scrub_value(decoded, report), ensure_ascii=False)


def _scrubbed_message(message: dict, report: ScrubReport) -> dict:
    """The message with its text and its tool calls' arguments scrubbed."""
    scrubbed = dict(message)
    if isinstance(message.get("content"), str):
        scrubbed["content"] = scrub(message["content"], report)
    if message.get("tool_calls"):
        scrubbed["tool_calls"] = [
            {**call, "function": {**call["function"], "arguments": _scrubbed_arguments(call["function"]["arguments"], report)}}
            for call in message["tool_calls"]]
    return scrubbed


def _scrubbed(conv: Conversation, report: ScrubReport) -> Conversation:
    return Conversation(messages=[_scrubbed_message(m, report) for m in conv.messages], tools=conv.tools)


def _write_jsonl(path: Path, records: list[dict]) -> dict:
    """Write one JSON object a line; return rows, bytes and sha256 of the file."""
    data = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")
    path.write_bytes(data)
    return {"rows": len(records), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _directory(directory: str | Path | None, export_id: str) -> Path:
    """Where the export goes, refused when it holds anything (an export never overwrites files)."""
    path = Path(directory).expanduser() if directory else get_settings().data_dir / EXPORTS_FOLDER / export_id
    if path.exists() and not path.is_dir():
        raise TrainingSetError(f"{path} is a file; give a new or empty directory for the export")
    if path.is_dir() and any(path.iterdir()):
        raise TrainingSetError(f"{path} is not empty; give a new or empty directory (an export never overwrites files)")
    return path.resolve()


def _write_files(path: Path, formats: list[str], train: list[_Example], test: list[_Example]) -> tuple[dict, dict]:
    """Write train.<format>.jsonl per format and test.jsonl; return the files' manifest entries and,
    per format, the requests it left out by reason."""
    path.mkdir(parents=True, exist_ok=True)
    files, not_in_format = {}, {}
    for name in formats:
        records, left_out = [], Counter()
        for example in train:
            try:
                records.append(FORMATS[name](example.conversation))
            except NotInFormat as reason:
                left_out[str(reason)] += 1
        files[f"train.{name}.jsonl"] = {"format": name, "split": "train", **_write_jsonl(path / f"train.{name}.jsonl", records)}
        not_in_format[name] = dict(left_out)
    files[TEST_FILE] = {"format": "openai", "split": "test",
                        **_write_jsonl(path / TEST_FILE, [FORMATS["openai"](e.conversation) for e in test])}
    return files, not_in_format


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: a failed export leaves no held-out assignment and no record behind."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def export_training_set(con: duckdb.DuckDBPyConnection, spec: TrainingSetSpec,
                        directory: str | Path | None = None) -> TrainingExport:
    """Write the training set of `spec` into `directory` (default: <data dir>/training-exports/<id>)
    by the steps of the module docstring, record it, and return it."""
    spec.check()
    export_id = uuid.uuid4().hex[:12]
    path = _directory(directory, export_id)
    with _transaction(con):
        fraction = held_out.split_fraction(con, spec.test_fraction)
        newly_held_out = held_out.assign_held_out(con, fraction)
        skipped: Counter = Counter()
        examples = _examples(con, spec, skipped)
        if not examples:
            raise TrainingSetError(f"no request has a usable target ({TARGETS[spec.target]}): "
                                   + "; ".join(f"{reason}: {n:,}" for reason, n in skipped.most_common()))
        test = [e for e in examples if e.held_out]
        candidates = [e for e in examples if not e.held_out]
        leaks = find_leaks(((e.request_id, e.prompt) for e in candidates), _held_out_prompts(con))
        dropped = leaks.dropped
        train = [e for e in candidates if e.request_id not in dropped]
        if not train:
            raise TrainingSetError(f"no training request is left: of {len(examples):,} with a target, {len(test):,} "
                                   f"are held out for testing and {len(dropped):,} repeat a held-out prompt")
        report = ScrubReport()
        if spec.scrub_pii:
            for example in (*test, *train):
                example.conversation = _scrubbed(example.conversation, report)
        files, not_in_format = _write_files(path, spec.formats, train, test)
        created_at = utcnow()
        manifest = {
            "export_id": export_id,
            "created_at": created_at.isoformat(timespec="seconds") + "Z",
            "workspace_data_version": data_version(con),
            "target": spec.target,
            "filters": {"task_types": spec.task_types, "models": spec.models, "tags": spec.tags},
            "split": {"test_fraction": fraction, "rule": held_out.RULE, "newly_assigned": newly_held_out,
                      "held_out_in_workspace": scalar(con, "SELECT count(*) FROM held_out_requests")},
            "counts": {"selected": len(examples) + sum(skipped.values()), "skipped": dict(skipped.most_common()),
                       "test": len(test), "train_before_leakage_guard": len(candidates), "train": len(train)},
            "leakage": leaks.as_dict(),
            "pii": {"enabled": spec.scrub_pii, "replaced": report.as_dict() if spec.scrub_pii else {}},
            "formats": spec.formats,
            "not_in_format": not_in_format,
            "files": files,
        }
        (path / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        con.execute("INSERT INTO training_exports (export_id, created_at, directory, manifest) VALUES (?, ?, ?, ?)",
                    [export_id, created_at, str(path), json.dumps(manifest)]).fetchall()
    return TrainingExport(export_id=export_id, directory=path, manifest=manifest)


def recorded_exports(con: duckdb.DuckDBPyConnection) -> list[TrainingExport]:
    """Every recorded export, newest first."""
    return [TrainingExport(export_id=export_id, directory=Path(directory), manifest=json.loads(manifest))
            for export_id, directory, manifest in rows(
                con, "SELECT export_id, directory, manifest FROM training_exports ORDER BY created_at DESC, export_id")]


def segment_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The values each segment filter can take in this workspace: task types, models, tags."""
    return {
        "task_types": [r[0] for r in rows(con, "SELECT DISTINCT task_type FROM requests WHERE task_type IS NOT NULL ORDER BY 1")],
        "models": [r[0] for r in rows(con, "SELECT DISTINCT model FROM requests WHERE model IS NOT NULL ORDER BY 1")],
        "tags": [r[0] for r in rows(con, "SELECT DISTINCT t FROM (SELECT unnest(tags) AS t FROM requests) WHERE t IS NOT NULL ORDER BY 1")],
    }


def export_zip(export: TrainingExport) -> bytes:
    """The export's files and manifest in one zip archive (deflated), for a download."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in export.file_names:
            archive.write(export.path(name), arcname=f"{export.export_id}/{name}")
    return buffer.getvalue()
