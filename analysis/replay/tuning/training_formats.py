"""One training example per request, in the formats fine-tuning trainers read (one JSON object a line).

- `openai`: OpenAI's chat fine-tuning format (https://platform.openai.com/docs/guides/fine-tuning,
  checks of https://cookbook.openai.com/examples/chat_finetuning_data_prep):
  {"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": ...}, ...], "tools"?: [...]},
  the last message the assistant's answer; tool calls as the assistant's `tool_calls`
  ([{id, type: "function", function: {name, arguments (a JSON string)}}]) and `tool` messages with
  their `tool_call_id`; the offered tools, when logged, as `tools`. TRL's SFTTrainer reads the
  same "messages" shape as its conversational format.
- `sharegpt`: {"conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}: what Unsloth's
  `standardize_sharegpt` and axolotl's `chat_template` datasets (with
  `message_property_mappings: {role: from, content: value}`) read. An optional system turn first,
  then human and gpt turns alternating, the last one gpt. No tool calls in this format.
- `alpaca`: {"instruction", "input", "output"} (Stanford Alpaca; axolotl's `alpaca` type; Unsloth's
  Alpaca prompt): single-turn only: instruction = the system prompt and input = the user's
  message, or, without a system prompt, instruction = the user's message and input "".

A request that cannot be written at all (non-text content, an unknown role, no user turn) raises
`Unwritable`; one that cannot be written in one format (tool calls outside `openai`, a multi-turn
conversation in `alpaca`) raises `NotInFormat`; both carry the reason that is counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

TEXT_PARTS = {"text", "input_text", "output_text"}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


class Unwritable(ValueError):
    """A request no format can hold; the message is the reason counted in the manifest."""


class NotInFormat(ValueError):
    """A request one format cannot hold; the message is the reason counted in the manifest."""


@dataclass(frozen=True)
class Conversation:
    """A request as OpenAI chat messages, ending with the target answer, and its offered tools."""

    messages: list[dict]
    tools: list[dict] | None = None

    @property
    def has_tool_calls(self) -> bool:
        return any(m["role"] == "tool" or m.get("tool_calls") for m in self.messages)


def _text(content, role: str) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") in TEXT_PARTS and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                kind = part.get("type", "?") if isinstance(part, dict) else type(part).__name__
                raise Unwritable(f"non-text content ({kind}) in a {role} message")
        return "\n".join(texts)
    raise Unwritable(f"content of a {role} message is {type(content).__name__}, not text")


def prompt_text(input_messages) -> str:
    """The text the leakage guard compares: the text of every non-system message of the prompt as
    logged (system prompts are shared templates and would make every request look alike);
    non-text parts are left out."""
    if not isinstance(input_messages, list):
        return ""
    texts = []
    for message in input_messages:
        if not isinstance(message, dict) or message.get("role") in ("system", "developer"):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(part["text"] for part in content
                         if isinstance(part, dict) and isinstance(part.get("text"), str))
    return "\n".join(texts)


def _tool_calls(calls) -> list[dict]:
    if not isinstance(calls, list):
        raise Unwritable("tool_calls is not a list")
    written = []
    for number, call in enumerate(calls):
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise Unwritable("a tool call without a function name")
        arguments = function.get("arguments", {})
        written.append({"id": call.get("id") or f"call_{number}", "type": "function",
                        "function": {"name": function["name"],
                                     "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}})
    return written


def _message(raw) -> dict:
    if not isinstance(raw, dict) or raw.get("role") not in ROLES:
        role = raw.get("role") if isinstance(raw, dict) else None
        raise Unwritable(f"message role {role!r} (expected system, developer, user, assistant or tool)")
    role = ROLES[raw["role"]]
    message = {"role": role, "content": _text(raw.get("content"), role)}
    if role == "assistant" and raw.get("tool_calls"):
        message["tool_calls"] = _tool_calls(raw["tool_calls"])
    elif role == "tool":
        if not raw.get("tool_call_id"):
            raise Unwritable("a tool message without tool_call_id")
        message["tool_call_id"] = raw["tool_call_id"]
    if message["content"] is None and not message.get("tool_calls"):
        raise Unwritable(f"a {role} message without content")
    return message


def _answer(answer: str) -> dict:
    """The assistant's target message: the text, or the stored tool-call answer
    {"content", "tool_calls": [{name, arguments}]} (analysis.ingest.openai_shapes.with_tool_calls)."""
    try:
        stored = json.loads(answer)
    except ValueError:
        stored = None
    if isinstance(stored, dict) and set(stored) == {"content", "tool_calls"} and stored["tool_calls"]:
        return {"role": "assistant", "content": stored["content"], "tool_calls": _tool_calls(stored["tool_calls"])}
    return {"role": "assistant", "content": answer}


def _openai_tools(tools) -> list[dict] | None:
    """Offered tools as OpenAI function tools (an Anthropic tool's input_schema as parameters)."""
    if not isinstance(tools, list) or not tools:
        return None
    written = []
    for tool in tools:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            written.append({"type": "function", "function": tool["function"]})
        elif isinstance(tool, dict) and isinstance(tool.get("name"), str):
            function = {"name": tool["name"], "parameters": tool.get("input_schema") or tool.get("parameters") or {}}
            if tool.get("description"):
                function["description"] = tool["description"]
            written.append({"type": "function", "function": function})
        else:
            raise Unwritable("an offered tool that is not a function")
    return written


def conversation(input_messages: list, answer: str, tools=None) -> Conversation:
    """The request's messages (as logged) followed by the target `answer`."""
    if not isinstance(input_messages, list) or not input_messages:
        raise Unwritable("no prompt messages")
    messages = [_message(raw) for raw in input_messages]
    if not any(m["role"] == "user" for m in messages):
        raise Unwritable("no user message")
    if messages[-1]["role"] == "assistant":
        raise Unwritable("the prompt ends with an assistant turn")
    return Conversation(messages=[*messages, _answer(answer)], tools=_openai_tools(tools))


def to_openai(conv: Conversation) -> dict:
    """OpenAI chat fine-tuning example (module docstring)."""
    example: dict = {"messages": conv.messages}
    if conv.tools:
        example["tools"] = conv.tools
    return example


def to_sharegpt(conv: Conversation) -> dict:
    """ShareGPT example (module docstring)."""
    if conv.has_tool_calls:
        raise NotInFormat("tool calls (written in the openai format only)")
    turns = [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in conv.messages]
    body = turns[1:] if turns[0]["from"] == "system" else turns
    expected = ["human", "gpt"] * (len(body) // 2 + 1)
    if len(body) % 2 or [t["from"] for t in body] != expected[:len(body)]:
        raise NotInFormat("turns that do not alternate user / assistant (ShareGPT needs them to)")
    return {"conversations": turns}


def to_alpaca(conv: Conversation) -> dict:
    """Alpaca example (module docstring)."""
    if conv.has_tool_calls:
        raise NotInFormat("tool calls (written in the openai format only)")
    roles = [m["role"] for m in conv.messages]
    if roles == ["system", "user", "assistant"]:
        system, user, answer = conv.messages
        return {"instruction": system["content"], "input": user["content"], "output": answer["content"]}
    if roles == ["user", "assistant"]:
        user, answer = conv.messages
        return {"instruction": user["content"], "input": "", "output": answer["content"]}
    raise NotInFormat("more than one turn (Alpaca holds one instruction and one answer)")


FORMATS: dict[str, Callable[[Conversation], dict]] = {"openai": to_openai, "sharegpt": to_sharegpt, "alpaca": to_alpaca}
