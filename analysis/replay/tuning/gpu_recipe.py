"""A ready-to-run recipe for fine-tuning a catalogue model on a rented GPU, from a training export
(`breakeven export-training`: its OpenAI-format train file, `train.openai.jsonl`, and
`manifest.json`; the held-out `test.jsonl` stays behind, so the GPU machine never sees it).

The recipe folder holds: `train.py` (TRL SFTTrainer + PEFT LoRA: the module `recipe_train`, copied
verbatim; `python train.py --dry-run` checks the data on any machine), `config.json` (the base
model's Hugging Face id, LoRA and trainer settings), `requirements.txt` and
`requirements-serve.txt` (pinned), `data/` (the export's files), `serve.sh` (vLLM with
`--enable-lora`), `Modelfile` (Ollama `FROM` + `ADAPTER`) and `README.md` with the cost estimate
of `analysis.economics.training_cost`. Once served, the adapter is a candidate like any other:
`openai-compat:http://HOST:8000/v1:ADAPTER_NAME` (`served_candidate_spec`)."""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from analysis.economics.models import ModelCard, model_card
from analysis.economics.training_cost import Method, TrainingCost, figures, gpu_training_estimate, hours_text
from analysis.errors import UserError
from analysis.present.formatting import usd
from analysis.replay.providers.registry import parse_candidate_spec
from analysis.replay.tuning import recipe_train

MANIFEST_FILE = "manifest.json"
TRAIN_FILES = ("train.openai.jsonl", "train.jsonl")  # without a manifest naming it
# PyPI's latest releases as of 2026-12 (what a fresh install resolves to then). vLLM pins its own
# torch, so serving gets its own file and environment.
TRAINING_REQUIREMENTS = """\
# Training (python train.py): PyPI's latest releases as of 2026-12.
torch==2.15.0
transformers==5.23.0
trl==1.16.0
peft==0.21.2
datasets==5.2.0
accelerate==1.15.0
"""
SERVING_REQUIREMENTS = """\
# Serving the adapter (serve.sh), in its own environment (vLLM pins its own torch). PyPI, 2026-12.
vllm==0.33.0
"""
VLLM_PORT = 8000


class RecipeError(UserError):
    """An export that can't become a recipe: missing files, bad lines, a model without a Hugging Face id."""


@dataclass(frozen=True)
class LoraSettings:
    """LoRA on every linear layer (PEFT's 'all-linear'), rank 16 = vLLM's default --max-lora-rank."""
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"


@dataclass(frozen=True)
class TrainerSettings:
    """SFTTrainer settings: 4 x 4 = 16 sequences per optimiser step, LoRA's usual 2e-4 learning rate."""
    epochs: float = 1.0
    batch_size: int = 4
    gradient_accumulation_steps: int = 4
    learning_rate: float = 2e-4
    max_length: int = 2048


@dataclass(frozen=True)
class ExportStats:
    """What the recipe trains on: counts from train.jsonl (the same reader as train.py --dry-run)
    and the training tokens: the manifest's count when it has one, else characters / 4."""
    examples: int
    messages: int
    assistant_messages: int
    characters: int
    estimated_tokens: int
    training_tokens: int
    tokens_from: str


@dataclass(frozen=True)
class Recipe:
    """A written recipe folder, its estimate and the names it serves under."""
    directory: Path
    base_model: str
    hugging_face_id: str
    ollama_tag: str | None
    adapter_name: str
    stats: ExportStats
    estimate: TrainingCost
    files: tuple[str, ...] = field(default_factory=tuple)


def train_file(export_dir: Path) -> Path:
    """The export's OpenAI-format train file: the one its manifest lists with format 'openai' and
    split 'train', else the first of TRAIN_FILES present; RecipeError when there is none."""
    manifest = _read_manifest(export_dir / MANIFEST_FILE)
    files_listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    for name, info in files_listed.items():
        if isinstance(info, dict) and info.get("format") == "openai" and info.get("split") == "train":
            return export_dir / Path(name).name
    for name in TRAIN_FILES:
        if (export_dir / name).is_file():
            return export_dir / name
    raise RecipeError(f"{export_dir} holds no OpenAI-format train file ({' or '.join(TRAIN_FILES)}): export the "
                      "training set with the openai format (breakeven export-training --format openai)")


def export_stats(export_dir: Path) -> ExportStats:
    """`ExportStats` of an export folder; RecipeError naming the file (and line) that is wrong, or
    a train file whose examples differ from the rows its manifest recorded (changed since)."""
    path = train_file(export_dir)
    try:
        examples = recipe_train.load_examples(path)
    except recipe_train.DataError as error:
        raise RecipeError(f"training export {export_dir}: {error}") from None
    chars_per_token = figures()["chars_per_token"].low
    summary = recipe_train.summarise(examples, chars_per_token)
    manifest = _read_manifest(export_dir / MANIFEST_FILE)
    listed = (manifest.get("files") or {}).get(path.name) if isinstance(manifest.get("files"), dict) else None
    if isinstance(listed, dict) and isinstance(listed.get("rows"), int) and listed["rows"] != summary["examples"]:
        raise RecipeError(f"{path}: {summary['examples']:,} examples, but {MANIFEST_FILE} recorded {listed['rows']:,}: "
                          "the file changed after the export; export the training set again")
    manifest_tokens = manifest.get("training_tokens")
    if isinstance(manifest_tokens, int) and not isinstance(manifest_tokens, bool) and manifest_tokens > 0:
        tokens, tokens_from = manifest_tokens, f"{MANIFEST_FILE} (training_tokens)"
    else:
        tokens, tokens_from = summary["estimated_tokens"], f"characters / {chars_per_token:g}"
    return ExportStats(**summary, training_tokens=tokens, tokens_from=tokens_from)


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RecipeError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a JSON object")
    return data


def hugging_face_id(card: ModelCard) -> str:
    """The card's first alias of the form ORGANISATION/NAME (the id train.py and vLLM download)."""
    for alias in card.aliases:
        if "/" in alias:
            return alias
    raise RecipeError(f"{card.name} has no Hugging Face id in data/models.json; a recipe needs one")


def ollama_tag(card: ModelCard) -> str | None:
    """The card's first alias that is an Ollama tag (NAME:SIZE, no organisation), if any."""
    return next((alias for alias in card.aliases if ":" in alias and "/" not in alias), None)


def adapter_name_for(base_model: str) -> str:
    """'<model>-tuned', lower case, letters, digits, '.', '-' only: a vLLM LoRA module name."""
    return re.sub(r"[^a-z0-9.-]+", "-", base_model.casefold()).strip("-") + "-tuned"


def served_candidate_spec(base_url: str, adapter_name: str) -> str:
    """The candidate spec of an adapter served by vLLM at `base_url` (…/v1), checked by the replay's
    own parser (UserError when the URL is not one)."""
    spec = f"openai-compat:{base_url.rstrip('/')}:{adapter_name}"
    parse_candidate_spec(spec)
    return spec


def build_recipe(export_dir: Path, base_model: str, gpu: str, out_dir: Path, epochs: float = 1.0,
                 method: Method = "lora") -> Recipe:
    """Write the recipe folder `out_dir` (created; RecipeError if it exists and is not empty) for
    fine-tuning `base_model` on `export_dir` on one `gpu`, with its cost estimate."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise RecipeError(f"{out_dir} exists and is not empty; choose a new folder for the recipe")
    card = model_card(base_model)
    stats = export_stats(export_dir)
    estimate = gpu_training_estimate(card, gpu, stats.training_tokens, epochs, method)
    hf_id, tag, adapter = hugging_face_id(card), ollama_tag(card), adapter_name_for(card.name)
    source = train_file(export_dir)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, out_dir / "data" / source.name)
    if (export_dir / MANIFEST_FILE).is_file():
        shutil.copyfile(export_dir / MANIFEST_FILE, out_dir / "data" / MANIFEST_FILE)
    config = {
        "base_model": hf_id, "catalogue_model": card.name, "train_file": f"data/{source.name}",
        "adapter_dir": "adapter", "chars_per_token": figures()["chars_per_token"].low,
        "lora": LoraSettings().__dict__, "trainer": {**TrainerSettings().__dict__, "epochs": epochs},
    }
    texts = {
        "train.py": files("analysis.replay.tuning").joinpath("recipe_train.py").read_text(encoding="utf-8"),
        "config.json": json.dumps(config, indent=2) + "\n",
        "requirements.txt": TRAINING_REQUIREMENTS,
        "requirements-serve.txt": SERVING_REQUIREMENTS,
        "serve.sh": _serve_sh(hf_id, adapter),
        "Modelfile": _modelfile(tag, card, hf_id),
    }
    recipe = Recipe(directory=out_dir, base_model=card.name, hugging_face_id=hf_id, ollama_tag=tag,
                    adapter_name=adapter, stats=stats, estimate=estimate)
    texts["README.md"] = _readme(recipe)
    for name, text in texts.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    (out_dir / "serve.sh").chmod(0o755)
    written = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    return Recipe(**{**recipe.__dict__, "files": tuple(written)})


def _serve_sh(hf_id: str, adapter: str) -> str:
    return f"""#!/bin/sh
# Serve {hf_id} with the trained adapter as the model "{adapter}" (OpenAI-compatible API on port {VLLM_PORT}).
# Needs: pip install -r requirements-serve.txt (its own environment), and ./adapter from python train.py.
set -eu
cd "$(dirname "$0")"
exec vllm serve {hf_id} --port {VLLM_PORT} --enable-lora --max-lora-rank {LoraSettings().rank} \\
    --lora-modules {adapter}=./adapter
"""


def ollama_takes_safetensors(card: ModelCard) -> bool:
    """Whether Ollama's ADAPTER reads the PEFT adapter as written: its Modelfile docs list
    safetensors adapters for Llama, Mistral / Mixtral and Gemma 1-2 only (not Gemma 3, Qwen, Phi...)."""
    return card.family.startswith(("Llama", "Mistral", "Mixtral")) or "llama" in card.name


def _modelfile(tag: str | None, card: ModelCard, hf_id: str) -> str:
    if tag is None:
        return (f"# {card.name} has no Ollama tag in the model catalogue: serve the adapter with serve.sh (vLLM).\n"
                "# With an Ollama build of the same base model, write: FROM <its tag> and ADAPTER ./adapter\n")
    head = (f"# Ollama: the base model must be the one the adapter was trained on ({card.name}).\n"
            f"# ollama create {adapter_name_for(card.name)} -f Modelfile\n")
    if ollama_takes_safetensors(card):
        return head + f"FROM {tag}\nADAPTER ./adapter\n"
    return head + ("# Ollama reads safetensors adapters of Llama, Mistral and Gemma 1-2 only: convert this one to GGUF\n"
                   f"# first, with llama.cpp: python convert_lora_to_gguf.py --base-model-id {hf_id} "
                   "--outfile adapter.gguf ./adapter\n"
                   f"FROM {tag}\nADAPTER ./adapter.gguf\n")


def _readme(recipe: Recipe) -> str:
    e, s, data = recipe.estimate, recipe.stats, figures()
    return f"""# Fine-tune {recipe.base_model} on your own requests

Written by llm-breakeven from a training export. Base model: `{recipe.hugging_face_id}`; LoRA
(rank {LoraSettings().rank}, all linear layers) with TRL's SFTTrainer; settings in `config.json`.

## Run it

    python train.py --dry-run                # check the data on any machine: {s.examples:,} examples
    pip install -r requirements.txt && python train.py      # on a machine with a GPU: writes ./adapter
    ./serve.sh                               # vLLM, OpenAI-compatible, model "{recipe.adapter_name}"
    ollama create {recipe.adapter_name} -f Modelfile         # or Ollama, where the Modelfile has a FROM

Then compare it with the base model on the held-out requests: the candidate is
`openai-compat:http://HOST:{VLLM_PORT}/v1:{recipe.adapter_name}` (`breakeven replay --candidate ...`,
then `breakeven compare-tuned`).

## What it should cost

{hours_text(e.hours_low)} to {hours_text(e.hours_high)} on one {e.gpu}: **{usd(e.usd_low)} to {usd(e.usd_high)}**
at ${e.hourly_usd:g}/h, for {e.training_tokens:,} training tokens ({s.tokens_from}) x {e.epochs:g} epochs.

    USD = factor x 6 x N x D x epochs / (dense bf16 peak x MFU) / 3600 x the GPU's hourly price
        = {e.formula}

- 6ND: {data["flops_per_parameter_token"].source} ({data["flops_per_parameter_token"].url}).
- LoRA factor {data["lora_factor"].low:g} to {data["lora_factor"].high:g}: {data["lora_factor"].source}.
- MFU {data["mfu"].low:g} to {data["mfu"].high:g}: {data["mfu"].source}. {data["mfu"].note}

Not included: downloading the model, evaluation, and idle time of the rented machine.
"""


def recipe_zip(directory: Path) -> bytes:
    """The recipe folder as a zip (paths relative to it; serve.sh keeps its executable bit)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo.from_file(path, path.relative_to(directory).as_posix())
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
