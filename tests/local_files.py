"""Small hand-made input files for the ingest tests."""

from __future__ import annotations

import json
from pathlib import Path


def write_jsonl(path: Path, records: list) -> Path:
    """`records` as JSON lines at `path`."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
