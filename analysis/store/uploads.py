"""Files uploaded through the dashboard: saved under the data directory, then ingested.

Rules for the saved name: the uploaded name's last part, reduced to `A-Za-z0-9._-` (so an upload
cannot write outside its folder), at most NAME_CHARS characters (the stem is cut, the suffixes such as
`.jsonl.gz` kept, and a short hash of the full name added so long names stay apart). An upload never
replaces another file: a name already taken by different content gets `-2`, `-3`, ... before its
suffixes; the same content under the same name reuses the file (ingest then says it is already in).
Saving is all or nothing: when one file cannot be written, the files of that call are removed.
Content is copied in chunks from the uploaded file object, so saving never builds another copy of
an upload in memory (a 300 MB upload would otherwise need 300 MB more at once); an upload already on
disk (the dashboard's spool file) is hard-linked instead where the file system allows, so it is
neither copied nor stored twice.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
from pathlib import Path
from typing import BinaryIO

from analysis.errors import UserError
from analysis.settings import get_settings

NAME_CHARS = 120  # well under the 255 bytes a file name may have on common file systems
SUFFIX_CHARS = 12  # longest suffix kept as such (".jsonl", ".gz", ".parquet")
CHUNK_BYTES = 8 * 1024 * 1024  # copied (and compared) this much at a time


class UploadError(UserError):
    """An upload that could not be saved (nothing of that call is left behind)."""


def upload_dir(workspace: str) -> Path:
    return get_settings().data_dir / "uploads" / workspace


def safe_name(name: str) -> str:
    """The name an upload is saved under (module rules, before any `-N` to keep it apart)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name.replace("\\", "/")).name).lstrip(".") or "upload"
    if len(safe) <= NAME_CHARS:
        return safe
    stem, suffixes = _split(safe)
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{stem[:NAME_CHARS - len(suffixes) - len(digest) - 1]}-{digest}{suffixes}"


def _split(name: str) -> tuple[str, str]:
    """(stem, suffixes): the suffixes are the trailing short `.xxx` parts, at most two."""
    stem, suffixes = name, ""
    for _ in range(2):
        base, dot, suffix = stem.rpartition(".")
        if not dot or not base or not suffix or len(suffix) + 1 > SUFFIX_CHARS:
            break
        stem, suffixes = base, f".{suffix}{suffixes}"
    return stem, suffixes


def _size(content: BinaryIO) -> int:
    content.seek(0, os.SEEK_END)
    return content.tell()


def _same_content(path: Path, content: BinaryIO) -> bool:
    """The file at `path` holds exactly `content` (compared a chunk at a time)."""
    content.seek(0)
    with path.open("rb") as handle:
        while True:
            mine, theirs = content.read(CHUNK_BYTES), handle.read(CHUNK_BYTES)
            if mine != theirs:
                return False
            if not mine:
                return True


def _write_new(folder: Path, name: str, content: BinaryIO, source: Path | None = None) -> tuple[Path, bool]:
    """Write `content` under `name`, or `name` with `-2`, `-3`... when that is taken by other
    content; (path, created). Exclusive creation, so two sessions saving at once never collide.
    `source`: the file `content` reads, linked rather than copied where possible."""
    stem, suffixes = _split(name)
    size = _size(content)
    for n in range(1, 10_000):
        path = folder / (name if n == 1 else f"{stem}-{n}{suffixes}")
        try:
            if source is not None and _linked(source, path):
                return path, True
            with path.open("xb") as handle:
                try:
                    content.seek(0)
                    shutil.copyfileobj(content, handle, CHUNK_BYTES)
                except BaseException:
                    handle.close()
                    path.unlink(missing_ok=True)
                    raise
            return path, True
        except FileExistsError:
            if path.is_file() and path.stat().st_size == size and _same_content(path, content):
                return path, False
    raise UploadError(f"{name}: too many uploads under this name")


def _linked(source: Path, path: Path) -> bool:
    """Hard-link `source` as `path` (FileExistsError when taken); False where links are not possible
    (another file system, a file system without them): the caller copies instead."""
    try:
        os.link(source, path)
    except FileExistsError:
        raise
    except OSError:
        return False
    return True


def save_uploads(workspace: str, files: list[tuple[str, bytes | BinaryIO | Path]]) -> list[Path]:
    """Write uploaded files (name, content: bytes, a binary file object such as Streamlit's
    UploadedFile, or the path of a file on disk, linked where possible) to the workspace's upload
    folder under their safe names (module rules); return their paths, one per file, in order.
    Raises UploadError, with nothing of this call left behind, when one cannot be written."""
    folder = upload_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    created: list[Path] = []
    try:
        for name, content in files:
            if isinstance(content, Path):
                with content.open("rb") as handle:
                    path, new = _write_new(folder, safe_name(name), handle, source=content)
            else:
                path, new = _write_new(folder, safe_name(name),
                                       io.BytesIO(content) if isinstance(content, bytes) else content)
            paths.append(path)
            if new:
                created.append(path)
    except (OSError, UploadError) as exc:
        for path in created:
            path.unlink(missing_ok=True)
        if isinstance(exc, UploadError):
            raise
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise UploadError(f"could not save the upload {safe_name(name)!r}: {why}; nothing was saved") from exc
    return paths
