"""The demo's replay run: a synthetic, seeded run of the demo workspace, stored through the same
tables as a real run (`runs`, `run_requests`, `results`) and scored by the real scorers
(`analysis.quality.scoring.runner.score_run` writes `scores`), so Quality and Routing show on a
first visit what they show on real data. Only the demo workspace gets one, and it is labelled
synthetic everywhere it appears: run id DEMO_RUN_ID, candidate CANDIDATE (model
"llama-3.1-8b-instruct (demo)" on the reserved host demo-synthetic.invalid, never called).

The run: a stratified sample of SAMPLE_SIZE requests by task type (`analysis.replay.sampling`,
seed SEED; big enough that a 2-point non-inferiority verdict can be reached on the larger task
types) answered by a self-hosted 8B model. Per task type TASK_QUALITY sets exact counts
(`_misses`): of the requests whose incumbent answer is right (all of them where the reference is
the incumbent's answer) round(n × (1 − right)) are missed; of those it got wrong (ground truth
only) round(n × rescue) are answered right; round(n × timeouts) of all fail as a timeout after
their retries; which ones is a seeded draw. So it matches the incumbent on classification,
extraction and summaries and loses on code and reasoning. A miss is a wrong label or an answer
without one, broken JSON or a field off by a character, or free text that says something else.
Calls: input tokens = logged × TOKENIZER_RATIO, output tokens = logged × the task's `length` ×
uniform(0.8, 1.2) (a label: its characters / 4); time to first token = (PREFILL_BASE_MS + input
tokens × PREFILL_MS_PER_TOKEN) × lognormal(0, 0.25); latency = TTFT + output tokens /
uniform(DECODE_TOKENS_PER_S) s; cost $0 (self-hosted: the economics prices it as GPU time).

Default run (`default_run`): where a page or command picks a run by itself, any real run wins
over the demo's; the demo's run is the default only when it is the only one. It is also dated
before every run it joins, so "the newest run" reads the same.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import polars as pl

from analysis.quality.scoring.runner import score_run
from analysis.replay.prompt_adapter import PromptAdapter
from analysis.replay.providers.registry import Candidate
from analysis.replay.runs import RunParams
from analysis.replay.sampling import SampleSpec, draw
from analysis.store.database import rows, scalar, utcnow

DEMO_FILE_NAME = "demo-synthetic-log.jsonl"
"""The demo's synthetic log as ingested (`analysis.ingest.demo` writes it): the demo run answers
nothing but its requests."""

DEMO_RUN_ID = "demo-synthetic"
CANDIDATE = Candidate(provider="openai-compat", base_url="http://demo-synthetic.invalid/v1",
                      model="llama-3.1-8b-instruct (demo)")
SEED = 20261125
SAMPLE_SIZE = 1400
TOKENIZER_RATIO = 1.04  # Llama 3's tokenizer vs the incumbents' on the same text
PREFILL_BASE_MS, PREFILL_MS_PER_TOKEN = 70.0, 0.11
DECODE_TOKENS_PER_S = (55.0, 75.0)  # an 8B model, 8-bit weights, on an L4-class GPU
TIMEOUT_ERROR = "ReadTimeout: no answer within 60 s (4 attempts)"


@dataclass(frozen=True)
class TaskQuality:
    """How the demo candidate does on one task type: P(agrees with the reference) where the
    incumbent is right (`right`) and where it is wrong (`rescue`: ground truth only), the share of
    calls that time out, and its output length / the incumbent's."""
    right: float
    rescue: float = 0.0
    timeouts: float = 0.0
    length: float = 1.0


TASK_QUALITY = {
    "classification": TaskQuality(right=0.99, rescue=0.25),
    "extraction": TaskQuality(right=0.997, length=1.05),
    "summarisation": TaskQuality(right=1.0, length=1.15),
    "code": TaskQuality(right=0.70, timeouts=0.02, length=1.3),
    "reasoning": TaskQuality(right=0.55, timeouts=0.03, length=1.2),
}
OFF_TEXT = {
    "summarisation": "[synthetic demo answer: a summary that leaves out the customer's actual request]",
    "code": "[synthetic demo answer: code that calls a function the library does not have]",
    "reasoning": "[synthetic demo answer: a plan that skips the migration's rollback step]",
}
VAGUE_LABEL = "This ticket could belong to more than one queue; a human should look at it."


def is_demo_run(run_id: str | None) -> bool:
    """Whether `run_id` is the demo's synthetic run."""
    return run_id == DEMO_RUN_ID


def default_run(run_ids: Iterable[str]) -> str | None:
    """The rule for a run picked by default, over `run_ids` in the caller's order (newest first):
    the first run that is not the demo's synthetic run, else the demo's run, else None. So a real
    run replaces the demo's as soon as it exists, and the demo's never hides one."""
    ids = list(run_ids)
    return next((r for r in ids if not is_demo_run(r)), ids[0] if ids else None)


def _misses(rng: random.Random, sample: list[tuple]) -> tuple[set[str], set[str]]:
    """(request ids the candidate gets wrong, ids that time out), exact counts per task type:
    round(n × (1 − right)) of the requests whose incumbent is right (all of them without ground
    truth), all but round(n × rescue) of those whose incumbent is wrong, round(n × timeouts) of
    all, each a seeded draw."""
    wrong, timeouts = set(), set()
    for task in sorted({r[1] or "" for r in sample}):
        quality = TASK_QUALITY.get(task, TaskQuality(right=0.9))
        ids = [r[0] for r in sample if (r[1] or "") == task]
        missed_by_incumbent = [r[0] for r in sample if (r[1] or "") == task and r[2] is not None
                               and (r[3] or "").strip() != r[2]]
        held = [i for i in ids if i not in set(missed_by_incumbent)]
        wrong |= set(rng.sample(held, round(len(held) * (1 - quality.right))))
        wrong |= set(rng.sample(missed_by_incumbent, len(missed_by_incumbent)
                                - round(len(missed_by_incumbent) * quality.rescue)))
        timeouts |= set(rng.sample(ids, round(len(ids) * quality.timeouts)))
    return wrong, timeouts


def _answer(rng: random.Random, task: str, incumbent: str, label: str | None, labels: list[str], right: bool) -> str:
    """The demo candidate's answer: the reference when `right` (the ground-truth label, else the
    incumbent's answer), else a miss of the task's kind (module rules)."""
    if task == "classification" and label is not None:
        if right:
            return label
        return VAGUE_LABEL if rng.random() < 0.25 else rng.choice([x for x in labels if x != label] or [VAGUE_LABEL])
    if right:
        return incumbent
    if task == "extraction":
        if rng.random() < 0.5:
            return incumbent[: len(incumbent) // 2]  # cut off mid-object: invalid JSON
        fields = json.loads(incumbent)
        key = rng.choice(sorted(fields))
        return json.dumps({**fields, key: str(fields[key])[:-1]})  # one field missing its last character
    return OFF_TEXT.get(task, "[synthetic demo answer that misses the point]")


def _sample(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(request_id, task_type, label, incumbent answer, input tokens, output tokens) of the sample,
    in its order."""
    ids = draw(con, SampleSpec(size=SAMPLE_SIZE, strategy="stratified", seed=SEED))
    found = {r[0]: r for r in rows(con, """
        SELECT request_id, task_type, label, output_text, input_tokens, output_tokens FROM requests
        WHERE request_id IN (SELECT unnest(?::VARCHAR[]))""", [ids])}
    return [found[r] for r in ids]


def _results(con: duckdb.DuckDBPyConnection, created: datetime) -> pl.DataFrame:
    """The run's `results` rows (module rules), seeded; finished_at counts from `created`, four
    calls at a time."""
    rng = random.Random(SEED)
    labels = [r[0] for r in rows(con, "SELECT DISTINCT label FROM requests WHERE label IS NOT NULL ORDER BY 1")]
    sample = _sample(con)
    wrong, timeouts = _misses(rng, sample)
    out, clock = [], created
    for request_id, task, label, incumbent, logged_in, logged_out in sample:
        quality = TASK_QUALITY.get(task, TaskQuality(right=0.9))
        answer = _answer(rng, task or "", incumbent or "", label, labels, request_id not in wrong)
        input_tokens = max(1, round((logged_in or 1) * TOKENIZER_RATIO))
        output_tokens = (max(1, math.ceil(len(answer) / 4)) if task == "classification"
                         else max(1, round((logged_out or 1) * quality.length * rng.uniform(0.8, 1.2))))
        ttft = (PREFILL_BASE_MS + input_tokens * PREFILL_MS_PER_TOKEN) * rng.lognormvariate(0, 0.25)
        speed = rng.uniform(*DECODE_TOKENS_PER_S)
        latency = ttft + output_tokens / speed * 1000
        clock += timedelta(milliseconds=latency / 4)
        if request_id in timeouts:
            out.append((DEMO_RUN_ID, CANDIDATE.spec, request_id, None, None, None, None, None, None, None, 0.0,
                        "failed", TIMEOUT_ERROR, 4, clock))
        else:
            out.append((DEMO_RUN_ID, CANDIDATE.spec, request_id, answer, input_tokens, output_tokens, True,
                        round(latency, 1), round(ttft, 1), round(speed, 2), 0.0, "ok", None, 1, clock))
    return pl.DataFrame(out, orient="row", schema={
        "run_id": pl.String, "candidate": pl.String, "request_id": pl.String, "output_text": pl.String,
        "input_tokens": pl.Int64, "output_tokens": pl.Int64, "usage_reported": pl.Boolean, "latency_ms": pl.Float64,
        "ttft_ms": pl.Float64, "tokens_per_s": pl.Float64, "cost_usd": pl.Float64, "status": pl.String,
        "error": pl.String, "attempts": pl.Int32, "finished_at": pl.Datetime("us")})


def ensure_demo_run(con: duckdb.DuckDBPyConnection) -> str | None:
    """Store and score the demo's run in `con`, the demo workspace, unless it is there; its id,
    or None (nothing written) when the workspace holds requests of any file but the demo's
    synthetic log (it never answers a user's own requests). Call it only on the demo workspace."""
    if not scalar(con, "SELECT count(*) FROM runs WHERE run_id = ?", [DEMO_RUN_ID]):
        if scalar(con, "SELECT count(*) FROM sources WHERE file_name <> ?", [DEMO_FILE_NAME]) or not scalar(
                con, "SELECT count(*) FROM sources WHERE file_name = ?", [DEMO_FILE_NAME]):
            return None
        earliest = scalar(con, "SELECT min(created_at) FROM runs")
        created = min(utcnow(), earliest - timedelta(seconds=1)) if earliest else utcnow()
        results = _results(con, created)
        con.execute("BEGIN TRANSACTION").fetchall()
        try:
            con.execute("""INSERT INTO runs (run_id, created_at, sample_spec, candidates, adapter, params, budget_usd,
                                             estimate_usd, status, updated_at, errors)
                           VALUES (?, ?, ?, ?, ?, ?, NULL, 0.0, 'done', ?, '{}')""", [
                DEMO_RUN_ID, created, SampleSpec(size=SAMPLE_SIZE, strategy="stratified", seed=SEED).model_dump_json(),
                json.dumps([CANDIDATE.model_dump()]), PromptAdapter().model_dump_json(),
                RunParams(max_tokens=1024).model_dump_json(), results["finished_at"].max()]).fetchall()
            con.register("_demo_results", results.with_row_index("position", offset=1))
            con.execute("""INSERT INTO run_requests (run_id, request_id, position)
                           SELECT run_id, request_id, position FROM _demo_results""").fetchall()
            columns = ", ".join(results.columns)
            con.execute(f"INSERT INTO results ({columns}) SELECT {columns} FROM _demo_results").fetchall()
            con.execute("COMMIT").fetchall()
        except BaseException:
            con.execute("ROLLBACK").fetchall()
            raise
        finally:
            con.unregister("_demo_results")
    if not scalar(con, "SELECT count(*) FROM scores WHERE run_id = ?", [DEMO_RUN_ID]):
        score_run(con, DEMO_RUN_ID)
    return DEMO_RUN_ID
