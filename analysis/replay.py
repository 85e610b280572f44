"""Replay runs: send a frozen sample of logged requests to candidate models, measured and budgeted.

- A run = sample spec x candidates x prompt adapter x parameters, stored in `runs` with its sample
  in `run_requests`; results go to `results`, one row per (run, candidate, request), written as
  each call finishes. Running a run again sends only what has no result yet, so a killed process
  (even SIGKILL) resumes without re-sending anything whose result was stored.
- Retries: 429, 5xx, timeouts and connection errors are retried up to `max_attempts` with
  exponential backoff and full jitter (delay = uniform(0, min(cap, base x 2^attempt))), or the
  server's Retry-After when it gives one; a request that keeps failing is stored as failed.
- Budget: estimate = sum over API candidates and sampled requests of the candidate's genai-prices
  unit prices x (logged input tokens + few-shot tokens, incumbent's output tokens); a run whose
  estimate exceeds the budget is refused. While running, a request is sent only if
  spent + estimates of the requests in flight + its own estimate <= budget. Local candidates
  cost nothing per call (they are priced as GPU time by the economics).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

import duckdb
import polars as pl
from pydantic import BaseModel, Field

from analysis import pricing, sampling
from analysis.db import frame, rows, utcnow
from analysis.prompt_adapter import PromptAdapter, build_messages, load_examples, resolve
from analysis.providers import registry
from analysis.providers.base import Completion, CompletionRequest, FatalError, RetryableError, UnreachableError

CHARS_PER_TOKEN = 4  # for estimating few-shot and unreported token counts


class BudgetError(ValueError):
    """The run's estimated cost exceeds its budget."""


class RunParams(BaseModel):
    model_config = {"extra": "forbid"}

    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=1, le=32_768)
    concurrency: int = Field(4, ge=1, le=256)
    timeout_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(4, ge=1, le=20)
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_cap_s: float = Field(30.0, gt=0)


@dataclass
class Progress:
    run_id: str
    total: int
    done: int = 0
    failed: int = 0
    spent_usd: float = 0.0
    estimate_usd: float = 0.0
    budget_usd: float | None = None
    eta_s: float | None = None
    status: str = "created"
    errors: dict[str, str] = field(default_factory=dict)  # candidate -> why it was given up

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Item:
    candidate: str
    request_id: str
    estimate: float


def estimate_costs(con: duckdb.DuckDBPyConnection, candidates: list[registry.Candidate], request_ids: list[str],
                   extra_input_tokens: int = 0) -> dict[str, dict[str, float]]:
    """Per candidate spec: {request_id: estimated USD} (see the module's budget rule); local
    candidates 0. Raises BudgetError for an API model genai-prices cannot price."""
    tokens = rows(con, """SELECT request_id, coalesce(input_tokens, length(input_text) / 4, 0),
                                 coalesce(output_tokens, 0) FROM requests
                          WHERE request_id IN (SELECT unnest(?::VARCHAR[]))""", [request_ids])
    estimates = {}
    for candidate in candidates:
        if candidate.is_local:
            estimates[candidate.spec] = {r: 0.0 for r, _, _ in tokens}
            continue
        prices = pricing.unit_prices(candidate.model, candidate.provider)
        if prices is None:
            raise BudgetError(f"no price is known for {candidate.model!r} (genai-prices); cannot budget this run")
        estimates[candidate.spec] = {r: prices.cost(int(i) + extra_input_tokens, int(o)) for r, i, o in tokens}
    return estimates


def create_run(con: duckdb.DuckDBPyConnection, candidate_specs: list[str], sample: sampling.SampleSpec,
               adapter: PromptAdapter | None = None, params: RunParams | None = None,
               budget_usd: float | None = None) -> str:
    """Draw the sample, resolve the adapter, estimate the cost and store the run; returns its id.
    Raises BudgetError (storing nothing) when the estimate exceeds `budget_usd`."""
    candidates = [registry.parse_candidate_spec(s) for s in candidate_specs]
    if not candidates:
        raise ValueError("a run needs at least one candidate")
    params = params or RunParams()
    request_ids = sampling.draw(con, sample)
    if not request_ids:
        raise ValueError("no replayable request matches the sample (status ok, with logged messages)")
    adapter = resolve(con, adapter or PromptAdapter(), request_ids, sample.seed)
    few_shot_tokens = sum(len(m["content"] or "") + len(a or "") for ms, a in load_examples(con, adapter)
                          for m in ms[-1:]) // CHARS_PER_TOKEN
    estimate = sum(sum(v.values()) for v in estimate_costs(con, candidates, request_ids, few_shot_tokens).values())
    if budget_usd is not None and estimate > budget_usd:
        raise BudgetError(f"estimated cost ${estimate:.4f} exceeds the budget ${budget_usd:.4f}; "
                          "lower the sample size or raise the budget")
    run_id = uuid.uuid4().hex[:12]
    now = utcnow()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'created', ?)", [
            run_id, now, sample.model_dump_json(), json.dumps([c.model_dump() for c in candidates]),
            adapter.model_dump_json(), params.model_dump_json(), budget_usd, estimate, now])
        con.execute("""INSERT INTO run_requests SELECT ?, unnest(?::VARCHAR[]), unnest(range(1, ?))""",
                    [run_id, request_ids, len(request_ids) + 1])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return run_id


def _backoff(attempt: int, params: RunParams, retry_after: float | None, rng: random.Random) -> float:
    if retry_after is not None:
        return min(retry_after, params.backoff_cap_s)
    return rng.uniform(0, min(params.backoff_cap_s, params.backoff_base_s * 2 ** attempt))


def _call(provider, request: CompletionRequest, params: RunParams, stop: threading.Event) -> tuple[Completion | None, str | None, int, bool]:
    """(completion, error, attempts, unreachable) after retries."""
    rng = random.Random()
    error, unreachable = None, False
    for attempt in range(1, params.max_attempts + 1):
        try:
            return provider.complete(request), None, attempt, False
        except FatalError as exc:
            return None, str(exc), attempt, False
        except (RetryableError, UnreachableError) as exc:
            error, unreachable = str(exc), isinstance(exc, UnreachableError)
            if attempt == params.max_attempts or stop.wait(_backoff(attempt, params, getattr(exc, "retry_after_s", None), rng)):
                break
    return None, error, params.max_attempts, unreachable


def _cost(candidate: registry.Candidate, completion: Completion, request: CompletionRequest) -> tuple[float, int, int]:
    """(USD, input tokens, output tokens): reported usage, else estimated from characters."""
    input_tokens = completion.input_tokens
    if input_tokens is None:
        input_tokens = sum(len(m["content"] or "") for m in request.messages) // CHARS_PER_TOKEN
    output_tokens = completion.output_tokens
    if output_tokens is None:
        output_tokens = len(completion.text or "") // CHARS_PER_TOKEN
    if candidate.is_local:
        return 0.0, input_tokens, output_tokens
    prices = pricing.unit_prices(candidate.model, candidate.provider)
    return (prices.cost(input_tokens, output_tokens) if prices else 0.0), input_tokens, output_tokens


def execute(con: duckdb.DuckDBPyConnection, run_id: str, on_progress: Callable[[Progress], None] | None = None,
            stop: threading.Event | None = None) -> Progress:
    """Send everything of the run that has no result yet (see the module rules); returns the
    final progress. `stop` ends the run early (status 'interrupted'); a later call resumes it."""
    stop = stop or threading.Event()
    run = rows(con, "SELECT candidates, adapter, params, budget_usd, estimate_usd FROM runs WHERE run_id = ?", [run_id])
    if not run:
        raise ValueError(f"no run {run_id!r}")
    candidates = [registry.Candidate(**c) for c in json.loads(run[0][0])]
    adapter, params = PromptAdapter.model_validate_json(run[0][1]), RunParams.model_validate_json(run[0][2])
    budget, estimate = run[0][3], run[0][4]
    sample = rows(con, """SELECT q.request_id, r.input_messages FROM run_requests q JOIN requests r USING (request_id)
                          WHERE q.run_id = ? ORDER BY q.position""", [run_id])
    messages = {rid: json.loads(m) if isinstance(m, str) else m for rid, m in sample}
    examples = load_examples(con, adapter)
    estimates = estimate_costs(con, candidates, list(messages))
    finished = {(c, r) for c, r in rows(con, "SELECT candidate, request_id FROM results WHERE run_id = ?", [run_id])}
    pending = [_Item(c.spec, rid, estimates[c.spec][rid]) for rid in messages for c in candidates
               if (c.spec, rid) not in finished]
    progress = Progress(run_id, total=len(messages) * len(candidates), estimate_usd=estimate, budget_usd=budget)
    _refresh(con, progress)
    providers = {c.spec: registry.build_provider(c) for c in candidates}
    by_spec = {c.spec: c for c in candidates}
    _set_status(con, run_id, "running")
    progress.status = "running"
    started, sent = time.monotonic(), 0
    in_flight: dict[Future, tuple[_Item, CompletionRequest]] = {}
    stopped_by_budget = False
    with ThreadPoolExecutor(params.concurrency) as pool:
        while (pending or in_flight) and not stop.is_set():
            while pending and len(in_flight) < params.concurrency and not stop.is_set():
                item = pending.pop(0)
                if item.candidate in progress.errors:
                    continue
                reserved = sum(i.estimate for i, _ in in_flight.values())
                if budget is not None and item.estimate and progress.spent_usd + reserved + item.estimate > budget:
                    stopped_by_budget = True  # paid calls stop here; free (local) ones go on
                    pending = [i for i in pending if not i.estimate]
                    continue
                request = CompletionRequest(
                    messages=build_messages(adapter, messages[item.request_id], examples),
                    max_tokens=params.max_tokens, temperature=params.temperature, timeout_s=params.timeout_s,
                    labels=adapter.labels or None, json_schema=adapter.json_schema)
                in_flight[pool.submit(_call, providers[item.candidate], request, params, stop)] = (item, request)
                sent += 1
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                item, request = in_flight.pop(future)
                completion, error, attempts, unreachable = future.result()
                if completion is None and stop.is_set() and attempts < params.max_attempts:
                    continue  # interrupted mid-retry: leave it pending for the next run
                _store(con, run_id, by_spec[item.candidate], item, request, completion, error, attempts, progress)
                if unreachable:
                    progress.errors[item.candidate] = error
            elapsed = time.monotonic() - started
            remaining = len(pending) + len(in_flight)
            progress.eta_s = elapsed / max(sent - len(in_flight), 1) * remaining if remaining else 0.0
            if on_progress:
                on_progress(progress)
    complete = progress.done + progress.failed == progress.total
    progress.status = ("done" if complete else "stopped_budget" if stopped_by_budget
                       else "interrupted" if stop.is_set() or progress.errors else "done")
    _set_status(con, run_id, progress.status)
    if on_progress:
        on_progress(progress)
    return progress


def _store(con, run_id: str, candidate: registry.Candidate, item: _Item, request: CompletionRequest,
           completion: Completion | None, error: str | None, attempts: int, progress: Progress) -> None:
    cost, input_tokens, output_tokens = (_cost(candidate, completion, request) if completion else (0.0, None, None))
    con.execute(
        """INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING""",
        [run_id, item.candidate, item.request_id, completion.text if completion else None, input_tokens,
         output_tokens, completion.usage_reported if completion else None,
         completion.latency_ms if completion else None, completion.ttft_ms if completion else None,
         completion.output_tokens_per_s if completion else None, cost,
         "ok" if completion else "failed", error, attempts, utcnow()])
    progress.spent_usd += cost
    if completion:
        progress.done += 1
    else:
        progress.failed += 1


def _set_status(con, run_id: str, status: str) -> None:
    con.execute("UPDATE runs SET status = ?, updated_at = ? WHERE run_id = ?", [status, utcnow(), run_id])


def _refresh(con, progress: Progress) -> None:
    """Counts and spend from the results already stored (a resumed run starts from them)."""
    done, failed, spent = rows(con, """SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status = 'failed'),
                                              coalesce(sum(cost_usd), 0) FROM results WHERE run_id = ?""", [progress.run_id])[0]
    progress.done, progress.failed, progress.spent_usd = done, failed, spent


def progress_of(con: duckdb.DuckDBPyConnection, run_id: str) -> Progress:
    """A run's progress read from the database (works from any process, e.g. a page reload)."""
    found = rows(con, """SELECT (SELECT count(*) FROM run_requests WHERE run_id = r.run_id) * json_array_length(candidates),
                                budget_usd, estimate_usd, status FROM runs r WHERE run_id = ?""", [run_id])
    if not found:
        raise ValueError(f"no run {run_id!r}")
    total, budget, estimate, status = found[0]
    progress = Progress(run_id, total=total, budget_usd=budget, estimate_usd=estimate, status=status)
    _refresh(con, progress)
    return progress


def list_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every run with its candidates, sample size, status, results and spend, newest first."""
    return frame(con, """
        SELECT r.run_id, r.created_at, r.status, r.candidates, r.budget_usd, r.estimate_usd,
               (SELECT count(*) FROM run_requests q WHERE q.run_id = r.run_id) AS sample_size,
               count(x.request_id) FILTER (WHERE x.status = 'ok') AS ok,
               count(x.request_id) FILTER (WHERE x.status = 'failed') AS failed,
               coalesce(sum(x.cost_usd), 0) AS spent_usd
        FROM runs r LEFT JOIN results x USING (run_id)
        GROUP BY ALL ORDER BY r.created_at DESC""")
