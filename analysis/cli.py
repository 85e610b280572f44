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
    from analysis.ingest.generic import load_mapping, mapping_from_flags

    options: dict = {}
    if args.mapping:
        options["mapping"] = load_mapping(Path(args.mapping))
    if args.map:
        options["mapping"] = {**options.get("mapping", {}), **mapping_from_flags(args.map)}
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


COMMANDS: dict[str, tuple[Callable, str]] = {
    "ingest": (cmd_ingest, "ingest request-log exports into a workspace"),
    "summary": (cmd_summary, "totals and breakdowns of a workspace"),
    "demo": (cmd_demo, "build the synthetic demo workspace"),
    "dashboard": (cmd_dashboard, "run the dashboard (builds the demo workspace on first start)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakeven", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=help_) for name, (_, help_) in COMMANDS.items()}
    for name in ("ingest", "summary"):
        parsers[name].add_argument("--workspace", default=None, help="workspace name (default: settings)")
        parsers[name].add_argument("--json", action="store_true", help="print JSON")
    p = parsers["ingest"]
    p.add_argument("paths", nargs="+", help="log files (gzip/zstd accepted)")
    p.add_argument("--format", default=None, help="skip detection and use this format")
    p.add_argument("--mapping", default=None, help="generic format: TOML/JSON column mapping file")
    p.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE",
                   help="generic format: map one column (repeatable)")
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
