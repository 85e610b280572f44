"""Fine-tuning jobs on the CPU (llama.cpp's llama-finetune, see `llama_finetune`): create one from a
training-set export, run it with progress, a token and a time budget and cancellation, and list them.

- A job is a row of `fine_tune_jobs`: the base model, the export (id when the workspace recorded
  it, its directory and manifest in `settings`), the budgets and training settings, progress, the
  measured training tokens and seconds, the tuned GGUF and the candidate `local:<alias>` it made.
- Lifecycle: queued -> running -> done | cancelled | stopped_time | failed. `cancel_job` marks a
  running job 'cancelling'; its runner (any process) reads that within a second and stops
  llama-finetune. A queued, running or cancelling job whose owner process (the one that created,
  then ran it) is gone reads 'interrupted' (`runs.owner_gone`, as for replay runs). One job is
  active at a time per workspace (training takes every core).
- Budgets: the token budget caps the training text (whole examples, exact tokens); the time budget
  caps it too where earlier jobs of the workspace measured the speed (seconds per token per epoch
  = sum of their train seconds / sum of their tokens x epochs; the text is cut to 90% of what
  fits), and stops llama-finetune when its run reaches the budget in any case (status stopped_time;
  llama-finetune writes its model only at the end, so nothing is kept).
- The tuned model: `<data_dir>/tuned-models/<base short name>-ft-<job id>.gguf` (Q8_0) with a
  `.json` beside it (job, base model, export, tokens, seconds, and `stop`: the end-of-turn marker
  the local provider sends as its stop) and the plain-text chat template it was trained with
  (`.jinja`, `llama_finetune.PLAIN_TEMPLATE`; llama-finetune writes none into the GGUF), which the
  engine serves as `local:<alias>` and the candidate list offers. Work files go to `tuned-models/work/<job id>/`
  (the training text and llama-finetune's log are kept; the F32 weights are deleted).
- The database is opened per operation (`analysis.store.access`): a job runs for minutes, and the
  workspace stays usable by other processes meanwhile.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
from pydantic import BaseModel, Field, field_validator

from analysis.errors import NotFound, UserError
from analysis.replay import runs
from analysis.replay.providers import local_engine
from analysis.replay.tuning import llama_finetune as trainer
from analysis.replay.tuning import training_set
from analysis.settings import Settings, get_settings
from analysis.store import access
from analysis.store.database import rows, utcnow

TRAIN_FILES = ("train.openai.jsonl", "train.jsonl")  # when no manifest names it
BASE_DIR, WORK_DIR = "base", "work"
ACTIVE = ("queued", "running", "cancelling")
TIME_SHARE = 0.9  # of the time budget that the text is cut to, from the measured speed
WRITE_EVERY_S = 2.0


class JobSettings(BaseModel):
    """What a job trains on and within: epochs, the budgets, llama-finetune's settings."""

    model_config = {"extra": "forbid"}

    epochs: int = Field(1, ge=1, le=50)
    max_tokens: int = Field(4_000, ge=2 * trainer.MIN_CONTEXT + 1, le=10_000_000)
    max_minutes: float = Field(30.0, gt=0, le=7 * 24 * 60)
    learning_rate: float = Field(1e-5, gt=0, le=1)
    context: int = Field(256, ge=trainer.MIN_CONTEXT, le=8192,
                         description="window length: a power of two (llama_finetune's rule)")

    @field_validator("context")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"context {value} is not a power of two (256, 512, 1024, ...)")
        return value
    threads: int | None = Field(None, ge=1, le=512)


@dataclass
class FineTuneJob:
    """A job as stored, with its shown status (module docstring)."""

    job_id: str
    base_model: str
    export_id: str | None
    status: str
    settings: dict
    progress: float | None
    message: str | None
    training_tokens: int | None
    epochs_done: float | None
    train_seconds: float | None
    output_path: str | None
    candidate: str | None
    error: str | None
    created_at: str
    started_at: str | None
    ended_at: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExportUsed:
    """The training-set export a job trains on: its id (None for a directory this workspace did not
    record), folder, manifest and the chat file (OpenAI format) trained on."""

    export_id: str | None
    directory: Path
    manifest: dict
    train_file: Path


def resolve_export(con: duckdb.DuckDBPyConnection, export: str) -> ExportUsed:
    """An export by id (recorded by `training_set.export_training_set`) or by its directory (its
    manifest.json names the OpenAI-format train file; else train.openai.jsonl or train.jsonl);
    NotFound saying what was looked for."""
    recorded = {e.export_id: e for e in training_set.recorded_exports(con)}
    if export in recorded:
        directory, manifest = recorded[export].directory, recorded[export].manifest
    else:
        directory = Path(export).expanduser()
        if not directory.is_dir():
            raise NotFound(f"no training export {export!r}: neither an export id of this workspace "
                           f"({', '.join(recorded) or 'none recorded: breakeven export-training'}) nor a directory")
        manifest_file = directory / training_set.MANIFEST_FILE
        manifest = json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.is_file() else {}
    export_id = manifest.get("export_id") if manifest.get("export_id") in recorded else None
    named = [name for name, info in (manifest.get("files") or {}).items()
             if info.get("format") == "openai" and info.get("split") == "train"]
    candidates = [directory / name for name in (*named, *TRAIN_FILES)]
    train_file = next((path for path in candidates if path.is_file()), None)
    if train_file is None:
        raise NotFound(f"{directory} holds no training chats in the OpenAI format ({', '.join(TRAIN_FILES)}): "
                       "export the training set with the openai format")
    return ExportUsed(export_id, directory.resolve(), manifest, train_file)


def create_job(con: duckdb.DuckDBPyConnection, export: str, base_model: str = local_engine.SMOLLM2_ALIAS,
               settings: JobSettings | None = None) -> str:
    """A queued job (its id) training `base_model` on the export; UserError for a base model
    llama-finetune cannot train, an export that is not there, or a job already active here."""
    trainer.base_model(base_model)
    resolved = resolve_export(con, export)
    active = [job.job_id for job in list_jobs(con) if job.status in ACTIVE]
    if active:
        raise UserError(f"fine-tuning job {active[0]} is still {get_job(con, active[0]).status}: one job runs at a "
                        "time (cancel it with breakeven finetune-jobs --cancel ID)")
    job_id = uuid.uuid4().hex[:8]
    stored = (settings or JobSettings()).model_dump() | {
        "export_directory": str(resolved.directory), "train_file": str(resolved.train_file),
        "manifest": resolved.manifest}
    con.execute("""INSERT INTO fine_tune_jobs (job_id, base_model, export_id, status, settings, progress, message,
                                                owner_pid, owner_host, owner_started, created_at)
                   VALUES (?, ?, ?, 'queued', ?, 0, 'queued', ?, ?, ?, ?)""",
                [job_id, base_model, resolved.export_id, json.dumps(stored), *_owner(), utcnow()]).fetchall()
    return job_id


def tuned_alias(base_model: str, job_id: str) -> str:
    """The tuned model's alias, `<base short name>-ft-<job id>` (e.g. smollm2-135m-ft-1a2b3c4d)."""
    return f"{trainer.base_model(base_model).short_name}-ft-{job_id}"


COLUMNS = ("job_id, base_model, export_id, status, settings, progress, message, training_tokens, epochs_done, "
           "train_seconds, output_path, candidate, error, created_at, started_at, ended_at, "
           "owner_pid, owner_host, owner_started")


def _job(row: tuple) -> FineTuneJob:
    *fields, pid, host, started = row
    job = FineTuneJob(*fields)
    job.settings = json.loads(job.settings) if isinstance(job.settings, str) else job.settings
    job.created_at, job.started_at, job.ended_at = (str(t) if t is not None else None
                                                    for t in (job.created_at, job.started_at, job.ended_at))
    if job.status in ACTIVE and runs.owner_gone(pid, host, started):
        job.status = "interrupted"
    return job


def get_job(con: duckdb.DuckDBPyConnection, job_id: str) -> FineTuneJob:
    """One job (NotFound when this workspace has none of that id)."""
    found = rows(con, f"SELECT {COLUMNS} FROM fine_tune_jobs WHERE job_id = ?", [job_id])
    if not found:
        raise NotFound(f"no fine-tuning job {job_id!r} in this workspace (see breakeven finetune-jobs)")
    return _job(found[0])


def list_jobs(con: duckdb.DuckDBPyConnection) -> list[FineTuneJob]:
    """Every job of the workspace, newest first."""
    return [_job(r) for r in rows(con, f"SELECT {COLUMNS} FROM fine_tune_jobs ORDER BY created_at DESC")]


def cancel_job(con: duckdb.DuckDBPyConnection, job_id: str) -> FineTuneJob:
    """Cancel a job: a queued one at once; a running one is marked 'cancelling' and its runner
    stops it within a second. A job that has ended is left as it is (UserError)."""
    job = get_job(con, job_id)
    if job.status == "queued":
        _set(con, job_id, status="cancelled", message="cancelled before it started", ended_at=utcnow())
    elif job.status == "running":
        _set(con, job_id, status="cancelling", message="cancelling")
    elif job.status != "cancelling":
        raise UserError(f"fine-tuning job {job_id} has already ended ({job.status})")
    return get_job(con, job_id)


def seconds_per_token(con: duckdb.DuckDBPyConnection) -> float | None:
    """Measured training speed of this workspace's finished jobs: train seconds / (tokens x epochs)."""
    seconds, tokens = rows(con, """SELECT sum(train_seconds), sum(training_tokens * epochs_done) FROM fine_tune_jobs
                                   WHERE status = 'done' AND training_tokens > 0 AND epochs_done > 0""")[0]
    return seconds / tokens if seconds and tokens else None


def _owner() -> tuple[int, str, str | None]:
    """This process as a job's owner: pid, host, and when the pid started (runs.owner_gone)."""
    return os.getpid(), socket.gethostname(), runs._process_started(os.getpid())


def _set(con: duckdb.DuckDBPyConnection, job_id: str, **fields) -> None:
    assignments = ", ".join(f"{name} = ?" for name in fields)
    values = [json.dumps(v) if name == "settings" else v for name, v in fields.items()]
    con.execute(f"UPDATE fine_tune_jobs SET {assignments} WHERE job_id = ?", [*values, job_id]).fetchall()


class _Store:
    """The job's row, through a connection opened per operation (analysis.store.access)."""

    def __init__(self, workspace: Path, job_id: str):
        self.workspace, self.job_id = workspace, job_id

    def set(self, **fields) -> None:
        with access.writing(self.workspace, f"fine-tuning job {self.job_id}") as con:
            _set(con, self.job_id, **fields)

    def job(self) -> FineTuneJob:
        with access.reading(self.workspace) as con:
            return get_job(con, self.job_id)


def run_job(workspace: Path, job_id: str, stop: threading.Event | None = None,
            on_progress: Callable[[FineTuneJob], None] | None = None, settings: Settings | None = None) -> FineTuneJob:
    """Run a queued job to its end in this thread (module docstring) and return it as stored.
    `stop` cancels it from this process, `cancel_job` from any; `on_progress` gets the job after
    each stored progress update. Raises UserError when the job is not queued."""
    settings = settings or get_settings()
    stop = stop or threading.Event()
    store = _Store(workspace, job_id)
    with access.writing(workspace, f"fine-tuning job {job_id}") as con:
        job = get_job(con, job_id)
        if job.status != "queued":
            raise UserError(f"fine-tuning job {job_id} is {job.status}, not queued: it cannot be run again")
        rate = seconds_per_token(con)
        pid, host, started = _owner()
        _set(con, job_id, status="running", started_at=utcnow(), message="preparing",
             owner_pid=pid, owner_host=host, owner_started=started)
    try:
        _train(settings, store, job, rate, stop, on_progress)
    except Exception as exc:
        store.set(status="failed", error=f"{type(exc).__name__}: {exc}" if not isinstance(exc, UserError) else str(exc),
                  message="failed", ended_at=utcnow())
        if not isinstance(exc, (UserError, local_engine.LocalEngineError)):
            raise
    return store.job()


def _train(settings: Settings, store: _Store, job: FineTuneJob, rate: float | None, stop: threading.Event,
           on_progress: Callable[[FineTuneJob], None] | None) -> None:
    options = JobSettings(**{k: v for k, v in job.settings.items() if k in JobSettings.model_fields})
    tuned_dir = settings.data_dir / local_engine.TUNED_DIR
    work = tuned_dir / WORK_DIR / job.job_id
    work.mkdir(parents=True, exist_ok=True)
    log = work / "llama-finetune.log"
    base_f32 = tuned_dir / BASE_DIR / f"{job.base_model}-f32.gguf"
    if not base_f32.is_file():
        store.set(message=f"requantising {job.base_model} to F32 for training")
        base_f32.parent.mkdir(parents=True, exist_ok=True)
        trainer.quantize(local_engine.model_path(job.base_model, settings), base_f32, "F32")
    budget, bound = options.max_tokens, "token budget"
    if rate:
        by_time = int(options.max_minutes * 60 * TIME_SHARE / (rate * options.epochs))
        if by_time < budget:
            budget, bound = by_time, f"time budget at the measured {rate * 1000:.1f} s per 1,000 tokens"
    store.set(message="rendering and counting the training text")
    text = trainer.training_text(Path(job.settings["train_file"]), base_f32, budget, work)
    context = trainer.fitted_context(text.tokens, options.context)
    text_file = work / "train.txt"
    text_file.write_text(text.text, encoding="utf-8")
    used = job.settings | {"context_used": context, "examples_used": text.examples,
                           "examples_usable": text.examples_usable, "examples_skipped": text.examples_skipped,
                           "token_budget_used": budget, "token_budget_bound": bound}
    store.set(training_tokens=text.tokens, settings=used,
              message=f"training on {text.tokens:,} tokens ({text.examples:,} of {text.examples_usable:,} examples, "
                      f"cut by the {bound})" if text.examples < text.examples_usable else
                      f"training on {text.tokens:,} tokens ({text.examples:,} examples)")
    output_f32 = work / "tuned-f32.gguf"
    command = trainer.finetune_command(base_f32, text_file, output_f32, epochs=options.epochs, context=context,
                                       learning_rate=options.learning_rate, threads=options.threads)
    deadline = time.monotonic() + options.max_minutes * 60
    checked = {"at": 0.0, "written": 0.0}

    def should_stop() -> str | None:
        if stop.is_set():
            return "cancelled"
        if time.monotonic() > deadline:
            return "time budget"
        if time.monotonic() - checked["at"] >= 1.0:
            checked["at"] = time.monotonic()
            if store.job().status == "cancelling":
                return "cancelled"
        return None

    def progressed(progress: trainer.TrainingProgress) -> None:
        if time.monotonic() - checked["written"] < WRITE_EVERY_S and progress.fraction < 1:
            return
        checked["written"] = time.monotonic()
        store.set(progress=progress.fraction, message=progress.text(), epochs_done=float(progress.epoch))
        if on_progress:
            on_progress(store.job())

    outcome = trainer.train(command, options.epochs, log, progressed, should_stop)
    if outcome.status == "stopped":
        output_f32.unlink(missing_ok=True)
        status = "cancelled" if outcome.stop_reason == "cancelled" else "stopped_time"
        store.set(status=status, train_seconds=outcome.seconds, epochs_done=float(outcome.epochs_done),
                  message=f"stopped by the {outcome.stop_reason} after {outcome.seconds:.0f} s; no model kept"
                  if status == "stopped_time" else f"cancelled after {outcome.seconds:.0f} s; no model kept",
                  ended_at=utcnow())
        return
    if outcome.status == "failed":
        store.set(status="failed", error=outcome.error, train_seconds=outcome.seconds, message="failed", ended_at=utcnow())
        return
    alias = tuned_alias(job.base_model, job.job_id)
    store.set(message=f"requantising the tuned model to {trainer.SERVING_TYPE}", progress=1.0)
    served = local_engine.tuned_model_path(settings, alias)
    trainer.quantize(output_f32, served, trainer.SERVING_TYPE, trainer.context_length(base_f32))
    output_f32.unlink(missing_ok=True)
    served.with_suffix(".jinja").write_text(trainer.PLAIN_TEMPLATE, encoding="utf-8")
    served.with_suffix(".json").write_text(json.dumps({
        "alias": alias, "job_id": job.job_id, "base_model": job.base_model, "export_id": job.export_id,
        "export_directory": job.settings.get("export_directory"), "training_tokens": text.tokens,
        "epochs": options.epochs, "train_seconds": round(outcome.seconds, 1), "quantisation": trainer.SERVING_TYPE,
        "stop": [trainer.END_OF_TURN],
    }, indent=2))
    store.set(status="done", progress=1.0, epochs_done=float(outcome.epochs_done), train_seconds=outcome.seconds,
              output_path=str(served), candidate=f"local:{alias}", ended_at=utcnow(),
              message=f"trained {outcome.epochs_done} epoch(s) on {text.tokens:,} tokens in {outcome.seconds:.0f} s")


class JobThreads:
    """Jobs running in background threads of this process (the dashboard keeps one, cached)."""

    def __init__(self):
        self.threads: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self.errors: dict[str, str] = {}
        self.lock = threading.Lock()

    def start(self, workspace: Path, job_id: str) -> None:
        """Run the queued job in a daemon thread (a bug's message is kept in `errors`)."""
        with self.lock:
            if self.running(job_id):
                return
            stop = threading.Event()
            thread = threading.Thread(target=self._work, args=(workspace, job_id, stop), daemon=True)
            self.threads[job_id] = (thread, stop)
            thread.start()

    def _work(self, workspace: Path, job_id: str, stop: threading.Event) -> None:
        try:
            run_job(workspace, job_id, stop)
        except Exception as exc:  # the job is stored as failed; the page shows this too
            self.errors[job_id] = f"{type(exc).__name__}: {exc}"

    def running(self, job_id: str) -> bool:
        entry = self.threads.get(job_id)
        return entry is not None and entry[0].is_alive()

    def cancel(self, job_id: str) -> None:
        """Stop a job this process runs (its row is marked by `cancel_job`)."""
        entry = self.threads.get(job_id)
        if entry:
            entry[1].set()
