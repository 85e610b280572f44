"""OpenAI Batch API *input* JSONL: prompts only. Recognised so that `ingest_paths` can pair it with
its output file; on its own it cannot be ingested (there are no answers, tokens or costs)."""

from __future__ import annotations

from analysis.ingest.context import IngestError, LoadContext
from analysis.ingest.sample import Sample

NAME = "openai_batch_input"
DESCRIPTION = "OpenAI Batch API input JSONL (give it together with its output file)"


def detect(sample: Sample) -> bool:
    first = sample.first()
    return sample.kind == "jsonl" and {"custom_id", "body", "url"} <= first.keys() and "response" not in first


def load(ctx: LoadContext) -> None:
    raise IngestError(
        f"{ctx.label}: an OpenAI Batch input file only holds prompts; ingest it together with its "
        "output file (breakeven ingest OUTPUT.jsonl INPUT.jsonl)"
    )
