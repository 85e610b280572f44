"""Secrets never stored or shown: API keys and credentials are cut out of any text that goes into
the database (rejected records, provider errors) or onto a page.

Rules: the value of a JSON field or header named like a key (`api_key`, `user_api_key...`,
`authorization`, `x-api-key`, `api-key`, `access_token`, `secret`) becomes "[redacted]", and so does
any token shaped like a provider key (`sk-...`, `sk-ant-...`, `Bearer ...`).
"""

from __future__ import annotations

import re

KEY_FIELD = r'("(?:[a-z_]*api[_-]?key[a-z_]*|authorization|access_token|secret)"\s*:\s*)"[^"]*"'
KEY_TOKEN = r"\b(?:sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,})"
REDACTED = "[redacted]"


def redact(text: str | None) -> str | None:
    """`text` with the key fields' values and key-shaped tokens replaced (module rules)."""
    if not text:
        return text
    text = re.sub(KEY_FIELD, rf'\1"{REDACTED}"', text, flags=re.IGNORECASE)
    return re.sub(KEY_TOKEN, REDACTED, text)


def redact_sql(expr: str) -> str:
    """The same rules as a DuckDB expression over the VARCHAR `expr` (RE2 syntax)."""
    fields = f"regexp_replace({expr}, '(?i){KEY_FIELD}', '\\1\"{REDACTED}\"', 'g')"
    return f"regexp_replace({fields}, '{KEY_TOKEN}', '{REDACTED}', 'g')"
