"""Tables and status lines as people read them, shared by the CLI and the pages: each function turns
an `analysis` result into display rows (column name -> text) or one line of text, so what
`breakeven` prints and what a page shows are worded once. `text_table` lays rows out for a
terminal; a page hands the same rows to `st.dataframe`."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.present.formatting import compact, count, duration_ms, per_day, percent, usd

# --- generic ------------------------------------------------------------------------------


def text_table(rows: list[dict], columns: list[str]) -> str:
    """`rows` as left-aligned columns under a header line (two spaces between columns)."""
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def counts_text(counts: dict[str, int]) -> str:
    """{'label': 8, 'judge': 2} -> 'label 8, judge 2' ('none' when empty)."""
    return ", ".join(f"{name} {n:,}" for name, n in counts.items()) or "none"


def _tokens(n: int | None) -> str:
    return f"{n:,}" if n is not None else "–"


# --- ingest and the workspace -------------------------------------------------------------


def ingest_lines(result) -> list[str]:
    """One ingested file (`analysis.ingest.core.IngestResult`): its status line, then the first
    reasons rows were rejected."""
    if result.error:
        return [f"FAILED  {result.path}: {result.error.removeprefix(Path(result.path).name + ': ')}"]
    if result.duplicate:
        return [f"SKIPPED {result.path}: already ingested (same content), nothing added"]
    if result.format == "openai_batch_input":
        return [f"USED    {result.path}: prompts joined into its Batch output file"]
    return [f"OK      {result.path}: {result.format}, {result.counts_text()}",
            *(f"          rejected {reason}" for reason in result.reasons)]


def summary_line(summary) -> str:
    """A workspace's totals (`analysis.store.summary.Summary`) in one line: requests and their time
    span, tokens, cost and its monthly rate, labelled dataset rows apart."""
    undated = summary.undated_requests
    span = (f"from {summary.first_ts:%Y-%m-%d %H:%M:%S} to {summary.last_ts:%Y-%m-%d %H:%M:%S} "
            f"({compact(summary.requests_per_day)}/day)" if summary.first_ts else "(no timestamps)")
    return (f"{count(summary.requests, 'request')} {span}"
            + (f" ({count(undated, 'request')} without a timestamp, left out of per-day figures)"
               if undated and summary.first_ts else "")
            + f"; tokens in {summary.input_tokens:,} (cached {summary.cached_input_tokens:,}), "
            f"out {summary.output_tokens:,}; cost {usd(summary.cost_usd)}"
            + (f" (~{usd(summary.monthly_spend_usd)}/month)" if summary.monthly_spend_usd is not None else "")
            + (f"; plus {summary.labelled_rows:,} labelled dataset rows (test sets, not traffic)"
               if summary.labelled_rows else ""))


MODEL_COLUMNS = ["model", "requests", "input_tokens", "output_tokens", "cost_usd"]


def model_rows(summary) -> list[dict]:
    """The summary's breakdown by model, counts with thousands separators and cost in dollars."""
    return [{**r, **{c: f"{r[c] or 0:,}" for c in ("requests", "input_tokens", "output_tokens")},
             "cost_usd": usd(r["cost_usd"])} for r in summary.by_model]


# --- replay -------------------------------------------------------------------------------


def run_status_line(progress) -> str:
    """A run's outcome (`analysis.replay.runs.Progress`): status, calls ok and failed, spend."""
    return (f"run {progress.run_id}: {progress.status}, {progress.done} ok, {progress.failed} failed, "
            f"spent ${progress.spent_usd:.4f} of estimated ${progress.estimate_usd:.4f}")


def run_problem_lines(progress, failures: list[tuple[str, str, int]]) -> list[str]:
    """Why candidates were given up, and the most common errors of failed calls
    (`analysis.replay.runs.failure_reasons`)."""
    return ([f"{candidate}: gave up: {error}" for candidate, error in progress.errors.items()]
            + [f"failed {n} x {candidate}: {error}" for candidate, error, n in failures])


RUN_COLUMNS = ["run_id", "created_at", "status", "candidates", "sample_size", "ok", "failed", "spent_usd"]


def run_rows(records: list[dict]) -> list[dict]:
    """`replay.list_runs` records (candidates parsed from JSON): created to the second, candidates
    as provider:model, spend in dollars."""
    return [{**r, "created_at": str(r["created_at"])[:19].replace("T", " "), "spent_usd": usd(r["spent_usd"]),
             "candidates": ", ".join(f"{c['provider']}:{c['model']}" for c in r["candidates"])} for r in records]


FIGURE_COLUMNS = ["candidate", "ok", "failed", "latency p50", "latency p95", "TTFT p50", "tokens in", "tokens out",
                  "cost"]


def candidate_rows(figures: list[dict]) -> list[dict]:
    """`analysis.replay.history.candidate_figures` records for people: latencies as durations ('too
    few (n)' where the answers were too few to quote one), tokens with thousands separators, cost in
    dollars (run_id kept for tables of several runs)."""
    def latency(f: dict, name: str) -> str:
        return duration_ms(f[name]) if f[name] is not None or not f["ok"] else f"too few ({f['timed']})"

    return [{"run_id": f["run_id"], "candidate": f["candidate"], "ok": f"{f['ok']:,}", "failed": f"{f['failed']:,}",
             "latency p50": latency(f, "latency_p50_ms"), "latency p95": latency(f, "latency_p95_ms"),
             "TTFT p50": latency(f, "ttft_p50_ms"), "tokens in": _tokens(f["input_tokens"]),
             "tokens out": _tokens(f["output_tokens"]), "cost": usd(f["cost_usd"])} for f in figures]


PROBE_COLUMNS = ["concurrency", "requests", "errors", "req/s", "out tok/s", "p50 ms", "p95 ms", "within target"]


def probe_rows(levels) -> list[dict]:
    """A capacity probe's levels (`analysis.replay.probe.LevelResult`) as table rows."""
    return [{"concurrency": lv.concurrency, "requests": lv.requests, "errors": lv.errors,
             "req/s": f"{lv.capacity_rps:.2f}", "out tok/s": f"{lv.output_tokens_per_s:.1f}",
             "p50 ms": f"{lv.p50_ms:.0f}" if lv.p50_ms is not None else "-",
             "p95 ms": f"{lv.p95_ms:.0f}" if lv.p95_ms is not None else "-",
             "within target": "yes" if lv.within_target else "no"} for lv in levels]


def probe_best_line(report) -> str:
    """The probe's best level within its p95 target, or why there is none."""
    best = report.best
    if best:
        return (f"best: {best.capacity_rps:.2f} req/s at concurrency {best.concurrency} (p95 {best.p95_ms:.0f} ms "
                f"<= {report.p95_target_ms:g} ms), probe {report.probe_id}")
    return (f"best: none: no level kept p95 under {report.p95_target_ms:g} ms without errors, "
            f"probe {report.probe_id}")


def engine_line(state) -> str:
    """The embedded engine's state (`local_engine.EngineStatus`)."""
    where = f" on {state.base_url}" if state.state in ("running", "starting") else ""
    return f"local engine: {state.state}{where}" + (f" ({state.message})" if state.message else "")


# --- quality ------------------------------------------------------------------------------


def attach_lines(attached) -> list[str]:
    """What attaching ground-truth labels did (`references.AttachResult`)."""
    lines = [f"{count(attached.updated, 'request')} got a ground-truth label"]
    if attached.unmatched:
        lines.append(f"  {count(attached.unmatched, 'id')} of the file "
                     f"{'matches' if attached.unmatched == 1 else 'match'} no request, e.g. "
                     f"{', '.join(attached.unmatched_examples)}")
    return lines


def score_lines(run_id: str, summary, agreement) -> list[str]:
    """A scoring pass (`runner.ScoreSummary`) and the judge's agreement with the exact scorers."""
    lines = [f"run {run_id}: {count(summary.scored, 'answer')} scored ({summary.incumbent_scored:,} of them the "
             f"incumbent's); by scorer: {counts_text(summary.by_scorer)}; by reference: "
             f"{counts_text(summary.by_reference)}"]
    lines += [f"  not scored: {n} x {reason}" for reason, n in summary.skipped.items()]
    if agreement.n:
        kappa = f"{agreement.kappa:.2f}" if agreement.kappa is not None else "undefined"
        lines.append(f"  judge vs {', '.join(agreement.exact_scorers)} on {agreement.n} answers: "
                     f"agreement {agreement.agreement:.1%}, Cohen's kappa {kappa}")
    return lines


QUALITY_COLUMNS = ["candidate", "task_type", "reference", "n", "accuracy", "interval", "verdict_text"]


def quality_rows(records: list[dict]) -> list[dict]:
    """`verdicts.quality_table` records: accuracy and its interval to three decimals."""
    return [{**r, "accuracy": f"{r['accuracy']:.3f}", "interval": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"}
            for r in records]


def runs_used_line(run_ids: list[str]) -> str:
    """Which replay run(s) a quality table was computed from."""
    if not run_ids:
        return "no scored run"
    return f"run {run_ids[0]}" if len(run_ids) == 1 else f"runs {', '.join(run_ids)}"


# --- economics ----------------------------------------------------------------------------


def economics_line(scenario, inputs, result) -> str:
    """Both monthly costs, the GPUs and where their capacity comes from, savings and the break-even
    (`cost_model.evaluate` of `scenario.to_cost_inputs()`)."""
    gpus = result.self_host.gpus
    return (f"API {usd(result.api_monthly_usd)}/month ({usd(inputs.api_cost_per_request)} per request"
            f"{', Batch rates' if scenario.batch_discount else ''}); self-hosting "
            f"{usd(result.self_host.total_usd)}/month on {gpus or '-'} {scenario.gpu} GPU{'s' if gpus != 1 else ''} "
            f"({scenario.mode}, {scenario.capacity_rps_per_gpu:g} requests/s each from the "
            f"{scenario.capacity_source}); savings {usd(result.savings_monthly_usd)}/month; "
            f"break-even: {result.breakeven.reason}")


def routing_source_line(run_id: str | None, candidate: str | None) -> str:
    """Where a routing recommendation's quality comes from."""
    if run_id is None:
        return "quality: no scored replay run, so nothing goes local on merit"
    return f"quality from run {run_id}, candidate {candidate or '(none scored)'}"


ROUTE_COLUMNS = ["segment", "side", "reason"]


def route_rows(rec) -> list[dict]:
    """A routing recommendation's segments (`routing.Recommendation`)."""
    return [{"segment": d.key, "side": d.side, "reason": d.reason} for d in rec.segments]


def route_line(rec) -> str:
    return (f"monthly: {usd(rec.plan.monthly_usd)} instead of {usd(rec.current_monthly_usd)} "
            f"(savings {usd(rec.savings_monthly_usd)}); local share of requests {percent(rec.plan.local_share)}")


def scenario_line(scenario, result) -> str:
    """A scenario in one line, as the saved-scenario list shows it: volume, GPU and its price,
    mode, break-even and savings (`result`: `cost_model.evaluate` of it)."""
    be = result.breakeven
    return (f"{per_day(scenario.requests_per_day)}, {scenario.gpu} at {usd(scenario.gpu_hourly_usd)}/h, "
            f"{scenario.mode}; break-even "
            f"{per_day(be.requests_per_day) if be.requests_per_day is not None else be.status}; "
            f"savings {usd(result.savings_monthly_usd)}/month")


SCENARIO_COLUMNS = ["scenario_id", "name", "saved", "summary"]


def saved_scenario_row(item, result) -> dict:
    """A saved scenario (`scenario_store.SavedScenario`); `result` None when it no longer opens."""
    return {"scenario_id": item.scenario_id, "name": item.name or "", "saved": f"{item.created_at:%Y-%m-%d %H:%M}",
            "summary": scenario_line(item.scenario, result) if item.scenario is not None and result is not None
            else f"can no longer be opened: {item.problem}"}


def share_path(workspace: str, scenario_id: str, page: str = "economics") -> str:
    """The path of a link to `page` opening a saved scenario (after the dashboard's address): the
    workspace and the scenario id only, never prompts, answers or keys."""
    return f"/{page}?ws={workspace}&scenario={scenario_id}"


def assumption_value(value) -> str:
    """A scenario value as people read it: '–' when unset (e.g. GPU count: sized automatically),
    compact JSON for the per-task price mix."""
    if value is None:
        return "–"
    return json.dumps(value) if isinstance(value, dict) else str(value)


def assumption_rows(scenario) -> list[dict]:
    """Every assumption of a scenario with its value."""
    return [{"assumption": k, "value": assumption_value(v)} for k, v in scenario.model_dump(mode="json").items()]
