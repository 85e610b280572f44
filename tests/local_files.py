"""Small hand-made input files for the ingest tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def write_jsonl(path: Path, records: list) -> Path:
    """`records` as JSON lines at `path`."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_csv(path: Path, fields: list[str], records: list[dict]) -> Path:
    """`records` as a CSV file with the header `fields` at `path`."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(records)
    return path
