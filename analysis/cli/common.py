"""What the command modules share: the refusal, JSON output, and opening the --workspace."""

from __future__ import annotations

import json

from pydantic import ValidationError

from analysis.errors import NotFound, UserError
from analysis.settings import get_settings
from analysis.store.database import open_db, scalar


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


def open_workspace(args, must_exist: bool = True):
    """The connection to --workspace (default: the settings'). A command that reads a workspace
    refuses one that does not exist (a typo would otherwise create an empty one and report zeros)."""
    if must_exist and not workspace_exists(args):
        settings = get_settings()
        existing = settings.workspaces()
        raise NotFound(f"no workspace {workspace_name(args)!r} in {settings.data_dir}; "
                       + (f"existing: {', '.join(existing)}" if existing else "ingest logs first (breakeven ingest FILE)"))
    return open_db(args.workspace)


def known_run(con, run_id: str | None) -> None:
    """Refuse a --run that the workspace does not hold (instead of showing an empty result)."""
    if run_id and not scalar(con, "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]):
        raise NotFound(f"no run {run_id!r} in this workspace (see breakeven runs)")
