"""Capacity probe: how many requests per second an endpoint serves at rising concurrency, and the
most it serves while p95 latency stays under a target (the economics' capacity_rps_per_gpu).

Rules:
- Requests: a seeded random sample of the workspace's replayable logged requests
  (`analysis.replay.sampling`), sent as `build_messages` with the default adapter makes them (logged
  system prompt, logged conversation) with `max_tokens` and temperature 0. Each level sends its
  own requests, the next ones of the sample (which repeats only when the logs hold fewer requests
  than the sweep needs): a server that caches prompts (llama.cpp does) would otherwise answer every
  level after the first from its cache and overstate capacity for traffic whose prompts are new.
  One warm-up request, not measured, goes first; its failure
  (endpoint unreachable, unknown model, missing key) ends the probe with that provider error.
- Level c sends n = max(requests_per_level, c) requests through c workers, each sending its next
  request as soon as its previous one finishes (c in flight at a time). Failed requests are not
  retried (a retry would hide overload) and count as errors. Over the completed requests:
      duration_s          = last finish - first send (wall time of the level)
      capacity_rps        = completed / duration_s
      output_tokens_per_s = sum(output tokens) / duration_s (reported usage, else len(text) / 4)
      p50_ms, p95_ms      = quantiles of the per-request latency (send to end of stream), numpy's
                            linear interpolation; None when nothing completed
      within_target       = no errors and p95_ms <= p95_target_ms
- Best = the level with the highest capacity_rps among the within-target levels (None when none).
- Early stop: after a level (not the first) whose p95 is over the target and whose capacity_rps
  is below (1 + MIN_GAIN) x the best capacity_rps of the levels before it, the sweep ends: more
  concurrency only queues requests.
- Every level is stored in `probe_results` as soon as it is measured (one probe_id per sweep),
  with the hardware it ran on: the catalogue GPU the user names, else 'this computer (N CPU
  cores)' for the embedded engine, else unknown. Economics uses a measurement as the capacity only
  of the GPU it was measured on (`analysis.economics.workspace_defaults.probe_on_catalogue_gpu`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import partial

import duckdb
import numpy as np

from analysis.economics import catalogue
from analysis.errors import UserError
from analysis.replay import sampling
from analysis.replay.prompt_adapter import PromptAdapter, build_messages, logged_messages
from analysis.replay.providers import registry
from analysis.replay.providers.base import Completion, CompletionRequest, ProviderError
from analysis.store import access
from analysis.store.database import rows, utcnow

DEFAULT_LEVELS = (1, 2, 4, 8, 16)
MIN_GAIN = 0.05  # throughput "still rising" means at least 5% above the best lower level


@dataclass
class LevelResult:
    """One concurrency level's measurements (formulas in the module docstring)."""

    concurrency: int
    requests: int
    completed: int
    errors: int
    duration_s: float
    capacity_rps: float
    output_tokens_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    within_target: bool
    usage_reported: bool  # every completion reported its token usage
    first_error: str | None = None


@dataclass
class ProbeProgress:
    """Where the sweep is: level `level` of `levels` (1-based), `done` of `requests` finished."""

    concurrency: int
    level: int
    levels: int
    done: int
    requests: int


@dataclass
class ProbeReport:
    probe_id: str
    candidate: str
    model: str
    p95_target_ms: float
    max_tokens: int
    hardware: str | None = None  # a catalogue GPU name, 'this computer (N CPU cores)', or unknown
    levels: list[LevelResult] = field(default_factory=list)
    stopped_early: str | None = None  # why the sweep ended before its last level

    @property
    def best(self) -> LevelResult | None:
        """The within-target level with the highest capacity_rps."""
        return max((lv for lv in self.levels if lv.within_target), key=lambda lv: lv.capacity_rps, default=None)

    def to_dict(self) -> dict:
        return asdict(self) | {"best": asdict(self.best) if self.best else None}


def _sample(con: duckdb.DuckDBPyConnection, size: int, seed: int) -> list[list[dict]]:
    """The messages of `size` requests: the seeded sample, repeated when the logs hold fewer."""
    ids = sampling.draw(con, sampling.SampleSpec(size=size, seed=seed))
    if not ids:
        raise UserError("no replayable logged request in this workspace (status ok, with logged messages): "
                        "ingest some logs before probing")
    found = {rid: logged_messages(m) for rid, m in rows(
        con, "SELECT request_id, input_messages FROM requests WHERE request_id IN (SELECT unnest(?::VARCHAR[]))", [ids])}
    messages = [build_messages(PromptAdapter(), found[i], []) for i in ids]
    return [messages[k % len(messages)] for k in range(size)]


def _measure(provider, requests: list[CompletionRequest], concurrency: int, p95_target_ms: float,
             on_done: Callable[[int], None]) -> LevelResult:
    def call(request: CompletionRequest) -> Completion | ProviderError:
        try:
            return provider.complete(request)
        except ProviderError as exc:
            return exc

    outcomes = []
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for done, future in enumerate(as_completed([pool.submit(call, r) for r in requests]), start=1):
            outcomes.append(future.result())
            on_done(done)
    duration = time.perf_counter() - started
    completions = [o for o in outcomes if isinstance(o, Completion)]
    errors = [str(o) for o in outcomes if isinstance(o, ProviderError)]
    latencies = [c.latency_ms for c in completions]
    p50, p95 = (float(q) for q in np.quantile(latencies, [0.5, 0.95])) if latencies else (None, None)
    tokens = sum(c.output_tokens_or_estimate for c in completions)
    return LevelResult(
        concurrency=concurrency, requests=len(requests), completed=len(completions), errors=len(errors),
        duration_s=duration, capacity_rps=len(completions) / duration, output_tokens_per_s=tokens / duration,
        p50_ms=p50, p95_ms=p95, within_target=not errors and p95 is not None and p95 <= p95_target_ms,
        usage_reported=all(c.usage_reported for c in completions), first_error=errors[0] if errors else None)


def _store(con: duckdb.DuckDBPyConnection, report: ProbeReport, level: LevelResult) -> None:
    con.execute("INSERT INTO probe_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        report.probe_id, utcnow(), report.model, report.candidate, level.concurrency, level.requests,
        level.errors, level.duration_s, level.capacity_rps, level.output_tokens_per_s, level.p50_ms,
        level.p95_ms, level.within_target, report.p95_target_ms, report.max_tokens, report.hardware]).fetchall()


def probed_hardware(candidate_spec: str, gpu: str | None) -> str | None:
    """What a probe of `candidate_spec` measures (module rule): the catalogue name of `gpu` when
    given; the embedded engine runs on this computer's CPU; anything else is unknown (None)."""
    if gpu:
        return catalogue.gpu(gpu).name
    if registry.parse_candidate_spec(candidate_spec).provider == "local":
        return f"this computer ({os.cpu_count()} CPU cores)"
    return None


def run_probe(workspace: access.Workspace | duckdb.DuckDBPyConnection, candidate_spec: str, levels: Sequence[int] = DEFAULT_LEVELS,
              requests_per_level: int = 32, p95_target_ms: float = 10_000.0, max_tokens: int = 256,
              on_progress: Callable[[ProbeProgress], None] | None = None, timeout_s: float = 120.0,
              seed: int = 0, gpu: str | None = None) -> ProbeReport:
    """Sweep `levels` of concurrency against the candidate (module rules), store each level in
    `probe_results` with the hardware it ran on (`gpu`: the catalogue GPU serving the endpoint,
    see `probed_hardware`) and return the report. `workspace` (an `access.Workspace`) is opened
    only to read the sample and to store each level, so others use it during the sweep. Raises UserError on bad arguments or a workspace
    without replayable requests, and the provider's error (UnreachableError, FatalError...) when
    the warm-up request fails."""
    levels = sorted(set(levels))
    if not levels or levels[0] < 1:
        raise UserError("concurrency levels must be positive integers")
    if requests_per_level < 1 or max_tokens < 1 or p95_target_ms <= 0:
        raise UserError("requests_per_level, max_tokens and p95_target_ms must be positive")
    candidate = registry.parse_candidate_spec(candidate_spec)
    sizes = [max(requests_per_level, c) for c in levels]
    workspace = access.workspace_of(workspace)
    with workspace.reading() as con:
        messages = _sample(con, 1 + sum(sizes), seed)
    requests = [CompletionRequest(messages=m, max_tokens=max_tokens, temperature=0.0, timeout_s=timeout_s)
                for m in messages]
    starts = [1 + sum(sizes[:i]) for i in range(len(levels))]  # request 0 is the warm-up
    report = ProbeReport(uuid.uuid4().hex[:12], candidate.spec, candidate.model, float(p95_target_ms), max_tokens,
                         hardware=probed_hardware(candidate_spec, gpu))
    with registry.build_provider(candidate) as provider:
        provider.complete(requests[0])  # warm-up: loads the model, fails fast when unreachable
        for index, concurrency in enumerate(levels, start=1):
            batch = requests[starts[index - 1]:starts[index - 1] + sizes[index - 1]]
            step = partial(ProbeProgress, concurrency, index, len(levels), requests=len(batch))
            on_done = (lambda done, step=step: on_progress(step(done=done))) if on_progress else (lambda done: None)
            on_done(0)
            level = _measure(provider, batch, concurrency, p95_target_ms, on_done)
            reason = stop_reason(report.levels, level, p95_target_ms)
            report.levels.append(level)
            with workspace.writing(f"capacity probe {report.probe_id}") as con:
                _store(con, report, level)
            workspace.release()  # the next level takes seconds at least: nobody waits for it meanwhile
            if reason and index < len(levels):
                report.stopped_early = reason
                break
    return report


def stop_reason(earlier: Sequence[LevelResult], level: LevelResult, p95_target_ms: float) -> str | None:
    """Why the sweep should end after `level` (the module's early-stop rule), else None."""
    if not earlier or (level.p95_ms is not None and level.p95_ms <= p95_target_ms):
        return None
    previous = max(lv.capacity_rps for lv in earlier)
    if level.capacity_rps >= (1 + MIN_GAIN) * previous:
        return None
    return (f"stopped after concurrency {level.concurrency}: {level.capacity_rps:.2f} req/s is less than "
            f"{MIN_GAIN:.0%} above {previous:.2f} req/s and p95 is over {p95_target_ms:g} ms")
