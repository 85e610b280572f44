"""`breakeven`: the command line. Thin: parse arguments, call `analysis`, print JSON or a table.

Each subcommand is one function `cmd_<name>(args) -> int` (the exit code) registered in COMMANDS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from analysis.db import open_db
from analysis.formatting import compact, usd


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def cmd_ingest(args) -> int:
    from analysis.ingest import ingest_paths

    options: dict = {}
    if args.mapping or args.map:
        from analysis.ingest import IngestError
        from analysis.ingest.generic import mapping_options

        try:
            options = mapping_options(args.mapping, args.map)
        except IngestError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
    con = open_db(args.workspace)
    try:
        results = ingest_paths(con, args.paths, args.format, options)
    finally:
        con.close()
    return _report_ingest(results, args.json)


def _report_ingest(results, as_json: bool) -> int:
    """Per file: format, rows loaded / rejected / skipped and the first reasons; exit 1 on a failure."""
    if as_json:
        _print_json([r.__dict__ for r in results])
    else:
        for r in results:
            if r.error:
                print(f"FAILED  {r.path}: {r.error}")
            elif r.duplicate:
                print(f"SKIPPED {r.path}: already ingested (same content), nothing added")
            elif r.format == "openai_batch_input":
                print(f"USED    {r.path}: prompts joined into its Batch output file")
            else:
                print(f"OK      {r.path}: {r.format}, {r.counts_text()}")
                for reason in r.reasons:
                    print(f"          rejected {reason}")
    return 1 if any(r.error for r in results) else 0


def cmd_summary(args) -> int:
    from analysis.summary import summarise

    con = open_db(args.workspace)
    try:
        summary = summarise(con)
    finally:
        con.close()
    if args.json:
        _print_json(summary.to_dict())
        return 0
    print(
        f"{summary.requests:,} requests from {summary.first_ts} to {summary.last_ts} "
        f"({compact(summary.requests_per_day)}/day); tokens in {summary.input_tokens:,} "
        f"(cached {summary.cached_input_tokens:,}), out {summary.output_tokens:,}; "
        f"cost {usd(summary.cost_usd)} (~{usd(summary.monthly_spend_usd)}/month)"
        + (f"; plus {summary.labelled_rows:,} labelled dataset rows (test sets, not traffic)"
           if summary.labelled_rows else "")
    )
    by_model = [{**r, **{c: f"{r[c] or 0:,}" for c in ("requests", "input_tokens", "output_tokens")},
                 "cost_usd": usd(r["cost_usd"])} for r in summary.by_model]
    print(_table(by_model, ["model", "requests", "input_tokens", "output_tokens", "cost_usd"]))
    return 0


def cmd_demo(args) -> int:
    from analysis.demo import ensure_demo_workspace

    try:
        path = ensure_demo_workspace(force=args.force)
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"demo workspace ready: {path}")
    return 0


def cmd_dashboard(args) -> int:
    """Build the demo workspace if needed, then run Streamlit on <host>:<port> (127.0.0.1:8501)."""
    from analysis.demo import ensure_demo_workspace

    ensure_demo_workspace()
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.host,
               "--server.port", str(args.port), "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
    print(f"dashboard on http://{args.host}:{args.port}")
    return subprocess.call(command, env={**os.environ})


def cmd_replay(args) -> int:
    """Create a run (or resume one with --resume) and execute it with a progress bar on stderr."""
    from analysis import replay
    from analysis.prompt_adapter import PromptAdapter
    from analysis.sampling import SampleSpec

    con = open_db(args.workspace)
    try:
        if args.resume:
            run_id = args.resume
        else:
            if not args.candidate:
                print("give at least one --candidate SPEC (or --resume RUN_ID)", file=sys.stderr)
                return 2
            adapter = PromptAdapter(system_prompt=args.system_prompt, few_shot=args.few_shot,
                                    labels=args.labels or [], auto_labels=args.auto_labels)
            sample = SampleSpec(size=args.sample, strategy=args.strategy, stratify_by=args.stratify_by,
                                seed=args.seed, task_types=args.task_type or [])
            params = replay.RunParams(concurrency=args.concurrency, max_tokens=args.max_tokens,
                                      temperature=args.temperature, timeout_s=args.timeout)
            try:
                run_id = replay.create_run(con, args.candidate, sample, adapter, params, args.budget_usd)
            except (replay.BudgetError, ValueError) as exc:
                print(f"refused: {exc}", file=sys.stderr)
                return 1
        try:
            progress = replay.execute(con, run_id, on_progress=None if args.json else _progress_bar)
        except ValueError as exc:  # e.g. --resume of an unknown run
            print(f"refused: {exc}", file=sys.stderr)
            return 1
    finally:
        con.close()
    if args.json:
        _print_json(progress.to_dict())
    else:
        print(f"\nrun {run_id}: {progress.status}, {progress.done} ok, {progress.failed} failed, "
              f"spent ${progress.spent_usd:.4f} of estimated ${progress.estimate_usd:.4f}")
        for candidate, error in progress.errors.items():
            print(f"  {candidate}: gave up: {error}")
    return 0 if progress.status == "done" else 1


def _progress_bar(p) -> None:
    width = 30
    filled = int(width * (p.done + p.failed) / max(p.total, 1))
    eta = f"{p.eta_s:,.0f}s" if p.eta_s is not None else "?"
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done + p.failed}/{p.total} "
                     f"failed {p.failed} spent ${p.spent_usd:.4f} ETA {eta}   ")
    sys.stderr.flush()


def cmd_runs(args) -> int:
    from analysis import replay

    con = open_db(args.workspace)
    try:
        table = replay.list_runs(con)
    finally:
        con.close()
    records = table.to_dicts()
    if args.json:
        _print_json(records)
    else:
        shown = [{**r, "created_at": f"{r['created_at']:%Y-%m-%d %H:%M:%S}", "spent_usd": usd(r["spent_usd"])}
                 for r in records]
        print(_table(shown, ["run_id", "created_at", "status", "sample_size", "ok", "failed", "spent_usd"]))
    return 0


def cmd_probe(args) -> int:
    """Sweep concurrency against one endpoint; progress on stderr, levels and best capacity on stdout."""
    from analysis.probe import run_probe
    from analysis.providers.base import ProviderError

    def progress(p) -> None:
        sys.stderr.write(f"\rlevel {p.level}/{p.levels} (concurrency {p.concurrency}): {p.done}/{p.requests} done   ")
        sys.stderr.flush()

    try:
        levels = [int(x) for x in args.levels.split(",") if x.strip()]
    except ValueError:
        print(f"--levels must be integers separated by commas, got {args.levels!r}", file=sys.stderr)
        return 2
    con = open_db(args.workspace)
    try:
        report = run_probe(con, args.spec, levels, args.requests_per_level, args.p95_ms, args.max_tokens,
                           on_progress=progress)
    except (ProviderError, ValueError) as exc:
        print(f"\nprobe failed: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    sys.stderr.write("\n")
    if args.json:
        _print_json(report.to_dict())
        return 0
    print(_table([{"concurrency": lv.concurrency, "requests": lv.requests, "errors": lv.errors,
                   "req/s": f"{lv.capacity_rps:.2f}", "out tok/s": f"{lv.output_tokens_per_s:.1f}",
                   "p50 ms": f"{lv.p50_ms:.0f}" if lv.p50_ms is not None else "-",
                   "p95 ms": f"{lv.p95_ms:.0f}" if lv.p95_ms is not None else "-",
                   "within target": "yes" if lv.within_target else "no"} for lv in report.levels],
                 ["concurrency", "requests", "errors", "req/s", "out tok/s", "p50 ms", "p95 ms", "within target"]))
    if report.stopped_early:
        print(report.stopped_early)
    best = report.best
    print(f"best: {best.capacity_rps:.2f} req/s at concurrency {best.concurrency} (p95 {best.p95_ms:.0f} ms "
          f"<= {report.p95_target_ms:g} ms), probe {report.probe_id}" if best else
          f"best: none: no level kept p95 under {report.p95_target_ms:g} ms without errors, probe {report.probe_id}")
    return 0


def cmd_ingest_labelled(args) -> int:
    """A labelled dataset as requests with ground truth and a task prompt listing the label set."""
    from analysis.labelled import ingest_labelled

    con = open_db(args.workspace)
    try:
        result = ingest_labelled(con, args.path, args.text, args.label, labels_from=args.labels_from,
                                 id_col=args.id, limit=args.limit, seed=args.seed, split=args.split,
                                 instruction=args.instruction)
    finally:
        con.close()
    return _report_ingest([result], args.json)


def cmd_attach_labels(args) -> int:
    """Ground-truth labels from a file joined on request id."""
    from analysis.scoring.references import attach_labels

    con = open_db(args.workspace)
    try:
        updated = attach_labels(con, args.path, args.id, args.label)
    except ValueError as exc:
        print(f"FAILED  {args.path}: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    _print_json({"updated": updated}) if args.json else print(f"{updated} requests got a ground-truth label")
    return 0


def cmd_score(args) -> int:
    """Score a run's answers against the best reference available."""
    from dataclasses import asdict

    from analysis.scoring.judge import JudgeScorer, judge_agreement
    from analysis.scoring.runner import score_run

    judge = JudgeScorer(args.judge, budget_usd=args.judge_budget_usd) if args.judge else None
    con = open_db(args.workspace)
    try:
        summary = score_run(con, args.run, args.scorer, args.reference_candidate, judge=judge)
        agreement = judge_agreement(con, args.run)
    except ValueError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    if args.json:
        _print_json({**summary.to_dict(), "judge_agreement": asdict(agreement)})
        return 0
    print(f"run {args.run}: {summary.scored} answers scored ({summary.incumbent_scored} incumbent); "
          f"by scorer {summary.by_scorer}; by reference {summary.by_reference}")
    for reason, n in summary.skipped.items():
        print(f"  not scored: {n} x {reason}")
    if agreement.n:
        kappa = f"{agreement.kappa:.2f}" if agreement.kappa is not None else "undefined"
        print(f"  judge vs {', '.join(agreement.exact_scorers)} on {agreement.n} answers: "
              f"agreement {agreement.agreement:.1%}, Cohen's kappa {kappa}")
    return 0


def cmd_quality(args) -> int:
    """Per candidate x task type: n, accuracy with its interval, difference vs incumbent, verdict."""
    from analysis.quality import quality_table

    con = open_db(args.workspace)
    try:
        table = quality_table(con, args.run, margin=args.margin / 100)
    finally:
        con.close()
    records = table.to_dicts()
    if args.json:
        _print_json(records)
    elif not records:
        print("no scores yet: replay a sample (`breakeven replay`) and score it (`breakeven score --run ID`)")
    else:
        print(_table([{**r, "accuracy": f"{r['accuracy']:.3f}", "interval": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"}
                      for r in records],
                     ["candidate", "task_type", "reference", "n", "accuracy", "interval", "verdict_text"]))
    return 0


def _scenario(con, path: str | None):
    """The scenario file's fields over the workspace's defaults (the whole file is optional)."""
    from analysis.scenario import Scenario
    from analysis.workspace_defaults import scenario_defaults

    defaults = scenario_defaults(con)
    return Scenario.from_json(Path(path).read_text(), defaults) if path else defaults


def cmd_economics(args) -> int:
    """Both monthly costs, break-even, GPUs, savings, payback and the cost curve for a scenario."""
    from dataclasses import asdict

    from analysis import economics
    from analysis.scenario import ScenarioError

    con = open_db(args.workspace)
    try:
        scenario = _scenario(con, args.scenario)
    except (OSError, ScenarioError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    inputs = scenario.to_cost_inputs()
    result = economics.evaluate(inputs)
    be = result.breakeven
    if args.json:
        _print_json({"scenario": scenario.model_dump(mode="json"), **asdict(result),
                     "self_host_monthly_usd": result.self_host.total_usd, "gpus": result.self_host.gpus,
                     "breakeven_requests_per_day": be.requests_per_day,
                     "curve": [asdict(p) for p in economics.cost_curve(inputs)]})
        return 0
    print(economics.headline(inputs, scenario.requests_per_day))
    print(f"API {usd(result.api_monthly_usd)}/month; self-hosting {usd(result.self_host.total_usd)}/month "
          f"on {result.self_host.gpus or '-'} GPU(s); savings {usd(result.savings_monthly_usd)}/month; "
          f"break-even: {be.reason}")
    return 0


def cmd_route(args) -> int:
    """The recommended local/API split per segment, shares, blended figures and the frontier."""
    from analysis import routing, routing_data
    from analysis.scenario import ScenarioError

    policy = routing.RoutingPolicy(mode=args.mode, in_house=frozenset(args.in_house or []))
    con = open_db(args.workspace)
    try:
        scenario = _scenario(con, args.scenario)
        traffic = routing_data.segment_traffic(con, args.segment_by, args.context_window,
                                               tuple(args.residency_tag or []))
        quality = routing_data.segment_quality(con, args.run, args.candidate, args.segment_by)
    except (OSError, ScenarioError, ValueError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    rec = routing.recommend(traffic, quality, scenario, policy)
    if args.json:
        _print_json(rec.to_dict())
        return 0
    print(_table([{"segment": d.key, "side": d.side, "reason": d.reason} for d in rec.segments],
                 ["segment", "side", "reason"]))
    print(f"monthly: {usd(rec.plan.monthly_usd)} instead of {usd(rec.current_monthly_usd)} "
          f"(savings {usd(rec.savings_monthly_usd)}); local share of requests {rec.plan.local_share:.1%}")
    for note in rec.notes:
        print(f"  note: {note}")
    return 0


def cmd_local_model(args) -> int:
    """Start, stop or show the embedded llama.cpp engine (the [local] extra)."""
    from analysis.providers import local_engine

    try:
        if args.action == "start":
            state = local_engine.start(parallel=args.parallel, port=args.port)
        elif args.action == "stop":
            state = local_engine.stop()
        else:
            state = local_engine.status()
    except local_engine.LocalEngineError as exc:
        print(f"FAILED  {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(state.to_dict())
    else:
        where = f" on {state.base_url}" if state.state in ("running", "starting") else ""
        print(f"local engine: {state.state}{where}" + (f" ({state.message})" if state.message else ""))
    return 0


COMMANDS: dict[str, tuple[Callable, str]] = {
    "ingest": (cmd_ingest, "ingest request-log exports into a workspace"),
    "summary": (cmd_summary, "totals and breakdowns of a workspace"),
    "replay": (cmd_replay, "replay a sample of logged requests against candidate models"),
    "runs": (cmd_runs, "list replay runs"),
    "probe": (cmd_probe, "measure an endpoint's capacity: requests/s and latency at rising concurrency"),
    "ingest-labelled": (cmd_ingest_labelled, "load a labelled dataset as requests with ground truth"),
    "attach-labels": (cmd_attach_labels, "attach ground-truth labels to logged requests by request id"),
    "score": (cmd_score, "score a run's answers against the best reference available"),
    "quality": (cmd_quality, "per candidate x task type accuracy, intervals and verdicts"),
    "economics": (cmd_economics, "API vs self-hosting costs and the break-even for a scenario"),
    "route": (cmd_route, "the recommended local/API split per segment"),
    "local-model": (cmd_local_model, "start, stop or show the embedded llama.cpp engine"),
    "demo": (cmd_demo, "build the synthetic demo workspace"),
    "dashboard": (cmd_dashboard, "run the dashboard (builds the demo workspace on first start)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakeven", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=help_) for name, (_, help_) in COMMANDS.items()}
    for name in ("ingest", "summary", "replay", "runs", "ingest-labelled", "attach-labels", "score",
                 "quality", "economics", "route", "local-model"):
        parsers[name].add_argument("--workspace", default=None, help="workspace name (default: settings)")
        parsers[name].add_argument("--json", action="store_true", help="print JSON")
    p = parsers["ingest"]
    p.add_argument("paths", nargs="+", help="log files (gzip/zstd accepted)")
    p.add_argument("--format", default=None, help="skip detection and use this format")
    p.add_argument("--mapping", default=None, help="generic format: TOML/JSON column mapping file")
    p.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE",
                   help="generic format: map one column (repeatable)")
    p = parsers["replay"]
    p.add_argument("--candidate", action="append", default=[], metavar="SPEC",
                   help="provider:base-url-or-host:model, e.g. local:gemma-3-270m or openai:gpt-4o-mini (repeatable)")
    p.add_argument("--sample", type=int, default=50, help="number of logged requests to replay")
    p.add_argument("--strategy", choices=["random", "stratified"], default="random")
    p.add_argument("--stratify-by", choices=["task_type", "model", "day"], default="task_type")
    p.add_argument("--task-type", action="append", help="only these task types (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-usd", type=float, default=None, help="refuse or stop above this spend")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    p.add_argument("--system-prompt", default=None, help="replace the logged system prompt")
    p.add_argument("--few-shot", type=int, default=0, help="examples from the logs (never from the sample)")
    p.add_argument("--labels", nargs="*", help="constrain answers to this label set")
    p.add_argument("--auto-labels", action="store_true", help="constrain to the declared (labelled import) or ground-truth label set")
    p.add_argument("--resume", metavar="RUN_ID", help="send what a run has no result for yet")
    p = parsers["probe"]
    p.add_argument("spec", metavar="SPEC", help="the endpoint as a candidate spec, e.g. openai-compat:http://127.0.0.1:8000/v1:MODEL")
    p.add_argument("--levels", default="1,2,4,8,16", help="concurrency levels, comma-separated")
    p.add_argument("--requests-per-level", type=int, default=32, help="requests sent at each level")
    p.add_argument("--p95-ms", type=float, default=10_000.0, help="p95 latency target in milliseconds")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--workspace", default=None, help="workspace name (default: settings)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = parsers["ingest-labelled"]
    p.add_argument("path", help="CSV / JSON / JSONL / Parquet file with a text and a label column")
    p.add_argument("--text", action="append", required=True, metavar="COL",
                   help="text column (repeatable: several are joined as 'column: value' blocks)")
    p.add_argument("--label", required=True, metavar="COL", help="label column (the ground truth)")
    p.add_argument("--labels-from", metavar="FILE", help="the label set: JSON list/object or one per line")
    p.add_argument("--id", metavar="COL", help="row id column (default: row number)")
    p.add_argument("--limit", type=int, help="keep a sample of this size, stratified by label")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=["train", "test"], help="keep the fixed 80%% train or 20%% test part")
    p.add_argument("--instruction", help="replace the prompt's first line")
    p = parsers["attach-labels"]
    p.add_argument("path", help="CSV / JSON / JSONL file with request ids and labels")
    p.add_argument("--id", default="request_id", metavar="COL", help="request id column")
    p.add_argument("--label", default="label", metavar="COL", help="label column")
    p = parsers["score"]
    p.add_argument("--run", required=True, metavar="RUN_ID")
    p.add_argument("--scorer", choices=["label", "fields", "numeric", "fuzzy", "judge"],
                   help="force one scorer (default: chosen per task type)")
    p.add_argument("--reference-candidate", metavar="SPEC",
                   help="the run's candidate whose answers are the reference where there is no other")
    p.add_argument("--judge", metavar="SPEC", help="LLM judge model (for --scorer judge)")
    p.add_argument("--judge-budget-usd", type=float, default=None)
    p = parsers["quality"]
    p.add_argument("--run", metavar="RUN_ID", help="one run (default: all)")
    p.add_argument("--margin", type=float, default=2.0, help="non-inferiority margin, percentage points")
    for name in ("economics", "route"):
        parsers[name].add_argument("--scenario", metavar="FILE",
                                   help="scenario JSON; fields left out take the workspace defaults")
    p = parsers["route"]
    p.add_argument("--mode", choices=["pre-routing", "cascade"], default="pre-routing")
    p.add_argument("--segment-by", default="task_complexity",
                   help="task_complexity (task type x complexity bucket, default) or a column such as model")
    p.add_argument("--run", metavar="RUN_ID", help="quality from this run (default: latest scored)")
    p.add_argument("--candidate", metavar="SPEC", help="the local candidate (default: most scored)")
    p.add_argument("--context-window", type=int, default=8192, help="local model's context, tokens")
    p.add_argument("--in-house", action="append", metavar="SEGMENT", help="segment that must stay in-house")
    p.add_argument("--residency-tag", action="append", metavar="TAG", help="requests with this tag stay in-house")
    p = parsers["local-model"]
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--parallel", type=int, default=None, help="parallel slots (start)")
    p.add_argument("--port", type=int, default=None, help="port (start)")
    parsers["demo"].add_argument("--force", action="store_true", help="rebuild from scratch")
    parsers["dashboard"].add_argument("--host", default="127.0.0.1")
    parsers["dashboard"].add_argument("--port", type=int, default=8501)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler, _ = COMMANDS[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
