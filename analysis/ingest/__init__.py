"""Ingest request-log exports into the workspace's `requests` table (see core.ingest_file)."""

from analysis.ingest.core import IngestError, IngestResult, ingest_file, ingest_paths
from analysis.ingest.registry import ADAPTERS, detect_format

__all__ = ["ADAPTERS", "IngestError", "IngestResult", "detect_format", "ingest_file", "ingest_paths"]
