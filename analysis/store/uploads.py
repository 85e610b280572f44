"""Files uploaded through the dashboard: saved under the data directory, then ingested."""

from __future__ import annotations

import re
from pathlib import Path

from analysis.settings import get_settings


def upload_dir(workspace: str) -> Path:
    return get_settings().data_dir / "uploads" / workspace


def save_uploads(workspace: str, files: list[tuple[str, bytes | memoryview]]) -> list[Path]:
    """Write uploaded files (name, content) to the workspace's upload folder; return their paths.
    Names are reduced to safe characters so an upload cannot write outside that folder."""
    folder = upload_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in files:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip(".") or "upload"
        path = folder / safe
        path.write_bytes(content)
        paths.append(path)
    return paths

