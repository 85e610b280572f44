"""Validators of the trainers' documented dataset schemas, written from their documentation (not from
our writer), used by the training-set tests. Each returns the list of problems of one JSONL file.

- OpenAI chat fine-tuning: https://platform.openai.com/docs/guides/fine-tuning (supervised
  fine-tuning, "Preparing your dataset": one {"messages": [...]} a line, roles system / user /
  assistant, tool calls as in the Chat Completions API, an optional "tools" list) and the format
  checks of https://cookbook.openai.com/examples/chat_finetuning_data_prep (each example a dict
  with a "messages" list; each message has "role" and "content"; no keys beyond role, content,
  name, weight, function_call (and tool_calls / tool_call_id for tools); a known role; at least
  one assistant message). We also require what our evaluation relies on: the last message is
  the assistant's.
- ShareGPT, axolotl's `sharegpt` conversation type
  (https://github.com/openaccess-ai-collective/axolotl/blob/cb78a36374252333f1b1534c79d5fee946aec73e/docs/dataset-formats/conversation.qmd:
  "conversations where `from` is `human`/`gpt` (optional: first row with role `system` ...)",
  {"conversations": [{"from": "...", "value": "..."}]}), the shape Unsloth's `standardize_sharegpt`
  also reads: an optional system turn first, then human and gpt alternating; we require it to
  end on gpt (the turn trained on).
- Alpaca: axolotl's `alpaca` type ("instruction; input(optional)",
  {"instruction": "...", "input": "...", "output": "..."}, axolotl README, dataset section) as in
  Stanford Alpaca's data release (https://github.com/tatsu-lab/stanford_alpaca): instruction,
  input (may be empty) and output, all strings.
"""

from __future__ import annotations

import json
from pathlib import Path

OPENAI_ROLES = {"system", "user", "assistant", "tool", "function"}
OPENAI_MESSAGE_KEYS = {"role", "content", "name", "weight", "function_call", "tool_calls", "tool_call_id"}
OPENAI_EXAMPLE_KEYS = {"messages", "tools", "parallel_tool_calls"}


def _lines(path: Path) -> list[tuple[int, object]]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        records.append((number, json.loads(line)))  # a line that is not JSON fails the test here
    return records


def openai_problems(path: Path) -> list[str]:
    problems = []
    for number, example in _lines(path):
        if not isinstance(example, dict):
            problems.append(f"{number}: data_type")
            continue
        if set(example) - OPENAI_EXAMPLE_KEYS:
            problems.append(f"{number}: unrecognised example keys {set(example) - OPENAI_EXAMPLE_KEYS}")
        messages = example.get("messages")
        if not isinstance(messages, list) or not messages:
            problems.append(f"{number}: missing_messages_list")
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                problems.append(f"{number}: message_missing_key")
            if set(message) - OPENAI_MESSAGE_KEYS:
                problems.append(f"{number}: message_unrecognized_key {set(message) - OPENAI_MESSAGE_KEYS}")
            if message.get("role") not in OPENAI_ROLES:
                problems.append(f"{number}: unrecognized_role {message.get('role')!r}")
            content, calls = message.get("content"), message.get("tool_calls")
            if (not content and not calls) or (content is not None and not isinstance(content, str)):
                problems.append(f"{number}: missing_content")
            for call in calls or []:
                function = call.get("function", {})
                if call.get("type") != "function" or not call.get("id") or not isinstance(function.get("name"), str) \
                        or not isinstance(function.get("arguments"), str):
                    problems.append(f"{number}: malformed tool call {call}")
                else:
                    json.loads(function["arguments"])  # arguments are a JSON string
            if message.get("role") == "tool" and not message.get("tool_call_id"):
                problems.append(f"{number}: tool message without tool_call_id")
        if not any(m.get("role") == "assistant" for m in messages):
            problems.append(f"{number}: example_missing_assistant_message")
        elif messages[-1].get("role") != "assistant":
            problems.append(f"{number}: last message is not the assistant's")
        for tool in example.get("tools", []):
            if tool.get("type") != "function" or not isinstance(tool.get("function", {}).get("name"), str):
                problems.append(f"{number}: malformed tool {tool}")
    return problems


def sharegpt_problems(path: Path) -> list[str]:
    problems = []
    for number, example in _lines(path):
        if not isinstance(example, dict) or set(example) != {"conversations"}:
            problems.append(f"{number}: not {{'conversations': [...]}}")
            continue
        turns = example["conversations"]
        if not isinstance(turns, list) or not turns:
            problems.append(f"{number}: empty conversations")
            continue
        if any(set(turn) != {"from", "value"} or not isinstance(turn["value"], str) or not turn["value"]
               for turn in turns):
            problems.append(f"{number}: a turn that is not {{'from', 'value'}} with text")
            continue
        roles = [turn["from"] for turn in turns]
        body = roles[1:] if roles[0] == "system" else roles
        if any(role not in {"system", "human", "gpt"} for role in roles):
            problems.append(f"{number}: unknown role in {roles}")
        if body != ["human", "gpt"] * (len(body) // 2) or not body:
            problems.append(f"{number}: turns do not alternate human/gpt ending on gpt: {roles}")
    return problems


def alpaca_problems(path: Path) -> list[str]:
    problems = []
    for number, example in _lines(path):
        if not isinstance(example, dict) or set(example) != {"instruction", "input", "output"}:
            problems.append(f"{number}: keys are not instruction, input, output")
            continue
        if not all(isinstance(example[key], str) for key in example):
            problems.append(f"{number}: a field that is not a string")
        elif not example["instruction"].strip() or not example["output"].strip():
            problems.append(f"{number}: empty instruction or output")
    return problems


VALIDATORS = {"openai": openai_problems, "sharegpt": sharegpt_problems, "alpaca": alpaca_problems}
