"""Peek at the head of a file (decompressing gzip/zstd) to detect its format from content."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from analysis.errors import UserError
from analysis.ingest import nesting

HEAD_BYTES = 256 * 1024
DOCUMENT_BYTES = 64 * 1024 * 1024  # a single JSON document larger than the head is read up to this
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"


class UnreadableFileError(UserError):
    """The file cannot be ingested at all (empty, binary, not UTF-8, unknown shape)."""


@dataclass(frozen=True)
class Sample:
    """What detection sees: the decoded head of a file and its first parsed records."""

    path: Path
    kind: str  # jsonl | json | csv | parquet | yaml
    compression: str | None  # gzip | zstd | None
    text: str = ""
    records: list[dict] = field(default_factory=list)  # first JSONL lines / array items / the object
    columns: list[str] = field(default_factory=list)  # CSV header or Parquet columns

    def first(self) -> dict:
        return self.records[0] if self.records else {}


def compression_of(head: bytes) -> str | None:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def read_head(path: Path, limit: int = HEAD_BYTES) -> tuple[bytes, str | None]:
    """Up to `limit` decompressed bytes from the start of the file, and its compression."""
    with open(path, "rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        compression = compression_of(magic)
        if compression == "gzip":
            stream = gzip.GzipFile(fileobj=raw)
        elif compression == "zstd":
            stream = zstandard.ZstdDecompressor().stream_reader(raw)
        else:
            stream = raw
        try:
            return stream.read(limit), compression
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            raise UnreadableFileError(f"{path.name}: corrupt {compression} data ({exc})") from exc


def _json_records(text: str, complete: bool) -> tuple[str, list[dict]] | None:
    """('json', records) for a whole JSON document, ('jsonl', records) for JSON lines."""
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "[{":
        return None
    if complete:
        try:
            doc = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested too deep (module nesting)
            doc = None
        if isinstance(doc, list):
            return "json", [d for d in doc[:20] if isinstance(d, dict)]
        if isinstance(doc, dict):
            return "json", [doc]
    if stripped[0] == "[":
        # A JSON array too large to see whole: parse its first items.
        decoder, records, pos = json.JSONDecoder(), [], 1
        while len(records) < 20:
            while pos < len(stripped) and stripped[pos] in " \t\r\n,":
                pos += 1
            try:
                item, pos = decoder.raw_decode(stripped, pos)
            except (json.JSONDecodeError, RecursionError):
                break
            if isinstance(item, dict):
                records.append(item)
        return ("json", records) if records else None
    records = []
    for line in stripped.splitlines()[:50]:
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # the load rejects that line with its reason
            continue
        if isinstance(item, dict):
            records.append(item)
        if len(records) >= 20:
            break
    if records:
        return "jsonl", records
    try:  # one object spread over several lines, larger than the head
        item, _ = json.JSONDecoder().raw_decode(stripped)
        return "json", [item] if isinstance(item, dict) else []
    except (json.JSONDecodeError, RecursionError):
        return "jsonl", []


def _large_document(path: Path) -> tuple[str, list[dict]] | None:
    """('json', [the object]) for one JSON object (pretty-printed, say) larger than the head."""
    head, _ = read_head(path, DOCUMENT_BYTES)
    try:
        doc = json.loads(head)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return ("json", [doc]) if isinstance(doc, dict) else None


def json_problem(path: Path) -> str:
    """Where and why a file (its first DOCUMENT_BYTES, decompressed) is no valid JSON document:
    "line L, column C: why", for messages that point at the spot."""
    head, _ = read_head(path, DOCUMENT_BYTES)
    try:
        json.loads(head.decode("utf-8").lstrip("\ufeff"))
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        return f"line {line}: not UTF-8 (byte 0x{head[exc.start]:02x})"
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except RecursionError:
        return nesting.too_deep_reason(nesting.depth(head.decode("utf-8")))
    return "larger than the largest JSON document read" if len(head) >= DOCUMENT_BYTES else "invalid JSON"


def read_sample(path: Path) -> Sample:
    """Classify a file by content: Parquet, JSON document, JSON lines, YAML (VCR cassette) or CSV."""
    path = Path(path)
    if path.is_dir():
        raise UnreadableFileError(f"{path.name}: a folder, not a file (name the files in it)")
    if not path.is_file():
        raise UnreadableFileError(f"{path.name}: no such file ({path.resolve()})")
    if path.stat().st_size == 0:
        raise UnreadableFileError(f"{path.name}: the file is empty")
    head, compression = read_head(path)
    if not head.strip():
        raise UnreadableFileError(f"{path.name}: the file is empty (only whitespace)")
    if head.startswith(PARQUET_MAGIC):
        import pyarrow.parquet as pq

        columns = pq.read_schema(path).names
        return Sample(path, "parquet", compression, columns=columns)
    complete = len(head) < HEAD_BYTES
    if b"\x00" in head[:8192]:
        raise UnreadableFileError(
            f"{path.name}: looks like a binary file (NUL bytes near the start); expected JSON lines, "
            "a JSON document, CSV or Parquet"
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut = not complete and exc.start >= len(head) - 4  # just a character cut by the head limit
        if not cut and b"\n" not in head[: exc.start]:
            raise UnreadableFileError(
                f"{path.name}: line 1: not UTF-8 (byte 0x{head[exc.start]:02x} at offset "
                f"{exc.start}); re-export the file as UTF-8"
            ) from exc
        # A later line is not UTF-8: detect from the rest; the loader rejects that line.
        text = head[: exc.start].decode("utf-8") if cut else head.decode("utf-8", errors="replace")
    text = text.lstrip("\ufeff")
    found = _json_records(text, complete)
    if found == ("jsonl", []) and not complete and text.lstrip().startswith("{"):
        found = _large_document(path) or found
    if found is not None:
        kind, records = found
        return Sample(path, kind, compression, text=text, records=records)
    if re.search(r"^interactions:", text, re.MULTILINE) and text.lstrip().startswith(("interactions:", "#", "version:", "---")):
        return Sample(path, "yaml", compression, text=text)  # a VCR cassette (keys in either order, comments first)
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (StopIteration, csv.Error):
        header = []
    if len(header) >= 2 and all(h.strip() for h in header):
        return Sample(path, "csv", compression, text=text, columns=[h.strip() for h in header])
    raise UnreadableFileError(
        f"{path.name}: unrecognised content (starts with {text[:60]!r}); expected JSON lines, "
        "a JSON document, a CSV file with a header row, Parquet or a VCR cassette"
    )
