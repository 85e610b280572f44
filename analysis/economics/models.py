"""The model catalogue (`data/models.json`): the open models a team would self-host, each with the
figures that size a deployment (parameters, layers, attention and KV heads, context window), its
licence, the precision its weights ship in, and the config.json / model card they were read from.

Names in scenarios and replay candidates come in many spellings (a Hugging Face repo id, an Ollama
tag, a provider-prefixed candidate such as "ollama:llama3.1:8b", a GGUF file name); `find_model`
resolves all of them to one card, so sizing never has to guess a model's shape from its name."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from analysis.errors import NotFound
from analysis.reference import read_json


@dataclass(frozen=True)
class ModelCard:
    """One model. `params_active_b` equals `params_total_b` for dense models; for a mixture of
    experts it is what one token runs through (`experts_active` of `experts_total` experts), while
    memory holds all of `params_total_b`. `head_dim` is config.json's (or hidden_size /
    attention_heads where it has none); `note` says where a figure is unusual or missing."""
    name: str
    display_name: str
    aliases: tuple[str, ...]
    family: str
    params_total_b: float
    params_active_b: float
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    context_window: int
    licence: str
    native_quant: str
    source: str
    as_of: str
    experts_total: int | None = None
    experts_active: int | None = None
    note: str | None = None

    @property
    def is_moe(self) -> bool:
        """True for a mixture of experts (fewer parameters used per token than stored)."""
        return self.experts_total is not None or self.params_active_b < self.params_total_b


def _card(entry: dict[str, Any]) -> ModelCard:
    return ModelCard(
        name=entry["name"],
        display_name=entry["display_name"],
        aliases=tuple(entry["aliases"]),
        family=entry["family"],
        params_total_b=float(entry["params_total_b"]),
        params_active_b=float(entry["params_active_b"]),
        layers=int(entry["layers"]),
        hidden_size=int(entry["hidden_size"]),
        attention_heads=int(entry["attention_heads"]),
        kv_heads=int(entry["kv_heads"]),
        head_dim=int(entry["head_dim"]),
        context_window=int(entry["context_window"]),
        licence=entry["licence"],
        native_quant=entry["native_quant"],
        source=entry["source"],
        as_of=entry["as_of"],
        experts_total=entry.get("experts_total"),
        experts_active=entry.get("experts_active"),
        note=entry.get("note"),
    )


@lru_cache(maxsize=1)
def model_cards() -> tuple[ModelCard, ...]:
    """Every model of `data/models.json`, in file order."""
    return tuple(_card(entry) for entry in read_json("models.json")["models"])


@lru_cache(maxsize=1)
def _by_name() -> dict[str, ModelCard]:
    """Casefolded name, every alias, and each Hugging Face repo id's name without its organisation
    ("Meta-Llama-3.1-8B-Instruct", as GGUF files and re-uploads call it) -> card. A name shared by
    two cards is a data error."""
    index: dict[str, ModelCard] = {}
    for card in model_cards():
        repo_names = [alias.rsplit("/", 1)[1] for alias in card.aliases if "/" in alias]
        for key in (card.name, *card.aliases, *repo_names):
            folded = key.casefold()
            if index.setdefault(folded, card) is not card:
                raise ValueError(f"models.json: {key!r} names both {index[folded].name} and {card.name}")
    return index


# What a quantised or repackaged build appends to a model's name: "-Q4_K_M", "-GGUF", ".gguf",
# "-AWQ", "-fp16", "-4bit" ... Removed one at a time from the end, so "-Instruct-Q4_K_M-GGUF" works.
_BUILD_SUFFIX = re.compile(
    r"[-_.](gguf|ggml|q\d(_k)?(_[sml])?|q\d_\d|iq\d\w*|f16|fp16|bf16|f32|fp8|int8|int4|awq|gptq|exl2|mlx|\d+bit)$",
    re.IGNORECASE,
)
# Tried last: a base ("-pt"), chat or instruct build has the same shape as the card's model, and
# so has a model fine-tuned here from a base (replay.tuning's alias `<base short name>-ft-<job id>`).
_TUNING_SUFFIX = re.compile(r"[-_](instruct|it|chat|pt|base)$|-ft-[0-9a-f]{8}$", re.IGNORECASE)


def _spellings(name: str) -> list[str]:
    """The strings worth looking up for `name`, most specific first: the whole string; then each
    shorter ':'-suffix (drops provider prefixes such as "ollama:" or "openai-compat:http://h:8000/v1:"
    yet keeps Ollama's "llama3.1:8b" whole before trying "8b"); each also after its last '/' (an
    unknown Hugging Face organisation, e.g. a re-uploader) and with build suffixes removed; last,
    without a tuning suffix (an instruct build, or a model fine-tuned here: same architecture)."""
    parts = name.strip().split(":")
    suffixes = [":".join(parts[i:]) for i in range(len(parts))]
    found: list[str] = []
    for suffix in suffixes:
        for candidate in (suffix, suffix.rsplit("/", 1)[-1]):
            while candidate and candidate not in found:
                found.append(candidate)
                shorter = _BUILD_SUFFIX.sub("", candidate)
                if shorter == candidate:
                    break
                candidate = shorter
    return found + [_TUNING_SUFFIX.sub("", s) for s in found if _TUNING_SUFFIX.search(s)]


def find_model(name: str) -> ModelCard | None:
    """The card `name` refers to: its canonical name or an alias, ignoring case, also inside a
    provider-prefixed candidate ("ollama:llama3.1:8b", "local:gemma-3-270m") or with a GGUF-style
    build suffix ("-q4_k_m", "-gguf"). None when nothing matches."""
    index = _by_name()
    for spelling in _spellings(name):
        card = index.get(spelling.casefold())
        if card is not None:
            return card
    return None


def model_card(name: str) -> ModelCard:
    """Like `find_model`, but an unknown name raises NotFound naming the closest known models."""
    card = find_model(name)
    if card is not None:
        return card
    index = _by_name()
    close = difflib.get_close_matches(name.strip().casefold(), index, n=5, cutoff=0.5)
    suggestions = list(dict.fromkeys(index[key].name for key in close))
    hint = f"closest: {', '.join(suggestions)}" if suggestions else f"known: {', '.join(c.name for c in model_cards())}"
    raise NotFound(f"unknown model {name!r} (not in data/models.json); {hint}")
