"""Secrets never stored or shown: API keys and credentials are cut out of any text that goes into
the database (rejected records, provider errors, answers) or onto a page or the terminal.

Rules: the value of a JSON field or header named like a key (`api_key`, `user_api_key...`,
`authorization`, `x-api-key`, `api-key`, `access_token`, `secret`) becomes "[redacted]", and so does
any token shaped like a provider key (`sk-...`, `sk-ant-...`, `Bearer ...`). On top of the shapes,
every CONFIGURED key value (`configured_secrets`: the settings' OpenAI and Anthropic keys, each
endpoint's `api_key_env`, and any environment variable named like a key) is cut wherever it appears,
raw, URL-encoded or JSON-escaped, whatever surrounds it (an endpoint echoing `Bearer%20sk-...`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

KEY_FIELD = r'("(?:[a-z_]*api[_-]?key[a-z_]*|authorization|access_token|secret)"\s*:\s*)"[^"]*"'
KEY_TOKEN = r"\b(?:sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,})"
KEY_VARIABLE = re.compile(r"(?:^|_)(?:KEY|APIKEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)  # OPENAI_API_KEY, HF_TOKEN
MIN_SECRET_CHARS = 8  # shorter values ("none", "1") would cut ordinary words
REDACTED = "[redacted]"


def configured_secrets(extra: Iterable[str | None] = ()) -> list[str]:
    """The key values configured here, longest first: the settings' keys, each settings endpoint's
    `api_key_env` variable, every environment variable whose name ends in KEY, TOKEN, SECRET or
    PASSWORD, and `extra` (the keys a run's providers were built with)."""
    from pydantic import ValidationError

    from analysis.settings import get_settings

    values = [value for name, value in os.environ.items() if KEY_VARIABLE.search(name)]
    values += [value for value in extra if value]
    try:
        settings = get_settings()
    except ValidationError:  # a bad setting is reported where settings are used; keys still come from the environment
        settings = None
    if settings is not None:
        values += [secret.get_secret_value() for secret in (settings.openai_api_key, settings.anthropic_api_key)
                   if secret is not None]
        values += [os.environ.get(e.api_key_env, "") for e in settings.endpoints if e.api_key_env]
    return sorted({v for v in values if len(v) >= MIN_SECRET_CHARS}, key=len, reverse=True)


def _forms(secret: str) -> set[str]:
    """How a value shows up in text: as is, URL-encoded (both ways) and JSON-escaped."""
    return {secret, quote(secret), quote(secret, safe=""), quote_plus(secret), quote_plus(secret, safe="/"),
            json.dumps(secret)[1:-1]}


def redact_secrets(text: str | None, secrets: list[str] | None = None) -> str | None:
    """`text` with every configured key value (`secrets`, default `configured_secrets()`) cut, in
    all its forms. For answers: only the configured values, so a model's text is otherwise kept."""
    if not text:
        return text
    for secret in configured_secrets() if secrets is None else secrets:
        for form in sorted(_forms(secret), key=len, reverse=True):
            text = text.replace(form, REDACTED)
    return text


def redact(text: str | None, secrets: list[str] | None = None) -> str | None:
    """`text` with the configured key values, the key fields' values and key-shaped tokens
    replaced (module rules)."""
    if not text:
        return text
    text = redact_secrets(text, secrets)
    text = re.sub(KEY_FIELD, rf'\1"{REDACTED}"', text, flags=re.IGNORECASE)
    return re.sub(KEY_TOKEN, REDACTED, text)


def redact_sql(expr: str) -> str:
    """The same rules as a DuckDB expression over the VARCHAR `expr` (RE2 syntax)."""
    for secret in configured_secrets():
        for form in sorted(_forms(secret), key=len, reverse=True):
            quoted = form.replace("'", "''")
            expr = f"replace({expr}, '{quoted}', '{REDACTED}')"
    fields = f"regexp_replace({expr}, '(?i){KEY_FIELD}', '\\1\"{REDACTED}\"', 'g')"
    return f"regexp_replace({fields}, '{KEY_TOKEN}', '{REDACTED}', 'g')"
