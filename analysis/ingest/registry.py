"""The ingest adapters, one module per format, in detection order (most specific first).

Each adapter module has `NAME`, `DESCRIPTION`, `detect(sample) -> bool` and `load(ctx)`.
Adding a format = one module + one line here + its tests + a line in the README.
"""

from __future__ import annotations

from types import ModuleType

from analysis.ingest import (
    anthropic_batch,
    cassette,
    generic,
    har,
    helicone,
    labelled,
    langfuse,
    litellm,
    openai_batch,
    openai_batch_input,
    openai_chat,
    otel,
)
from analysis.ingest.sample import Sample

ADAPTERS: dict[str, ModuleType] = {
    module.NAME: module
    for module in [
        openai_batch,
        openai_batch_input,
        anthropic_batch,
        cassette,
        har,
        litellm,
        langfuse,
        helicone,
        openai_chat,
        otel,
        generic,  # after every specific format: columns with canonical names, or a mapping
        labelled,  # last, never detected: only through ingest-labelled
    ]
}


def adapter_for(name: str) -> ModuleType:
    return ADAPTERS[name]


def detect_format(sample: Sample) -> str | None:
    """The first adapter that recognises the sample's content, or None."""
    for name, module in ADAPTERS.items():
        if module.detect(sample):
            return name
    return None
