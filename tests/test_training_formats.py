"""Every written file against the trainers' documented schemas (tests/training_schemas.py cites
them), the manifest's hashes against the files, and what each format cannot hold."""

from __future__ import annotations

import hashlib
import json

import pytest
from training_schemas import VALIDATORS, alpaca_problems, openai_problems, sharegpt_problems

from analysis.ingest.core import ingest_paths
from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.present.training_export import export_lines
from analysis.replay.tuning.training_formats import NotInFormat, Unwritable, conversation, to_alpaca, to_sharegpt
from analysis.replay.tuning.training_set import TrainingSetSpec, export_training_set


def _manifest_matches_files(export) -> None:
    on_disk = json.loads(export.path("manifest.json").read_text())
    assert on_disk == export.manifest
    for name, info in export.manifest["files"].items():
        data = export.path(name).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        assert info["bytes"] == len(data) and info["rows"] == data.count(b"\n")


def test_labelled_dataset_in_every_format_is_valid(con, tmp_path, shared_dir):
    ingest_labelled(con, shared_dir / "datasets" / "banking77" / "test.csv", "text", "category",
                    labels_from=shared_dir / "datasets" / "banking77" / "categories.json", limit=300)
    export = export_training_set(con, TrainingSetSpec(target="labels"), tmp_path / "export")
    _manifest_matches_files(export)
    for name, info in export.manifest["files"].items():
        assert VALIDATORS[info["format"]](export.path(name)) == [], name
    counts = export.manifest["counts"]
    assert counts["selected"] == 300 and counts["skipped"] == {}
    assert counts["test"] + counts["train_before_leakage_guard"] == 300
    files = export.manifest["files"]
    assert files["train.openai.jsonl"]["rows"] == files["train.sharegpt.jsonl"]["rows"] == \
        files["train.alpaca.jsonl"]["rows"] == counts["train"]
    example = json.loads(export.path("train.alpaca.jsonl").read_text().splitlines()[0])
    assert example["instruction"].startswith("Classify the text below") and example["output"] in example["instruction"]
    sharegpt = json.loads(export.path("train.sharegpt.jsonl").read_text().splitlines()[0])
    assert [t["from"] for t in sharegpt["conversations"]] == ["system", "human", "gpt"]


def test_incumbent_answers_of_real_logs_as_distillation_targets(con, tmp_path, shared_dir):
    folder = shared_dir / "samples" / "openai-batch"
    ingest_paths(con, [folder / "genai_navirag_batch_output.jsonl", folder / "genai_navirag_batch_input.jsonl"])
    export = export_training_set(con, TrainingSetSpec(target="incumbent", formats=["openai", "sharegpt"]),
                                 tmp_path / "export")
    _manifest_matches_files(export)
    assert openai_problems(export.path("train.openai.jsonl")) == []
    assert openai_problems(export.path("test.jsonl")) == []
    assert sharegpt_problems(export.path("train.sharegpt.jsonl")) == []
    assert not export.path("train.alpaca.jsonl").exists()
    # one template, a different object list each (pairwise Jaccard 0.79 at most): no near duplicate
    assert export.manifest["leakage"]["dropped"] == 0
    counts = export.manifest["counts"]
    assert counts["test"] + counts["train"] + export.manifest["leakage"]["dropped"] + sum(counts["skipped"].values()) \
        == counts["selected"]
    logged = {json.loads(line)["messages"][-1]["content"] for line in
              export.path("train.openai.jsonl").read_text().splitlines()}
    assert all(answer.strip() for answer in logged)  # the incumbent's answers, never empty
    # the same logs with labels as target: no label attached, every request skipped with its reason
    with pytest.raises(Exception, match="no request has a usable target"):
        export_training_set(con, TrainingSetSpec(target="labels"), tmp_path / "labels")


def test_tool_calls_go_to_the_openai_format_only():
    messages = [{"role": "system", "content": "You book rooms."},
                {"role": "user", "content": "Book room 4 for Friday"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "find", "arguments": "{\"room\": 4}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "room 4 is free"}]
    answer = json.dumps({"content": None, "tool_calls": [{"name": "book", "arguments": {"room": 4, "day": "Fri"}}]})
    tools = [{"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}},
             {"name": "find", "description": "find a room", "input_schema": {"type": "object"}}]  # Anthropic's shape
    conv = conversation(messages, answer, tools)
    last = conv.messages[-1]
    assert last["tool_calls"][0]["function"] == {"name": "book", "arguments": "{\"room\": 4, \"day\": \"Fri\"}"}
    assert conv.tools[1] == {"type": "function", "function": {"name": "find", "parameters": {"type": "object"},
                                                              "description": "find a room"}}
    with pytest.raises(NotInFormat, match="tool calls"):
        to_sharegpt(conv)
    with pytest.raises(NotInFormat, match="tool calls"):
        to_alpaca(conv)


def test_the_tool_call_example_passes_the_openai_checks(tmp_path):
    from analysis.replay.tuning.training_formats import to_openai

    conv = conversation([{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}],
                        json.dumps({"content": "", "tool_calls": [{"name": "weather", "arguments": {"city": "Paris"}}]}),
                        [{"type": "function", "function": {"name": "weather", "parameters": {}}}])
    path = tmp_path / "tools.jsonl"
    path.write_text(json.dumps(to_openai(conv)) + "\n")
    assert openai_problems(path) == []


@pytest.mark.parametrize(("messages", "reason"), [
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "non-text content"),
    ([{"role": "narrator", "content": "hi"}], "message role 'narrator'"),
    ([{"role": "system", "content": "only instructions"}], "no user message"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hel"}], "ends with an assistant turn"),
    ([], "no prompt messages"),
])
def test_unwritable_requests_say_why(messages, reason):
    with pytest.raises(Unwritable, match=reason):
        conversation(messages, "answer")


def test_multi_turn_is_sharegpt_but_not_alpaca(tmp_path):
    conv = conversation([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                         {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}], "Bye!")
    path = tmp_path / "multi.jsonl"
    path.write_text(json.dumps(to_sharegpt(conv)) + "\n")
    assert sharegpt_problems(path) == []
    assert [t["from"] for t in to_sharegpt(conv)["conversations"]] == ["system", "human", "gpt", "human", "gpt"]
    with pytest.raises(NotInFormat, match="more than one turn"):
        to_alpaca(conv)
    two_users = conversation([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "c")
    with pytest.raises(NotInFormat, match="alternate"):
        to_sharegpt(two_users)
    single = conversation([{"role": "user", "content": "Name a colour"}], "Blue")
    path.write_text(json.dumps(to_alpaca(single)) + "\n")
    assert alpaca_problems(path) == [] and to_alpaca(single) == {"instruction": "Name a colour", "input": "",
                                                                 "output": "Blue"}


def test_real_logs_of_several_apis_are_written_or_skipped_with_their_reason(con, tmp_path, shared_dir):
    """Chat Completions, the Responses API (content parts, a multi-turn conversation), Anthropic
    (content blocks), LiteLLM and OTel spans (one without a prompt, one whose tool message lost its
    tool_call_id): every written file passes its checks, and what is not written is counted."""
    samples = shared_dir / "samples"
    ingest_paths(con, [samples / "otel-genai" / "openinference_otel_genai_client_span_tool_calls.json",
                       samples / "otel-genai" / "openinference_vercel_v6_all-spans.json",
                       samples / "anthropic-message" / "openllmetry_test_anthropic_prompt_caching_legacy.yaml",
                       samples / "openai-chat-completion" / "otel-contrib_test_chat_completion_with_content.yaml",
                       samples / "litellm" / "standard_logging_payload.json"])
    export = export_training_set(con, TrainingSetSpec(test_fraction=0.05), tmp_path / "export")
    _manifest_matches_files(export)
    for name, info in export.manifest["files"].items():
        assert VALIDATORS[info["format"]](export.path(name)) == [], name
    counts = export.manifest["counts"]
    assert counts["skipped"] == {"no prompt logged": 1, "a tool message without tool_call_id": 1}
    assert counts["selected"] == 10 and counts["test"] + counts["train"] == 8
    assert export.manifest["not_in_format"]["alpaca"] == {
        "more than one turn (Alpaca holds one instruction and one answer)": 1}
    files = export.manifest["files"]
    assert files["train.alpaca.jsonl"]["rows"] == files["train.openai.jsonl"]["rows"] - 1
    assert "; left out 1 (more than one turn" in "\n".join(export_lines(export))
