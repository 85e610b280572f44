"""analysis.economics.models: the model catalogue (data/models.json) and name resolution."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from analysis.economics.models import ModelCard, find_model, model_card, model_cards
from analysis.errors import NotFound
from analysis.reference import read_json

REQUIRED_FIELDS = (
    "name", "display_name", "aliases", "family", "params_total_b", "params_active_b", "layers",
    "hidden_size", "attention_heads", "kv_heads", "head_dim", "context_window", "licence",
    "native_quant", "source", "as_of", "checked",
)

# The models issue #13 asks the catalogue to cover, by canonical name.
REQUIRED_MODELS = (
    "mistral-7b-instruct-v0.3", "phi-4", "llama-3.3-70b-instruct", "mistral-large-instruct-2407",
    "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b", "qwen3-30b-a3b",
    "qwen3-235b-a22b", "deepseek-r1-distill-qwen-7b", "deepseek-r1-distill-qwen-14b",
    "deepseek-r1-distill-qwen-32b", "deepseek-r1-distill-llama-8b", "deepseek-r1-distill-llama-70b",
    "llama-3.1-8b-instruct", "llama-3.1-70b-instruct", "llama-3.2-1b-instruct", "llama-3.2-3b-instruct",
    "gemma-3-270m", "gemma-3-1b", "gemma-3-4b", "gemma-3-12b", "gemma-3-27b", "gpt-oss-20b",
    "gpt-oss-120b", "mixtral-8x7b-instruct-v0.1", "smollm2-135m-instruct",
)


def test_catalogue_covers_the_required_models():
    names = [card.name for card in model_cards()]
    assert len(names) == len(set(names))
    assert set(REQUIRED_MODELS) <= set(names)
    assert "llama-3.1-8b-instruct" in names  # today's scenario default


def test_every_model_has_every_field():
    for entry in read_json("models.json")["models"]:
        missing = [key for key in REQUIRED_FIELDS if entry.get(key) in (None, "", [])]
        assert not missing, f"{entry.get('name')}: missing {missing}"
        known = {f.name for f in fields(ModelCard)} | {"checked"}
        assert set(entry) <= known, f"{entry['name']}: unknown fields {set(entry) - known}"


def test_figures_are_sane_and_typed():
    for card in model_cards():
        assert re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", card.name), card.name
        assert 0 < card.params_active_b <= card.params_total_b
        assert all(isinstance(v, int) and v > 0 for v in
                   (card.layers, card.hidden_size, card.attention_heads, card.kv_heads, card.head_dim,
                    card.context_window)), card.name
        assert card.attention_heads % card.kv_heads == 0, card.name  # grouped-query attention
        assert card.native_quant in {"bf16", "fp8", "mxfp4"}, card.name
        assert re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", card.as_of), card.name


def test_moe_models_use_fewer_parameters_per_token_than_they_store():
    moe = [card for card in model_cards() if card.is_moe]
    assert {c.name for c in moe} == {"qwen3-30b-a3b", "qwen3-235b-a22b", "gpt-oss-20b", "gpt-oss-120b",
                                     "mixtral-8x7b-instruct-v0.1"}
    for card in moe:
        assert card.params_active_b < card.params_total_b, card.name
        assert card.experts_total and card.experts_active and card.experts_active < card.experts_total
    for card in model_cards():
        if not card.is_moe:
            assert card.params_active_b == card.params_total_b and card.experts_total is None


def test_head_dim_matches_hidden_size_or_the_note_says_why():
    for card in model_cards():
        if card.attention_heads * card.head_dim != card.hidden_size:
            assert card.note and "head_dim" in card.note, card.name


def test_every_source_is_an_https_url():
    for card in model_cards():
        assert re.fullmatch(r"https://\S+", card.source), card.name
    for entry in read_json("models.json")["models"]:
        assert re.fullmatch(r"20\d\d-\d\d", entry["checked"]), entry["name"]


def test_gpt_oss_ships_mxfp4_and_the_rest_bf16():
    assert model_card("gpt-oss-20b").native_quant == "mxfp4"
    assert model_card("gpt-oss-120b").native_quant == "mxfp4"
    assert model_card("llama-3.1-8b-instruct").native_quant == "bf16"


def test_well_known_figures():
    llama = model_card("llama-3.1-8b-instruct")
    assert (llama.layers, llama.hidden_size, llama.attention_heads, llama.kv_heads, llama.head_dim,
            llama.context_window) == (32, 4096, 32, 8, 128, 131072)
    qwen = model_card("qwen3-30b-a3b")
    assert (qwen.layers, qwen.kv_heads, qwen.experts_total, qwen.experts_active) == (48, 4, 128, 8)
    gemma = model_card("gemma-3-270m")
    assert (gemma.layers, gemma.hidden_size, gemma.kv_heads, gemma.head_dim) == (18, 640, 1, 256)
    assert model_card("mistral-large-instruct-2407").licence == "Mistral Research License"


@pytest.mark.parametrize("written, expected", [
    ("llama-3.1-8b-instruct", "llama-3.1-8b-instruct"),
    ("  LLAMA-3.1-8B-Instruct ", "llama-3.1-8b-instruct"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
    ("llama3.1:8b", "llama-3.1-8b-instruct"),
    ("ollama:llama3.1:8b", "llama-3.1-8b-instruct"),
    ("openai-compat:http://h:8000/v1:meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
    ("local:gemma-3-270m", "gemma-3-270m"),
    ("gemma3:270m", "gemma-3-270m"),
    ("qwen3:30b-a3b", "qwen3-30b-a3b"),
    ("ollama:gpt-oss:20b", "gpt-oss-20b"),
    ("llama3.1:8b-instruct-q4_K_M", "llama-3.1-8b-instruct"),
    ("Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "llama-3.1-8b-instruct"),
    ("bartowski/Llama-3.1-8B-Instruct-GGUF", "llama-3.1-8b-instruct"),
    ("Qwen/Qwen3-8B-AWQ", "qwen3-8b"),
    ("google/gemma-3-27b-pt", "gemma-3-27b"),
    ("local:smollm2-135m-ft-1a2b3c4d", "smollm2-135m-instruct"),  # tuned here: the base's shape
])
def test_lookup_by_name_alias_prefix_and_build_suffix(written, expected):
    assert find_model(written).name == expected
    assert model_card(written).name == expected


@pytest.mark.parametrize("written", ["8b", "ollama:qwen3", "gpt-5", "openai-compat:http://h:8000/v1", ""])
def test_unknown_names_find_nothing(written):
    assert find_model(written) is None


def test_unknown_name_raises_not_found_naming_the_closest():
    with pytest.raises(NotFound, match=r"unknown model 'llama-3.1-9b-instruct'.*llama-3\.1-8b-instruct"):
        model_card("llama-3.1-9b-instruct")


def test_no_alias_names_two_models():
    seen: dict[str, str] = {}
    for card in model_cards():
        for key in (card.name, *card.aliases):
            assert seen.setdefault(key.casefold(), card.name) == card.name, key
