"""`breakeven`: the command line. Thin: parse arguments, call `analysis`, print JSON or the tables
and lines of `analysis.present.tables` (the same the pages show).

Each subcommand is one function `cmd_<name>(args) -> int` (the exit code) registered in COMMANDS;
the functions live in modules by the data flow: `workspace` (ingest, summary, demo, dashboard),
`replay` (replay, runs, probe, local-model), `quality` (attach-labels, score, quality),
`economics` (economics, route, report, scenarios) and `tuning` (export-training; merged from its own
COMMANDS). `main` turns what a user got wrong (`analysis.errors.UserError`, `Refused` included)
into one line on stderr; anything else is a bug: one line saying so, its traceback appended to
`<data dir>/cli-errors.log`, exit code 70.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from pydantic import ValidationError

from analysis.cli import economics, quality, replay, tuning, workspace
from analysis.cli.common import Refused, validation_text
from analysis.cli.economics import cmd_decide, cmd_economics, cmd_report, cmd_route, cmd_scenarios, cmd_size
from analysis.cli.quality import cmd_attach_labels, cmd_quality, cmd_score
from analysis.cli.replay import cmd_local_model, cmd_probe, cmd_replay, cmd_runs
from analysis.cli.workspace import cmd_dashboard, cmd_demo, cmd_ingest, cmd_ingest_labelled, cmd_summary
from analysis.errors import UserError
from analysis.redact import redact
from analysis.settings import WorkspaceNameError, get_settings

__all__ = ["COMMANDS", "ERROR_LOG", "INTERNAL_ERROR", "Refused", "build_parser", "main"]

INTERNAL_ERROR = 70  # sysexits' EX_SOFTWARE: a bug, not a mistake of the user's
ERROR_LOG = "cli-errors.log"  # under the data directory

COMMANDS: dict[str, tuple[Callable, str]] = {
    "ingest": (cmd_ingest, "ingest request-log exports into a workspace"),
    "summary": (cmd_summary, "totals and breakdowns of a workspace"),
    "replay": (cmd_replay, "replay a sample of logged requests against candidate models"),
    "runs": (cmd_runs, "list replay runs with each candidate's calls, latency, tokens and cost"),
    "probe": (cmd_probe, "measure an endpoint's capacity: requests/s and latency at rising concurrency"),
    "ingest-labelled": (cmd_ingest_labelled, "load a labelled dataset as requests with ground truth"),
    "attach-labels": (cmd_attach_labels, "attach ground-truth labels to logged requests by request id"),
    "score": (cmd_score, "score a run's answers against the best reference available"),
    "quality": (cmd_quality, "per candidate x task type accuracy, intervals and verdicts"),
    "size": (cmd_size, "capacity of a model on a GPU from the sizing model: fit, replicas, requests/s, bounds"),
    "economics": (cmd_economics, "API vs self-hosting costs and the break-even for a scenario"),
    "decide": (cmd_decide, "the one answer: what goes local, both monthly bills, the quality caveat"),
    "route": (cmd_route, "the recommended local/API split per segment"),
    "report": (cmd_report, "write the HTML report of a scenario"),
    "scenarios": (cmd_scenarios, "list, show or save the saved scenarios"),
    "local-model": (cmd_local_model, "start, stop or show the embedded llama.cpp engine"),
    "demo": (cmd_demo, "build the synthetic demo workspace"),
    "dashboard": (cmd_dashboard, "run the dashboard (builds the demo workspace on first start)"),
    **tuning.COMMANDS,
}
WITH_WORKSPACE = ("ingest", "summary", "replay", "runs", "probe", "ingest-labelled", "attach-labels", "score",
                  "quality", "size", "economics", "decide", "route", "report", "local-model",
                  *tuning.WITH_WORKSPACE)  # scenarios: on each action


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakeven", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=help_) for name, (_, help_) in COMMANDS.items()}
    for name in WITH_WORKSPACE:
        parsers[name].add_argument("--workspace", default=None, help="workspace name (default: settings)")
        parsers[name].add_argument("--json", action="store_true", help="print JSON")
    for module in (workspace, replay, quality, economics, tuning):
        module.add_arguments(parsers)
    return parser


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or text


def _internal_error(exc: BaseException, argv: list[str]) -> int:
    """A bug: one line on stderr naming it and where its traceback went (the data directory's
    ERROR_LOG; printed on stderr when that cannot be written). Keys are redacted from both."""
    text = redact("".join(traceback.format_exception(exc)))
    summary = redact(_one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__))
    try:
        log = Path(get_settings().data_dir) / ERROR_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, breakeven "
                         f"{redact(' '.join(argv))}\n{text}")
    except Exception:  # settings unreadable, data dir not writable: the traceback here instead
        sys.stderr.write(text)
        print(f"internal error, please report: {summary}", file=sys.stderr)
        return INTERNAL_ERROR
    print(f"internal error, please report: {summary} (traceback in {log.resolve()})", file=sys.stderr)
    return INTERNAL_ERROR


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; what a user got wrong (a `UserError`: a value out of range, an unknown
    run or scenario, a bad file; a bad setting; a busy or unknown workspace; a missing path) ends
    in one line on stderr, "refused: ...", exit 1 (2: a usage or value the command cannot take).
    Anything else is an internal error (see `_internal_error`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    handler, _ = COMMANDS[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except UserError as exc:  # Refused included
        message, code = str(exc), getattr(exc, "code", 1)
    except ValidationError as exc:  # settings from the environment, or a value pydantic refuses
        message, code = f"{exc.title}: {validation_text(exc)}", 2
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            return _internal_error(exc, argv)
        holder = re.search(r"PID (\d+)", str(exc))
        message, code = (f"the workspace is busy: another process{' (pid ' + holder.group(1) + ')' if holder else ''} "
                         "has it open; try again when it is done"), 1
    except BrokenPipeError:  # `breakeven ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (WorkspaceNameError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
            PermissionError) as exc:  # a bad name, a missing file, a data directory that is a file, ...
        message, code = str(exc), 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not the user's mistake
        return _internal_error(exc, argv)
    print(f"refused: {redact(_one_line(message))}", file=sys.stderr)  # an endpoint's text may echo a key
    return code
