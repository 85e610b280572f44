"""Saved scenarios: stored in the workspace under a short id that share links carry (?scenario=ID).

The id is the first 10 characters of the base32 SHA-256 of the scenario's JSON, so saving the
same assumptions twice gives the same link. Only assumptions are stored (Scenario has no field
for keys or prompt text)."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

import duckdb

from analysis.economics.scenario import Scenario, ScenarioError
from analysis.store.database import rows, utcnow

ID_PATTERN = re.compile(r"^[a-z2-7]{10}$")


@dataclass(frozen=True)
class SavedScenario:
    """A stored scenario; `scenario` is None and `problem` says why when its body no longer
    validates (e.g. saved by an older version), so it can still be listed and deleted."""
    scenario_id: str
    name: str | None
    scenario: Scenario | None
    created_at: datetime
    problem: str | None = None


def scenario_id(scenario: Scenario) -> str:
    digest = hashlib.sha256(scenario.to_json().encode()).digest()
    return base64.b32encode(digest).decode().lower()[:10]


def save(con: duckdb.DuckDBPyConnection, scenario: Scenario, name: str | None = None) -> str:
    """Store the scenario (idempotent) and return its id."""
    sid = scenario_id(scenario)
    con.execute(
        "INSERT INTO scenarios VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET name = coalesce(EXCLUDED.name, name)",
        [sid, name, scenario.to_json(), utcnow()],
    ).fetchall()
    return sid


def load(con: duckdb.DuckDBPyConnection, sid: str) -> SavedScenario:
    """The saved scenario with this id; ScenarioError with a clear message when the id is
    malformed, unknown, or its stored body no longer validates."""
    if not isinstance(sid, str) or not ID_PATTERN.match(sid):
        raise ScenarioError(f"scenario link id {sid!r} is malformed (expected 10 characters a-z, 2-7)")
    found = rows(con, "SELECT name, body, created_at FROM scenarios WHERE scenario_id = ?", [sid])
    if not found:
        raise ScenarioError(f"no saved scenario {sid!r} in this workspace (deleted, or a link to another workspace?)")
    name, body, created = found[0]
    return SavedScenario(sid, name, Scenario.from_json(body), created)


def saved(con: duckdb.DuckDBPyConnection) -> list[SavedScenario]:
    """Every saved scenario, newest first (one that no longer validates comes with its problem)."""
    out = []
    for sid, name, body, created in rows(con, "SELECT scenario_id, name, body, created_at FROM scenarios "
                                              "ORDER BY created_at DESC"):
        try:
            out.append(SavedScenario(sid, name, Scenario.from_json(body), created))
        except ScenarioError as exc:
            out.append(SavedScenario(sid, name, None, created, str(exc)))
    return out


def delete(con: duckdb.DuckDBPyConnection, sid: str) -> bool:
    return bool(con.execute("DELETE FROM scenarios WHERE scenario_id = ?", [sid]).fetchall()[0][0])
