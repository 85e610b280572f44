"""A candidate's own prompt for the incumbent's job: system prompt override, few-shot examples from
the logs (never from the evaluated sample) and an output constraint (a label set or JSON schema).

The adapter is resolved once, when a run is created (few-shot ids picked, label set fixed), and
stored with the run, so every result can be reproduced from the database.
"""

from __future__ import annotations

import json

import duckdb
from pydantic import BaseModel, Field

from analysis.errors import UserError
from analysis.ingest.labelled_datasets import label_set
from analysis.store.database import rows


class PromptAdapter(BaseModel):
    model_config = {"extra": "forbid"}

    system_prompt: str | None = Field(None, description="Replaces the logged system message.")
    few_shot: int = Field(0, ge=0, le=20, description="Examples drawn from logged requests.")
    few_shot_ids: list[str] = Field(default_factory=list, description="Resolved at run creation.")
    labels: list[str] = Field(default_factory=list, description="Constrain answers to this set.")
    auto_labels: bool = Field(False, description="Use the declared (labelled import) or ground-truth label set.")
    json_schema: dict | None = None
    max_example_chars: int = 2000


def json_schema_from_text(text: str) -> dict | None:
    """A JSON schema typed as text (a form field): None when blank, UserError when it is not a
    JSON object."""
    if not text.strip():
        return None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(str(exc)) from None
    if not isinstance(schema, dict):
        raise UserError(f"a JSON schema is a JSON object, got {type(schema).__name__}")
    return schema


def resolve(con: duckdb.DuckDBPyConnection, adapter: PromptAdapter, sample_ids: list[str], seed: int = 0) -> PromptAdapter:
    """Fix the parts that depend on the data: the label set (when `auto_labels`: the label sets
    declared by the sample's labelled imports, in their prompts' order, which keep classes the
    rows lack; else the distinct ground-truth labels of the logged requests from the same sources
    and task types as the sample) and the few-shot example ids (seeded draw among
    replayable requests of the sample's task types that are NOT in the sample, preferring
    requests with a ground-truth label)."""
    resolved = adapter.model_copy(deep=True)
    if adapter.auto_labels and not adapter.labels:
        sources = [r[0] for r in rows(con, """SELECT DISTINCT source_id FROM requests
                                              WHERE request_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1""",
                                      [sample_ids])]
        declared = dict.fromkeys(label for source in sources for label in label_set(con, source))
        resolved.labels = list(declared) or [r[0] for r in rows(
            con, """SELECT DISTINCT label FROM requests WHERE label IS NOT NULL
                    AND (source_id, coalesce(task_type, '')) IN (
                        SELECT DISTINCT (source_id, coalesce(task_type, '')) FROM requests
                        WHERE request_id IN (SELECT unnest(?::VARCHAR[])))
                    ORDER BY 1""", [sample_ids])]
    if adapter.few_shot and not adapter.few_shot_ids:
        resolved.few_shot_ids = [r[0] for r in rows(
            con,
            f"""SELECT request_id FROM requests
                WHERE status = 'ok' AND input_messages IS NOT NULL
                  AND coalesce(label, output_text) IS NOT NULL
                  AND request_id NOT IN (SELECT unnest(?::VARCHAR[]))
                  AND coalesce(task_type, '') IN (SELECT DISTINCT coalesce(task_type, '') FROM requests
                                                  WHERE request_id IN (SELECT unnest(?::VARCHAR[])))
                ORDER BY label IS NULL, hash(request_id, {int(seed)}), request_id
                LIMIT {int(adapter.few_shot)}""",
            [sample_ids, sample_ids],
        )]
    return resolved


def logged_messages(value) -> list[dict]:
    """A request's logged `input_messages` (JSON text or already decoded) as a list."""
    return json.loads(value) if isinstance(value, str) else list(value or [])


def build_messages(adapter: PromptAdapter, messages: list[dict], examples: list[tuple[list[dict], str]]) -> list[dict]:
    """The messages a candidate receives: the system prompt (override, else the logged one), then
    each example as a user turn (its last user message) and an assistant turn (its answer), then the
    logged conversation without its system message."""
    system = adapter.system_prompt or next((m["content"] for m in messages if m.get("role") == "system"), None)
    out = [{"role": "system", "content": system}] if system else []
    for example_messages, answer in examples:
        user = next((m for m in reversed(example_messages) if m.get("role") == "user"), None)
        if user is not None:
            out.append({"role": "user", "content": _text(user["content"])[: adapter.max_example_chars]})
            out.append({"role": "assistant", "content": answer})
    out += [{"role": m["role"], "content": _text(m.get("content"))} for m in messages if m.get("role") != "system"]
    return out


def _text(content) -> str:
    """Message content as plain text (content-part lists joined)."""
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def load_examples(con: duckdb.DuckDBPyConnection, adapter: PromptAdapter) -> list[tuple[list[dict], str]]:
    """The few-shot examples as (messages, answer): the ground-truth label when known, else the
    incumbent's logged answer."""
    if not adapter.few_shot_ids:
        return []
    found = {r[0]: (logged_messages(r[1]), r[2]) for r in rows(
        con, """SELECT request_id, input_messages, coalesce(label, output_text) FROM requests
                WHERE request_id IN (SELECT unnest(?::VARCHAR[]))""", [adapter.few_shot_ids])}
    return [found[i] for i in adapter.few_shot_ids if i in found]
