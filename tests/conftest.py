"""Shared fixtures. Every test gets its own data directory; ../shared must exist (no skips)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.db import open_db

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """Point BREAKEVEN_DATA_DIR at a per-test folder so no test touches a real workspace."""
    folder = tmp_path / "workspaces"
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(folder))
    monkeypatch.delenv("BREAKEVEN_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("BREAKEVEN_WORKSPACE", raising=False)
    return folder


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared next to the checkout (real samples and labelled datasets). Its absence is a
    failure, with a clear message: these tests did not run."""
    if not (SHARED / "samples").is_dir() or not (SHARED / "datasets").is_dir():
        pytest.fail(
            f"../shared is missing (looked for {SHARED}/samples and {SHARED}/datasets): the tests "
            "that read real samples and datasets did NOT run. Put the shared folder next to the checkout."
        )
    return SHARED


@pytest.fixture
def con(tmp_path):
    """A fresh workspace database file."""
    connection = open_db(tmp_path / "test.duckdb")
    yield connection
    connection.close()
