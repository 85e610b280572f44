"""SQL for OpenAI request/response bodies (Chat Completions and Responses API), shared by the
Batch, chat-completion and cassette adapters.

Token units: OpenAI's `prompt_tokens` / `input_tokens` already include cached tokens, and
`completion_tokens` / `output_tokens` include reasoning tokens: the store's convention, so they are
copied as they are.
"""

from __future__ import annotations


def usage_columns(usage: str) -> str:
    """Canonical token columns from an OpenAI `usage` JSON expression (either API's shape)."""
    return f"""
        CAST(coalesce({usage}->>'prompt_tokens', {usage}->>'input_tokens') AS BIGINT) AS input_tokens,
        CAST(coalesce({usage}->'prompt_tokens_details'->>'cached_tokens',
                      {usage}->'input_tokens_details'->>'cached_tokens', '0') AS BIGINT) AS cached_input_tokens,
        CAST(0 AS BIGINT) AS cache_write_tokens,
        CAST(coalesce({usage}->>'completion_tokens', {usage}->>'output_tokens') AS BIGINT) AS output_tokens,
        CAST(coalesce({usage}->'completion_tokens_details'->>'reasoning_tokens',
                      {usage}->'output_tokens_details'->>'reasoning_tokens', '0') AS BIGINT) AS reasoning_tokens"""


def output_text(body: str) -> str:
    """The answer's text from a chat.completion (first choice) or a Responses API object."""
    return f"""coalesce(
        {body}->'choices'->0->'message'->>'content',
        {body}->'choices'->0->>'text',
        {body}->>'output_text',
        nullif(array_to_string(json_extract_string({body}, '$.output[*].content[*].text'), chr(10)), ''))"""


def operation(body: str, url: str = "NULL") -> str:
    return f"""CASE
        WHEN {body}->>'object' = 'chat.completion' OR {url} LIKE '%chat/completions%' THEN 'chat'
        WHEN {body}->>'object' = 'response' OR {url} LIKE '%/responses%' THEN 'responses'
        WHEN {body}->>'object' = 'text_completion' OR {url} LIKE '%/completions%' THEN 'completion'
        WHEN {body}->>'object' = 'list' OR {url} LIKE '%embeddings%' THEN 'embedding'
        ELSE 'chat' END"""


def input_messages(request: str) -> str:
    """[{role, content}] from a chat request's `messages`, or a Responses request's
    `instructions` + `input` (a string or a list of items)."""
    return f"""CASE
        WHEN json_type({request}, '$.messages') = 'ARRAY' THEN {request}->'messages'
        WHEN json_type({request}, '$.input') = 'VARCHAR' THEN
            CASE WHEN json_type({request}, '$.instructions') = 'VARCHAR'
                 THEN json_array(json_object('role', 'system', 'content', {request}->>'instructions'),
                                 json_object('role', 'user', 'content', {request}->>'input'))
                 ELSE json_array(json_object('role', 'user', 'content', {request}->>'input')) END
        WHEN json_type({request}, '$.input') = 'ARRAY' THEN {request}->'input'
        WHEN json_type({request}, '$.prompt') = 'VARCHAR' THEN
            json_array(json_object('role', 'user', 'content', {request}->>'prompt'))
        END"""


def request_params(request: str) -> str:
    """The request body without its messages: model parameters, response_format, tools..."""
    return f"""json_merge_patch({request}, '{{"messages": null, "input": null, "prompt": null}}')"""
