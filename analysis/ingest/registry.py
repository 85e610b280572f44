"""The ingest adapters, one module per format, in detection order (most specific first).

Each adapter module has `NAME`, `DESCRIPTION`, `detect(sample) -> bool` and `load(ctx)`.
Adding a format = one module + one line here + its tests + a line in the README.
"""

from __future__ import annotations

from types import ModuleType

from analysis.ingest import openai_batch, openai_batch_input
from analysis.ingest.sample import Sample

ADAPTERS: dict[str, ModuleType] = {
    module.NAME: module
    for module in [
        openai_batch,
        openai_batch_input,
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
