"""The GPU recipe from a real export (Bitext customer-support requests from ../shared, written as
`breakeven export-training` lays an export out: train.openai.jsonl and manifest.json): the generated train.py lints clean and its --dry-run, run with the standard library only,
counts what the export holds; serve.sh and the Modelfile name the base model and the adapter."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from local_http import QuietHandler, serve
from pages import open_page

from analysis.cli import main
from analysis.economics.training_cost import gpu_training_estimate
from analysis.errors import UserError
from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.present import formatting as fmt
from analysis.present.tuning_evidence import cost_lines
from analysis.replay.candidates import available_candidates
from analysis.replay.providers.registry import parse_candidate_spec
from analysis.replay.tuning.gpu_recipe import (
    RecipeError,
    adapter_name_for,
    build_recipe,
    export_stats,
    recipe_zip,
    served_candidate_spec,
)
from analysis.replay.tuning.training_set import TrainingSetSpec, export_training_set
from analysis.settings import Endpoint, Settings
from analysis.store.database import open_db
from dashboard.components import as_text

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = 120


def write_export(shared_dir: Path, folder: Path, extra: dict | None = None, rows: int = EXAMPLES) -> tuple[int, int]:
    """An export of the first EXAMPLES Bitext rows (system + user + assistant); returns its
    examples and characters, counted here independently of the code under test."""
    source = shared_dir / "datasets/bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"
    folder.mkdir(parents=True)
    characters = 0
    with source.open(encoding="utf-8") as handle, (folder / "train.openai.jsonl").open("w", encoding="utf-8") as out:
        for row in list(csv.DictReader(handle))[:EXAMPLES]:
            messages = [{"role": "system", "content": "You are a customer-support assistant."},
                        {"role": "user", "content": row["instruction"]},
                        {"role": "assistant", "content": row["response"]}]
            characters += sum(len(m["content"]) for m in messages)
            out.write(json.dumps({"messages": messages}) + "\n")
    manifest = {"counts": {"train": EXAMPLES}, "files": {"train.openai.jsonl": {"format": "openai", "split": "train",
                                                                               "rows": rows}}}
    (folder / "manifest.json").write_text(json.dumps({**manifest, **(extra or {})}), encoding="utf-8")
    return EXAMPLES, characters


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_recipe_lints_and_its_dry_run_counts_the_export(shared_dir, tmp_path):
    examples, characters = write_export(shared_dir, tmp_path / "export")
    recipe = build_recipe(tmp_path / "export", "llama-3.1-8b-instruct", "L40S", tmp_path / "recipe", epochs=2)
    folder = recipe.directory
    assert set(recipe.files) == {"train.py", "config.json", "requirements.txt", "requirements-serve.txt", "serve.sh",
                                 "Modelfile", "README.md", "data/train.openai.jsonl", "data/manifest.json"}
    lint = run(str(REPO / ".venv/bin/ruff"), "check", "--isolated", "--select", "E,F,W,I,B,UP,SIM",
               "--line-length", "120", "train.py", cwd=folder)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # -S: no site-packages, so the dry run can only use the standard library (no torch, trl, peft).
    dry = run(sys.executable, "-S", "train.py", "--dry-run", cwd=folder)
    assert dry.returncode == 0, dry.stderr
    summary = json.loads(dry.stdout)
    assert (summary["examples"], summary["messages"], summary["assistant_messages"]) == (examples, 3 * examples, examples)
    assert summary["characters"] == characters and summary["estimated_tokens"] == round(characters / 4)
    assert summary["base_model"] == "meta-llama/Llama-3.1-8B-Instruct"
    stats = export_stats(tmp_path / "export")
    assert (stats.examples, stats.training_tokens, stats.tokens_from) == (examples, round(characters / 4), "characters / 4")
    assert recipe.estimate == gpu_training_estimate("llama-3.1-8b-instruct", "L40S", round(characters / 4), 2)
    config = json.loads((folder / "config.json").read_text())
    assert config["trainer"]["epochs"] == 2 and config["lora"]["target_modules"] == "all-linear"


def test_serving_files_name_the_base_model_and_the_adapter(shared_dir, tmp_path):
    write_export(shared_dir, tmp_path / "export", extra={"training_tokens": 123_456})
    recipe = build_recipe(tmp_path / "export", "llama3.1:8b", "H100 80GB", tmp_path / "recipe")
    serve = (recipe.directory / "serve.sh").read_text()
    assert ("vllm serve meta-llama/Llama-3.1-8B-Instruct --port 8000 --enable-lora --max-lora-rank 16" in serve
            and "--lora-modules llama-3.1-8b-instruct-tuned=./adapter" in serve)
    assert run("sh", "-n", "serve.sh", cwd=recipe.directory).returncode == 0
    modelfile = (recipe.directory / "Modelfile").read_text()
    assert "FROM llama3.1:8b\nADAPTER ./adapter\n" in modelfile
    assert recipe.stats.training_tokens == 123_456 and recipe.estimate.training_tokens == 123_456
    readme = (recipe.directory / "README.md").read_text()
    assert f"{fmt.usd(recipe.estimate.usd_low)} to {fmt.usd(recipe.estimate.usd_high)}" in readme and "USD = factor x 6 x N x D" in readme
    for name in ("requirements.txt", "requirements-serve.txt"):
        pins = [line for line in (recipe.directory / name).read_text().splitlines() if not line.startswith("#")]
        assert pins and all(re.fullmatch(r"[a-z0-9-]+==[0-9][0-9.]*", line) for line in pins)
    names = zipfile.ZipFile(io.BytesIO(recipe_zip(recipe.directory))).namelist()
    assert sorted(names) == sorted(recipe.files)
    assert served_candidate_spec("http://10.0.0.5:8000/v1/", recipe.adapter_name) == \
        "openai-compat:http://10.0.0.5:8000/v1:llama-3.1-8b-instruct-tuned"
    with pytest.raises(UserError):
        served_candidate_spec("http://", recipe.adapter_name)


def test_a_bad_line_is_named_by_the_recipe_and_by_train_py(shared_dir, tmp_path):
    write_export(shared_dir, tmp_path / "export")
    recipe = build_recipe(tmp_path / "export", "qwen3-0.6b", "T4", tmp_path / "recipe")
    modelfile = (recipe.directory / "Modelfile").read_text()  # Qwen: Ollama reads GGUF adapters only
    assert "FROM qwen3:0.6b\nADAPTER ./adapter.gguf\n" in modelfile
    assert "convert_lora_to_gguf.py --base-model-id Qwen/Qwen3-0.6B --outfile adapter.gguf ./adapter" in modelfile
    with (recipe.directory / "data/train.openai.jsonl").open("a") as handle:
        handle.write('{"messages": [{"role": "user", "content": "hi"}]}\n')
    dry = run(sys.executable, "-S", "train.py", "--dry-run", cwd=recipe.directory)
    assert dry.returncode == 1 and f"train.openai.jsonl, line {EXAMPLES + 1}: no assistant message" in dry.stderr
    with (tmp_path / "export/train.openai.jsonl").open("a") as handle:
        handle.write("not json\n")
    with pytest.raises(RecipeError, match=f"train.openai.jsonl, line {EXAMPLES + 1}: not JSON"):
        export_stats(tmp_path / "export")
    write_export(shared_dir, tmp_path / "changed", rows=EXAMPLES + 5)
    with pytest.raises(RecipeError, match=f"{EXAMPLES} examples, but manifest.json recorded {EXAMPLES + 5}"):
        export_stats(tmp_path / "changed")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match="no OpenAI-format train file"):
        export_stats(tmp_path / "empty")
    with pytest.raises(RecipeError, match="exists and is not empty"):
        build_recipe(tmp_path / "export", "qwen3-0.6b", "T4", recipe.directory)


def test_cli_writes_the_recipe_and_refuses_a_used_folder(shared_dir, tmp_path, capsys):
    _, characters = write_export(shared_dir, tmp_path / "export")
    command = ["gpu-recipe", "--export", str(tmp_path / "export"), "--base", "qwen3-4b", "--gpu", "L4",
               "--epochs", "3", "--out", str(tmp_path / "recipe")]
    assert main([*command, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = gpu_training_estimate("qwen3-4b", "L4", round(characters / 4), 3)
    assert data["estimate"]["usd"] == pytest.approx(expected.usd) and data["base_model"] == "Qwen/Qwen3-4B"
    assert (tmp_path / "recipe/train.py").is_file() and data["stats"]["examples"] == EXAMPLES
    assert main(command) == 1
    assert "exists and is not empty" in capsys.readouterr().err


def test_recipe_from_a_real_export_of_a_labelled_dataset(shared_dir, tmp_path):
    """export-training's own output (CFPB complaints, labels as targets) becomes a recipe whose dry
    run counts exactly the train rows the manifest recorded, and never carries the held-out test file."""
    con = open_db(tmp_path / "w.duckdb")
    ingest_labelled(con, shared_dir / "datasets/cfpb_complaints_ibm/cfpb_train.json", "input", "output", limit=150)
    export = export_training_set(con, TrainingSetSpec(target="labels", formats=["openai", "alpaca"]), tmp_path / "export")
    con.close()
    recipe = build_recipe(export.directory, "gemma-3-1b", "RTX 4090", tmp_path / "recipe")
    assert "data/test.jsonl" not in recipe.files and "data/train.openai.jsonl" in recipe.files
    dry = run(sys.executable, "-S", "train.py", "--dry-run", cwd=recipe.directory)
    assert dry.returncode == 0, dry.stderr
    summary = json.loads(dry.stdout)
    train_rows = export.manifest["files"]["train.openai.jsonl"]["rows"]
    assert summary["examples"] == train_rows == export.manifest["counts"]["train"] > 0
    assert summary["assistant_messages"] == train_rows and summary["estimated_tokens"] == recipe.stats.training_tokens


def test_quality_page_estimates_downloads_and_puts_the_cost_into_the_scenario(shared_dir):
    con = open_db("tune")
    ingest_labelled(con, shared_dir / "datasets/cfpb_complaints_ibm/cfpb_train.json", "input", "output", limit=150)
    export = export_training_set(con, TrainingSetSpec(target="labels", formats=["openai"]))
    con.close()
    app = open_page("quality", ws="tune")
    app.selectbox(key="gr_base").set_value("qwen3-8b")
    app.selectbox(key="gr_gpu").set_value("A100 80GB").run()
    tokens = export_stats(export.directory).training_tokens
    cost = gpu_training_estimate("qwen3-8b", "A100 80GB", tokens, 1.0)
    assert cost_lines(cost)[0].startswith(f"estimated training cost: {fmt.usd(cost.usd_low)} to ")
    assert [m.value for m in app.markdown if "estimated training cost" in m.value] == [
        f"**{as_text(cost_lines(cost)[0])}**"]
    assert app.get("download_button")  # the recipe as a zip
    app.button(key="gr_use_cost").click().run()
    assert not app.exception and app.session_state["sc_fine_tuning_usd"] == pytest.approx(cost.usd)
    assert app.session_state["sc__fine_tuning_source"] == (cost.usd, cost.source)


def test_economics_page_says_where_the_fine_tuning_cost_came_from(demo_dir, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(demo_dir))  # the demo: the Economics page needs logged requests
    app = open_page("economics")
    app.session_state["sc_fine_tuning_usd"] = 123.25
    app.session_state["sc__fine_tuning_source"] = (123.25, "GPU estimate: lora fine-tune of qwen3-8b on one L4")
    app.run()
    assert app.number_input(key="sc_fine_tuning_usd").value == 123.25
    assert as_text("GPU estimate: lora fine-tune of qwen3-8b on one L4") in [c.value for c in app.caption]
    app.number_input(key="sc_fine_tuning_usd").set_value(500.0).run()  # typed over: no longer that figure
    assert not any("GPU estimate" in c.value for c in app.caption)


class VllmModels(QuietHandler):
    """vLLM's GET /v1/models with one LoRA module (--lora-modules NAME=./adapter): the base model and
    the adapter, whose `parent` is the base, as vLLM lists them."""

    def do_GET(self):
        if self.path != "/v1/models":
            self.send_error(404)
            return
        base = "meta-llama/Llama-3.1-8B-Instruct"
        body = json.dumps({"object": "list", "data": [
            {"id": base, "object": "model", "owned_by": "vllm", "root": base, "parent": None},
            {"id": "llama-3.1-8b-instruct-tuned", "object": "model", "owned_by": "vllm", "root": "./adapter",
             "parent": base}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_registered_served_adapter_is_offered_as_a_candidate(tmp_path):
    with serve(VllmModels) as url:
        settings = Settings(_env_file=None, data_dir=tmp_path / "data", ollama_host="http://127.0.0.1:9",
                            endpoints=[Endpoint(name="tuned", base_url=f"{url}/v1")])
        offered = {o.spec: o for o in available_candidates(settings) if o.kind == "endpoint"}
    spec = served_candidate_spec(f"{url}/v1", adapter_name_for("llama-3.1-8b-instruct"))
    assert spec in offered and offered[spec].ready
    assert parse_candidate_spec(spec).model == "llama-3.1-8b-instruct-tuned"
