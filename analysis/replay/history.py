"""Past replay runs as people read them: candidates as SPEC strings, and which runs can be resumed."""

from __future__ import annotations

import json

import duckdb
import polars as pl
from pydantic import ValidationError

from analysis.replay.providers.registry import Candidate
from analysis.replay.runs import list_runs

RESUMABLE = ("created", "interrupted", "running")  # running: only when no thread runs it (server restart)


def _spec(stored: dict) -> str:
    """A stored candidate as its SPEC; one this version no longer accepts is named as it was."""
    try:
        return Candidate(**stored).spec
    except ValidationError:
        return f"{stored.get('provider')}:{stored.get('model')} (no longer a valid candidate)"


def past_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """`replay.list_runs` with `candidates` as a comma-separated list of SPECs (never keys)."""
    runs = list_runs(con)
    specs = [", ".join(_spec(c) for c in json.loads(raw)) for raw in runs["candidates"]]
    return runs.with_columns(pl.Series("candidates", specs, dtype=pl.String))
