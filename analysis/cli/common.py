"""What the command modules share: the refusal, JSON output, and opening the --workspace (per
operation, waiting visibly while another process holds it: analysis.store.access)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from pydantic import ValidationError

from analysis.errors import NotFound, UserError
from analysis.settings import get_settings
from analysis.store import access
from analysis.store.database import scalar, workspace_file


class Refused(UserError):
    """A request the CLI turns down: `main` prints "refused: <message>" on one line on stderr and
    exits with `code` (2: a value or usage the command cannot take; 1: anything else)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


def print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)


def validation_text(exc: ValidationError) -> str:
    """pydantic's errors in one line: "sample size: Input should be greater than or equal to 1"."""
    return "; ".join(f"{' '.join(map(str, e['loc'])) or exc.title}: {e['msg']}" for e in exc.errors())


def workspace_exists(args) -> bool:
    return get_settings().workspace_path(args.workspace).exists()


def workspace_name(args) -> str:
    return args.workspace or get_settings().workspace


def show_wait(holder: str) -> None:
    """What a command waits for, on stderr: "waiting for ingest of calls.jsonl (pid 4242) to finish…"."""
    print(f"waiting for {holder} to finish…", file=sys.stderr, flush=True)


def _must_exist(args) -> None:
    """Refuse a workspace that does not exist (a typo would otherwise create an empty one and report zeros)."""
    if not workspace_exists(args):
        settings = get_settings()
        existing = settings.workspaces()
        raise NotFound(f"no workspace {workspace_name(args)!r} in {settings.data_dir}; "
                       + (f"existing: {', '.join(existing)}" if existing else "ingest logs first (breakeven ingest FILE)"))


@contextmanager
def reading_workspace(args) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to --workspace (default: the settings') for one operation."""
    _must_exist(args)
    with access.reading(args.workspace, on_wait=show_wait) as con:
        yield con


@contextmanager
def writing_workspace(args, purpose: str, must_exist: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to --workspace for one operation; `purpose` names it to the
    processes that wait meanwhile."""
    if must_exist:
        _must_exist(args)
    with access.writing(args.workspace, purpose, on_wait=show_wait) as con:
        yield con


def shared_workspace(args) -> access.Workspace:
    """--workspace for a long job (a replay, a probe) that opens it per batch."""
    _must_exist(args)
    return access.Workspace(workspace_file(args.workspace), on_wait=show_wait)


def known_run(con, run_id: str | None) -> None:
    """Refuse a --run that the workspace does not hold (instead of showing an empty result)."""
    if run_id and not scalar(con, "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]):
        raise NotFound(f"no run {run_id!r} in this workspace (see breakeven runs)")
