"""The fixed held-out test split of fine-tuning: requests never exported for training, on which
base and tuned candidates are compared.

Rule: a request is held out when `md5_number(request_id) % 1,000,000 < fraction x 1,000,000`
(md5 of the id, so the same on every machine and DuckDB version; no seed). Assignments are
recorded in `held_out_requests` and never removed. The fraction is fixed by the workspace's first
training export (its manifest, `training_exports`): a later export asking for another fraction is
refused, since it would move requests an earlier export trained on into the test split (or the
reverse). Requests ingested later are assigned by the same rule at the fixed fraction the next
time the split is used; they are in no earlier training set, so that is safe.
"""

from __future__ import annotations

import duckdb

from analysis.errors import UserError
from analysis.store.database import rows, scalar, utcnow

DEFAULT_TEST_FRACTION = 0.2  # 80/20, the usual fine-tuning split
HASH_BUCKETS = 1_000_000
RULE = f"md5_number(request_id) % {HASH_BUCKETS} < fraction x {HASH_BUCKETS}"


class SplitFractionError(UserError):
    """A test fraction outside (0, 1)."""


def _rule_sql(fraction: float) -> str:
    return f"md5_number(request_id) % {HASH_BUCKETS} < {int(round(fraction * HASH_BUCKETS))}"


def check_fraction(fraction: float) -> float:
    """The test fraction, refused unless 0 < fraction < 1 (all or nothing held out leaves no
    training set or no test set)."""
    if not 0 < fraction < 1:
        raise SplitFractionError(f"test fraction must be between 0 and 1 (exclusive), got {fraction}")
    return float(fraction)


def fixed_fraction(con: duckdb.DuckDBPyConnection) -> float | None:
    """The test fraction fixed by the workspace's first training export, None before any."""
    first = rows(con, "SELECT manifest->>'$.split.test_fraction' FROM training_exports ORDER BY created_at, export_id LIMIT 1")
    return float(first[0][0]) if first and first[0][0] is not None else None


def split_fraction(con: duckdb.DuckDBPyConnection, fraction: float | None = None) -> float:
    """The fraction to use: the fixed one (a different `fraction` is refused), else `fraction`,
    else DEFAULT_TEST_FRACTION."""
    fixed = fixed_fraction(con)
    if fixed is not None and fraction is not None and abs(fraction - fixed) > 1e-12:
        raise SplitFractionError(
            f"this workspace's held-out split is fixed at a test fraction of {fixed:g} by its first training "
            f"export; {fraction:g} would move requests between the training and test splits: leave "
            "--test-fraction out or give the same value")
    return check_fraction(fixed if fixed is not None else fraction if fraction is not None else DEFAULT_TEST_FRACTION)


def assign_held_out(con: duckdb.DuckDBPyConnection, fraction: float | None = None) -> int:
    """Record every request the rule (module docstring) holds out at the split's fraction
    (`split_fraction`) that is not yet recorded; return how many were added. Idempotent."""
    fraction = split_fraction(con, fraction)
    before = scalar(con, "SELECT count(*) FROM held_out_requests")
    con.execute(
        f"""INSERT INTO held_out_requests (request_id, assigned_at)
            SELECT DISTINCT request_id, ?::TIMESTAMP FROM requests
            WHERE {_rule_sql(fraction)}
              AND request_id NOT IN (SELECT request_id FROM held_out_requests)""",
        [utcnow()],
    ).fetchall()
    return scalar(con, "SELECT count(*) FROM held_out_requests") - before


def held_out_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The request ids recorded as held out."""
    return {r[0] for r in rows(con, "SELECT request_id FROM held_out_requests")}


def is_held_out(con: duckdb.DuckDBPyConnection, request_id: str) -> bool:
    """Whether `request_id` is recorded as held out."""
    return bool(scalar(con, "SELECT count(*) FROM held_out_requests WHERE request_id = ?", [request_id]))
