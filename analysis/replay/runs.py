"""Replay runs: send a frozen sample of logged requests to candidate models, measured and budgeted.

- A run = sample spec x candidates x prompt adapter x parameters, stored in `runs` (the resolved
  adapter with it, so results can be reproduced) with its sample in `run_requests`; results go to
  `results`, one row per (run, candidate, request), written as each call finishes. Running a run
  again sends only what has no result yet, so a killed process (even SIGKILL) resumes without
  re-sending anything whose result was stored: a finished call's result is written before its slot
  gets a new call, so at most `concurrency` calls are ever sent and not yet stored (those a kill
  sends again). The executing process is recorded as the run's owner (pid, host, the pid's start
  time); a 'running' run whose owner is gone from this host reads 'interrupted' (`owner_gone`).
- Status at the end: 'done' when every call has a result and at least one answered, 'failed' when
  every call failed, 'stopped_budget', else 'interrupted'.
- Retries: 429, 5xx, timeouts and connection errors are retried up to `max_attempts` with
  exponential backoff and full jitter (delay = uniform(0, min(cap, base x 2^attempt))), or the
  server's Retry-After (capped at `backoff_cap_s`) when it gives one; a request that keeps failing
  is stored as failed with its error, and the run goes on.
- Candidate errors: an endpoint still unreachable after the retries, a missing key, a refused key
  (401/403) or an unknown model (404) give the candidate up for this execution (`Progress.errors`
  says why); its unsent requests get no result, so running the run again once fixed sends them.
- Budget: estimate = sum over API candidates and sampled requests of the candidate's genai-prices
  unit prices x (logged input tokens + few-shot tokens, incumbent's output tokens); a run whose
  estimate exceeds the budget is refused. While running, each paid call reserves its ceiling,
  prices x (UTF-8 bytes of its messages and tools + TEMPLATE_TOKENS per message, max_tokens) (a
  token is at least one byte), and is sent only if spent + the ceilings in flight + its own ceiling <= budget,
  so the spent amount never exceeds the budget. The first call that does not fit stops every paid
  call (status 'stopped_budget', the reason in `Progress.errors`); local ones go on. Local
  candidates cost nothing per call (they are priced as GPU time by the economics).
- Tools: a logged request's tools (`request_params.tools`) are offered to every candidate, whose
  tool calls come back in the stored answer (`providers.base.with_tool_calls`).
- Progress, after each result: done, failed, spent, and ETA = elapsed x remaining / results of
  this execution (remaining: requests still to send or in flight, given-up candidates excluded).
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

import duckdb
import polars as pl
from pydantic import BaseModel, Field

from analysis.economics import prices as pricing
from analysis.errors import NotFound, UserError
from analysis.redact import configured_secrets, redact, redact_secrets
from analysis.replay import sampling
from analysis.replay.prompt_adapter import PromptAdapter, build_messages, load_examples, logged_messages, resolve
from analysis.replay.providers import registry
from analysis.replay.providers.base import (
    CHARS_PER_TOKEN,
    Completion,
    CompletionRequest,
    FatalError,
    ProviderError,
    UnreachableError,
)
from analysis.settings import get_settings
from analysis.store import access
from analysis.store.database import frame, rows, utcnow

TEMPLATE_TOKENS = 24  # per message, and once more: what a chat template adds (markers, preamble)
CANDIDATE_STATUS = frozenset({401, 403, 404})  # fatal for every request of the candidate
HANDOVER_CHECK_S = 0.2  # while calls are in flight, how often to look for processes waiting for the workspace
INSERT_RESULT = f"INSERT INTO results VALUES ({', '.join('?' * 15)}) ON CONFLICT DO NOTHING"


class BudgetError(UserError):
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
class _Outcome:
    """What `_call` ended with: a completion, else the last error; `give_up` when the error
    concerns the whole candidate, `interrupted` when `stop` cut the retries short."""

    completion: Completion | None
    error: str | None
    attempts: int
    give_up: bool = False
    interrupted: bool = False


def estimate_costs(con: duckdb.DuckDBPyConnection, candidates: list[registry.Candidate], request_ids: list[str],
                   extra_input_tokens: int = 0) -> dict[str, dict[str, float]]:
    """Per candidate spec: {request_id: estimated USD} (see the module's budget rule); local
    candidates 0. Raises BudgetError for an API model genai-prices cannot price."""
    tokens = rows(con, f"""SELECT request_id, coalesce(input_tokens, length(input_text) // {CHARS_PER_TOKEN}, 0),
                                  coalesce(output_tokens, 0) FROM requests
                           WHERE request_id IN (SELECT unnest(?::VARCHAR[]))""", [request_ids])
    estimates = {}
    for candidate in candidates:
        prices = _prices(candidate)
        estimates[candidate.spec] = {r: prices.cost(int(i) + extra_input_tokens, int(o)) if prices else 0.0
                                     for r, i, o in tokens}
    return estimates


def _prices(candidate: registry.Candidate) -> pricing.UnitPrices | None:
    """None for a local candidate; raises BudgetError for an API model without a known price."""
    if candidate.is_local:
        return None
    prices = pricing.unit_prices(candidate.model, candidate.provider)
    if prices is None:
        raise BudgetError(f"no price is known for {candidate.model!r} (genai-prices); cannot budget this run")
    return prices


def few_shot_tokens(adapter: PromptAdapter, examples: list[tuple[list[dict], str]]) -> int:
    """Estimated tokens the few-shot turns add to every request: their characters / CHARS_PER_TOKEN."""
    turns = build_messages(adapter.model_copy(update={"system_prompt": None}), [], examples)
    return sum(len(m["content"] or "") for m in turns) // CHARS_PER_TOKEN


@dataclass(frozen=True)
class RunEstimate:
    """What a run would send and cost, before anything is stored: the parsed candidates, the drawn
    sample, the resolved adapter and, per candidate spec, the estimate of the module's budget rule."""
    candidates: list
    request_ids: list[str]
    adapter: PromptAdapter
    per_candidate_usd: dict[str, float]

    @property
    def requests(self) -> int:
        return len(self.request_ids)

    @property
    def total_usd(self) -> float:
        return sum(self.per_candidate_usd.values())

    def within(self, budget_usd: float | None) -> bool:
        return budget_usd is None or self.total_usd <= budget_usd


def estimate_run(con: duckdb.DuckDBPyConnection, candidate_specs: list[str], sample: sampling.SampleSpec,
                 adapter: PromptAdapter | None = None) -> RunEstimate:
    """Draw the sample, resolve the adapter and estimate the cost (budget rule), storing nothing.
    Raises UserError for no, repeated or bad candidate specs and an empty sample, and BudgetError
    for an API model that genai-prices cannot price."""
    candidates = [registry.parse_candidate_spec(s) for s in candidate_specs]
    if not candidates:
        raise UserError("a run needs at least one candidate")
    if len({c.spec for c in candidates}) < len(candidates):
        raise UserError("the same candidate is given twice")
    request_ids = sampling.draw(con, sample)
    if not request_ids:
        raise UserError("no replayable request matches the sample (status ok, with logged messages)")
    resolved = resolve(con, adapter or PromptAdapter(), request_ids, sample.seed)
    costs = estimate_costs(con, candidates, request_ids, few_shot_tokens(resolved, load_examples(con, resolved)))
    return RunEstimate(candidates, request_ids, resolved, {spec: sum(v.values()) for spec, v in costs.items()})


def create_run(con: duckdb.DuckDBPyConnection, candidate_specs: list[str], sample: sampling.SampleSpec,
               adapter: PromptAdapter | None = None, params: RunParams | None = None,
               budget_usd: float | None = None) -> str:
    """Store the run `estimate_run` describes; returns its id. Raises BudgetError (storing
    nothing) when the estimate exceeds `budget_usd`, and UserError when a candidate's API key is
    not set (a stored run could only give that candidate up)."""
    planned = estimate_run(con, candidate_specs, sample, adapter)
    settings = get_settings()
    for c in planned.candidates:
        provider = registry.PROVIDERS[c.provider]
        if provider.needs_key and not registry.api_key_for(c, settings):
            raise UserError(f"{c.spec}: {provider.name} needs an API key: set {provider.key_env_var}")
    candidates, request_ids, adapter = planned.candidates, planned.request_ids, planned.adapter
    estimate, params = planned.total_usd, params or RunParams()
    if not planned.within(budget_usd):
        raise BudgetError(f"estimated cost ${estimate:.4f} exceeds the budget ${budget_usd:.4f}; "
                          "lower the sample size or raise the budget")
    run_id = uuid.uuid4().hex[:12]
    now = utcnow()
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        con.execute("""INSERT INTO runs (run_id, created_at, sample_spec, candidates, adapter, params, budget_usd,
                                         estimate_usd, status, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'created', ?)""", [
            run_id, now, sample.model_dump_json(), json.dumps([c.model_dump() for c in candidates]),
            adapter.model_dump_json(), params.model_dump_json(), budget_usd, estimate, now]).fetchall()
        con.execute("""INSERT INTO run_requests SELECT ?, unnest(?::VARCHAR[]), unnest(range(1, ?))""",
                    [run_id, request_ids, len(request_ids) + 1]).fetchall()
        con.execute("COMMIT").fetchall()
    except BaseException:
        con.execute("ROLLBACK").fetchall()
        raise
    return run_id


def _backoff(attempt: int, params: RunParams, retry_after: float | None, rng: random.Random) -> float:
    if retry_after is not None:
        return min(retry_after, params.backoff_cap_s)
    return rng.uniform(0, min(params.backoff_cap_s, params.backoff_base_s * 2 ** attempt))


def _call(provider, request: CompletionRequest, params: RunParams, stop: threading.Event) -> _Outcome:
    """One request with the module's retry rule."""
    rng, attempt = random.Random(), 0
    while True:
        attempt += 1
        try:
            return _Outcome(provider.complete(request), None, attempt)
        except FatalError as exc:
            return _Outcome(None, str(exc), attempt, give_up=exc.status_code in CANDIDATE_STATUS)
        except ProviderError as exc:  # retryable, unreachable included
            if attempt >= params.max_attempts:
                return _Outcome(None, str(exc), attempt, give_up=isinstance(exc, UnreachableError))
            if stop.wait(_backoff(attempt, params, getattr(exc, "retry_after_s", None), rng)):
                return _Outcome(None, str(exc), attempt, interrupted=True)


def _cost(prices: pricing.UnitPrices | None, completion: Completion,
          request: CompletionRequest) -> tuple[float, int, int]:
    """(USD, input tokens, output tokens): reported usage, else estimated from characters."""
    input_tokens = completion.input_tokens
    if input_tokens is None:
        input_tokens = sum(len(m["content"] or "") for m in request.messages) // CHARS_PER_TOKEN
    output_tokens = completion.output_tokens_or_estimate
    return (prices.cost(input_tokens, output_tokens) if prices else 0.0), input_tokens, output_tokens


def ceiling_cost(prices: pricing.UnitPrices | None, request: CompletionRequest) -> float:
    """The most one call can cost (the module's budget rule): 0 for a local candidate."""
    if prices is None:
        return 0.0
    input_bytes = (sum(len((m["content"] or "").encode()) for m in request.messages)
                   + len(json.dumps(request.tools).encode() if request.tools else b""))
    return prices.cost(input_bytes + TEMPLATE_TOKENS * (len(request.messages) + 1), request.max_tokens)


def execute(workspace: access.Workspace | duckdb.DuckDBPyConnection, run_id: str,
            on_progress: Callable[[Progress], None] | None = None, stop: threading.Event | None = None) -> Progress:
    """Send everything of the run that has no result yet (see the module rules); returns the
    final progress. `stop` ends the run early: nothing new is sent, calls in flight finish and
    are stored (status 'interrupted'); a later call resumes it. Given an `access.Workspace`, its
    write connection is handed over whenever another process waits for the workspace (checked
    every HANDOVER_CHECK_S), so others read and write it while the run goes on; given a
    connection, that one is used."""
    stop = stop or threading.Event()
    run = _Execution(access.workspace_of(workspace), run_id, stop)
    try:
        with ThreadPoolExecutor(run.params.concurrency) as pool:
            try:
                run.fill(pool)
                while run.in_flight:
                    finished, _ = wait(run.in_flight, timeout=HANDOVER_CHECK_S, return_when=FIRST_COMPLETED)
                    run.workspace.hand_over()  # another process waits for the workspace: its turn first
                    if not finished:
                        continue
                    if stored := [row for future in finished if (row := run.collect(future))]:
                        with run.workspace.writing(run.purpose) as con:
                            con.executemany(INSERT_RESULT, stored).fetchall()
                    run.fill(pool)  # only now: a kill re-sends at most `concurrency` calls
                    run.update_eta()
                    if on_progress:
                        on_progress(run.progress)
            except BaseException:
                stop.set()  # end the retries in flight at once
                raise
    finally:
        try:
            run.finish()
        finally:
            run.workspace.release()
    if on_progress:
        on_progress(run.progress)
    return run.progress


class _Execution:
    """The state of one `execute`: what is left to send, what is in flight, the budget reserved."""

    def __init__(self, workspace: access.Workspace | access.Connected, run_id: str, stop: threading.Event):
        self.workspace, self.run_id, self.stop = workspace, run_id, stop
        self.purpose = f"replay run {run_id}"
        with workspace.reading() as con:
            found = rows(con, "SELECT candidates, adapter, params, budget_usd, estimate_usd FROM runs WHERE run_id = ?",
                         [run_id])
            if not found:
                raise NotFound(f"no run {run_id!r}")
            specs, adapter, params, budget, estimate = found[0]
            self.candidates = [registry.Candidate(**c) for c in json.loads(specs)]
            self.adapter = PromptAdapter.model_validate_json(adapter)
            self.params = RunParams.model_validate_json(params)
            self.budget = budget
            sample = rows(con, """SELECT q.request_id, r.input_messages, r.request_params->'tools' FROM run_requests q
                                  JOIN requests r USING (request_id) WHERE q.run_id = ? ORDER BY q.position""", [run_id])
            self.messages = {rid: logged_messages(m) for rid, m, _ in sample}
            self.tools = {rid: json.loads(tools) for rid, _, tools in sample if tools is not None}
            self.examples = load_examples(con, self.adapter)
            stored = set(rows(con, "SELECT candidate, request_id FROM results WHERE run_id = ?", [run_id]))
            self.pending = deque((c.spec, rid) for rid in self.messages for c in self.candidates
                                 if (c.spec, rid) not in stored)
            self.left = Counter(spec for spec, _ in self.pending)  # per candidate: not sent yet
            self.progress = Progress(run_id, total=len(self.messages) * len(self.candidates), estimate_usd=estimate,
                                     budget_usd=budget)
            _refresh(con, self.progress)
        self.prices = {c.spec: _prices(c) for c in self.candidates}
        self.secrets = configured_secrets(registry.api_key_for(c, get_settings()) for c in self.candidates)
        self.providers = {}
        for c in self.candidates:
            try:
                self.providers[c.spec] = registry.build_provider(c)
            except ProviderError as exc:
                self.progress.errors[c.spec] = str(exc)
        self.in_flight: dict[Future, tuple[str, str, CompletionRequest, float]] = {}
        self.reserved = 0.0  # ceilings of the paid calls in flight
        self.stopped_by_budget = False
        self.started, self.handled = time.monotonic(), 0
        with workspace.writing(self.purpose) as con:
            _set_status(con, run_id, "running")
            con.execute("UPDATE runs SET owner_pid = ?, owner_host = ?, owner_started = ? WHERE run_id = ?",
                        [os.getpid(), socket.gethostname(), _process_started(os.getpid()), run_id]).fetchall()
        self.progress.status = "running"

    def fill(self, pool: ThreadPoolExecutor) -> None:
        """Send pending requests until every slot is busy (the budget rule decides for paid ones)."""
        while self.pending and len(self.in_flight) < self.params.concurrency and not self.stop.is_set():
            spec, request_id = self.pending.popleft()
            self.left[spec] -= 1
            if spec in self.progress.errors:
                continue
            request = CompletionRequest(
                messages=build_messages(self.adapter, self.messages[request_id], self.examples),
                max_tokens=self.params.max_tokens, temperature=self.params.temperature,
                timeout_s=self.params.timeout_s, labels=self.adapter.labels or None,
                json_schema=self.adapter.json_schema, tools=self.tools.get(request_id))
            ceiling = ceiling_cost(self.prices[spec], request)
            spent = self.progress.spent_usd
            if self.budget is not None and ceiling and spent + self.reserved + ceiling > self.budget:
                self.stopped_by_budget = True
                why = (f"stopped by the budget: spent ${spent:.6f} + in flight up to ${self.reserved:.6f} "
                       f"+ next call up to ${ceiling:.6f} would exceed ${self.budget:.6f}")
                for c in self.candidates:
                    if self.prices[c.spec] is not None and (self.left[c.spec] or c.spec == spec):
                        self.progress.errors.setdefault(c.spec, why)
                continue
            future = pool.submit(_call, self.providers[spec], request, self.params, self.stop)
            self.in_flight[future] = (spec, request_id, request, ceiling)
            self.reserved += ceiling

    def collect(self, future: Future) -> list | None:
        """Account a finished call; its `results` row, or None when it gets no result (interrupted,
        or its candidate given up)."""
        spec, request_id, request, ceiling = self.in_flight.pop(future)
        self.reserved -= ceiling
        outcome: _Outcome = future.result()
        outcome.error = redact(outcome.error, self.secrets)  # an endpoint may echo the key back
        if outcome.give_up:
            self.progress.errors.setdefault(spec, outcome.error)
        if outcome.interrupted or outcome.give_up:
            return None
        completion = outcome.completion
        self.handled += 1
        if completion is None:
            self.progress.failed += 1
            return [self.run_id, spec, request_id, None, None, None, None, None, None, None, 0.0, "failed",
                    outcome.error, outcome.attempts, utcnow()]
        cost, input_tokens, output_tokens = _cost(self.prices[spec], completion, request)
        self.progress.spent_usd += cost
        self.progress.done += 1
        return [self.run_id, spec, request_id, redact_secrets(completion.text, self.secrets), input_tokens, output_tokens,
                completion.usage_reported, completion.latency_ms, completion.ttft_ms,
                completion.output_tokens_per_s, cost, "ok", None, outcome.attempts, utcnow()]

    def update_eta(self) -> None:
        remaining = sum(n for spec, n in self.left.items() if spec not in self.progress.errors) + len(self.in_flight)
        elapsed = time.monotonic() - self.started
        self.progress.eta_s = elapsed * remaining / self.handled if self.handled else None

    def finish(self) -> None:
        for provider in self.providers.values():
            provider.close()
        progress = self.progress
        complete = progress.done + progress.failed == progress.total
        progress.status = ("failed" if complete and progress.failed and not progress.done else "done" if complete
                           else "stopped_budget" if self.stopped_by_budget else "interrupted")
        progress.eta_s = 0.0 if complete else None
        with self.workspace.writing(self.purpose) as con:
            _set_status(con, self.run_id, progress.status, progress.errors)


def _set_status(con, run_id: str, status: str, errors: dict[str, str] | None = None) -> None:
    """The run's status and why candidates were given up (kept for a reloaded page)."""
    con.execute("UPDATE runs SET status = ?, errors = ?, updated_at = ? WHERE run_id = ?",
                [status, json.dumps(errors or {}), utcnow(), run_id]).fetchall()


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3 onwards of /proc/PID/stat (state first); None where there is no /proc or no such process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _process_started(pid: int) -> str | None:
    """When process `pid` started (field 22 of /proc/PID/stat, clock ticks since boot), to tell it
    from a later process given the same pid; None where unknown."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def owner_gone(pid: int | None, host: str | None, started: str | None) -> bool:
    """Whether a run's recorded owner process no longer runs: only on the owner's own host (from
    another host it cannot be told, so False); a pid now held by a later process, or a zombie, is gone."""
    if pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    fields = _proc_stat(pid)
    return fields is not None and (fields[0] == "Z" or (started is not None and fields[19] != started))


def shown_status(status: str, pid: int | None, host: str | None, started: str | None) -> str:
    """The status as stored, but 'interrupted' for a 'running' run whose owner is gone (killed)."""
    return "interrupted" if status == "running" and owner_gone(pid, host, started) else status


def _refresh(con, progress: Progress) -> None:
    """Counts and spend from the results already stored (a resumed run starts from them)."""
    done, failed, spent = rows(con, """SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status = 'failed'),
                                              coalesce(sum(cost_usd), 0) FROM results WHERE run_id = ?""", [progress.run_id])[0]
    progress.done, progress.failed, progress.spent_usd = done, failed, spent


def progress_of(con: duckdb.DuckDBPyConnection, run_id: str) -> Progress:
    """A run's progress read from the database (works from any process, e.g. a page reload)."""
    found = rows(con, """SELECT (SELECT count(*) FROM run_requests WHERE run_id = r.run_id) * json_array_length(candidates),
                                budget_usd, estimate_usd, status, errors, owner_pid, owner_host, owner_started
                         FROM runs r WHERE run_id = ?""", [run_id])
    if not found:
        raise NotFound(f"no run {run_id!r}")
    total, budget, estimate, status, errors, *owner = found[0]
    progress = Progress(run_id, total=total, budget_usd=budget, estimate_usd=estimate,
                        status=shown_status(status, *owner),
                        errors=json.loads(errors) if errors else {})
    _refresh(con, progress)
    return progress


def failure_reasons(con: duckdb.DuckDBPyConnection, run_id: str, limit: int = 3) -> list[tuple[str, str, int]]:
    """The most common errors of a run's failed calls: (candidate, error, count), most first."""
    return rows(con, f"""SELECT candidate, coalesce(error, '(no error text)'), count(*) FROM results
                         WHERE run_id = ? AND status = 'failed' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
                         LIMIT {int(limit)}""", [run_id])


def list_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every run with its candidates, sample size, status (`shown_status`), results and spend, newest first."""
    table = frame(con, """
        SELECT r.run_id, r.created_at, r.status, r.candidates, r.budget_usd, r.estimate_usd,
               (SELECT count(*) FROM run_requests q WHERE q.run_id = r.run_id) AS sample_size,
               count(x.request_id) FILTER (WHERE x.status = 'ok') AS ok,
               count(x.request_id) FILTER (WHERE x.status = 'failed') AS failed,
               coalesce(sum(x.cost_usd), 0) AS spent_usd, r.owner_pid, r.owner_host, r.owner_started
        FROM runs r LEFT JOIN results x USING (run_id)
        GROUP BY ALL ORDER BY r.created_at DESC""")
    owners = table.select("status", "owner_pid", "owner_host", "owner_started").rows()
    return table.with_columns(pl.Series("status", [shown_status(*o) for o in owners], dtype=pl.String)).drop(
        "owner_pid", "owner_host", "owner_started")


# Seconds one call is assumed to take when nothing of the candidate was measured: rough figures for a
# short answer (hosted APIs answer a few hundred tokens in seconds; a self-hosted endpoint's speed
# depends on its hardware, so it is assumed slower). Shown as assumed wherever they are used.
DEFAULT_CALL_SECONDS = {"openai": 2.0, "anthropic": 3.0, "openai-compat": 5.0, "ollama": 5.0, "local": 5.0}


@dataclass(frozen=True)
class CallTime:
    """One candidate's seconds per call, and where the figure comes from ('run ID', 'probe ID'
    or 'assumed for PROVIDER')."""
    candidate: str
    seconds: float
    source: str


@dataclass(frozen=True)
class DurationEstimate:
    """A run's expected wall time (`estimate_duration`) and each candidate's time per call."""
    seconds: float
    per_candidate: list[CallTime]

    @property
    def text(self) -> str:
        """'under a minute', 'about 1 minute', 'about N minutes' (rounded up)."""
        minutes = math.ceil(self.seconds / 60)
        return "under a minute" if self.seconds < 60 else f"about {minutes} minute{'s' if minutes > 1 else ''}"


def estimate_duration(con: duckdb.DuckDBPyConnection, candidate_specs: tuple[str, ...] | list[str],
                      requests: int, concurrency: int) -> DurationEstimate:
    """How long a run of `requests` sampled requests x the candidates takes, before it starts.
    `execute` keeps `concurrency` calls in flight across all candidates, so
        seconds = max(sum over candidates of requests x seconds per call / concurrency,
                      the slowest candidate's seconds per call)
    with a candidate's seconds per call: the median latency of its ok calls in its newest run that
    has any; else the median latency at the lowest concurrency of its newest capacity probe; else
    DEFAULT_CALL_SECONDS of its provider (assumed). It assumes the endpoint serves `concurrency`
    calls at once without slowing down (a server with fewer slots takes longer) and answers as long
    as those measured."""
    candidates = [registry.parse_candidate_spec(s) for s in candidate_specs]
    specs = [c.spec for c in candidates]
    measured = {spec: (ms / 1000, f"run {run}") for spec, run, ms in rows(con, """
        SELECT x.candidate, x.run_id, median(x.latency_ms) FROM results x JOIN runs r USING (run_id)
        WHERE x.candidate IN (SELECT unnest(?::VARCHAR[])) AND x.status = 'ok' AND x.latency_ms IS NOT NULL
        GROUP BY x.candidate, x.run_id
        QUALIFY row_number() OVER (PARTITION BY x.candidate ORDER BY max(r.created_at) DESC) = 1""",
        [specs])}
    probed = {spec: (ms / 1000, f"probe {probe}") for spec, probe, ms in rows(con, """
        WITH p AS (SELECT *, max(measured_at) OVER (PARTITION BY probe_id) AS probed_at FROM probe_results
                   WHERE candidate IN (SELECT unnest(?::VARCHAR[])) AND p50_ms IS NOT NULL)
        SELECT candidate, probe_id, p50_ms FROM p
        QUALIFY row_number() OVER (PARTITION BY candidate ORDER BY probed_at DESC, concurrency) = 1""", [specs])}
    times = [CallTime(c.spec, *(measured.get(c.spec) or probed.get(c.spec)
                                or (DEFAULT_CALL_SECONDS[c.provider], f"assumed for {c.provider}")))
             for c in candidates]
    total = sum(requests * t.seconds for t in times) / max(1, concurrency)
    return DurationEstimate(max(total, max((t.seconds for t in times), default=0.0)), times)
