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
        from analysis.ingest.generic import load_mapping, mapping_from_flags

        mapping = load_mapping(Path(args.mapping)) if args.mapping else {}
        options["mapping"] = {**mapping, **mapping_from_flags(args.map)}
    con = open_db(args.workspace)
    try:
        results = ingest_paths(con, args.paths, args.format, options)
    finally:
        con.close()
    if args.json:
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
                print(f"OK      {r.path}: {r.format}, {r.rows_loaded} rows loaded, {r.rows_rejected} rejected")
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
        f"{summary.requests} requests from {summary.first_ts} to {summary.last_ts} "
        f"({summary.requests_per_day:,.0f}/day); tokens in {summary.input_tokens:,} "
        f"(cached {summary.cached_input_tokens:,}), out {summary.output_tokens:,}; "
        f"cost ${summary.cost_usd:,.2f} (~${summary.monthly_spend_usd:,.0f}/month)"
    )
    print(_table(summary.by_model, ["model", "requests", "input_tokens", "output_tokens", "cost_usd"]))
    return 0


def cmd_demo(args) -> int:
    from analysis.demo import ensure_demo_workspace

    path = ensure_demo_workspace(force=args.force)
    print(f"demo workspace ready: {path}")
    return 0


def cmd_dashboard(args) -> int:
    """Build the demo workspace if needed, then run Streamlit on 127.0.0.1:<port>."""
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
        progress = replay.execute(con, run_id, on_progress=None if args.json else _progress_bar)
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
        print(_table(records, ["run_id", "created_at", "status", "sample_size", "ok", "failed", "spent_usd"]))
    return 0


COMMANDS: dict[str, tuple[Callable, str]] = {
    "ingest": (cmd_ingest, "ingest request-log exports into a workspace"),
    "summary": (cmd_summary, "totals and breakdowns of a workspace"),
    "replay": (cmd_replay, "replay a sample of logged requests against candidate models"),
    "runs": (cmd_runs, "list replay runs"),
    "demo": (cmd_demo, "build the synthetic demo workspace"),
    "dashboard": (cmd_dashboard, "run the dashboard (builds the demo workspace on first start)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakeven", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=help_) for name, (_, help_) in COMMANDS.items()}
    for name in ("ingest", "summary", "replay", "runs"):
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
    p.add_argument("--auto-labels", action="store_true", help="constrain to the ground-truth label set")
    p.add_argument("--resume", metavar="RUN_ID", help="send what a run has no result for yet")
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
