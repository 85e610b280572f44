"""Model ids as clouds and gateways write them -> (provider, model), as SQL macros that every reader
uses (LoadContext defines them; insert_requests applies `norm_provider` to every row).

- `norm_model(m)`: lower case, the last path segment (`openai/gpt-4o`, `openrouter/anthropic/x`,
  Vertex `projects/P/locations/L/publishers/google/models/gemini-2.5-flash`, `models/gemini-...`,
  Bedrock ARNs `arn:aws:bedrock:R:A:inference-profile/ID`); then a Bedrock model id
  (`[region.]vendor.name[-vN[:M]]`): Anthropic's become the Anthropic API's name
  (`us.anthropic.claude-3-5-sonnet-20240620-v1:0` -> `claude-3-5-sonnet-20240620`, priced as
  Anthropic's); other vendors' keep `vendor.name-vN:M` without the region (`amazon.nova-pro-v1:0`),
  the name genai-prices knows them by under provider `aws`.
- `model_provider(m)`: the provider a cloud id names, which wins over the reader's: a Vertex path's
  publisher, `anthropic` for a Bedrock Anthropic id, `aws` for any other Bedrock id or ARN, `google`
  for `models/gemini-...`; else NULL.
- `norm_provider(p, m)`: model_provider(m), else the reader's provider with gateway aliases
  (PROVIDER_ALIASES: LiteLLM's `vertex_ai`, `bedrock`, `azure_ai`...), else the vendor of a
  `vendor/model` id (OpenRouter's `anthropic/claude-3.5-sonnet` -> anthropic) when the reader has none.
  An Azure deployment keeps provider `azure` (host or `azure/` prefix) and the model the response
  names (the deployment's name when that is all the log has).
"""

from __future__ import annotations

BEDROCK_REGIONS = "us|eu|apac|us-gov|global|jp|au|ca"
BEDROCK_VENDORS = "anthropic|meta|amazon|mistral|cohere|ai21|deepseek|writer|qwen|openai|twelvelabs|stability"
PROVIDER_ALIASES = {
    "vertex_ai": "google", "vertex_ai_beta": "google", "gemini": "google", "google_genai": "google",
    "gcp.vertex_ai": "google", "gcp.gemini": "google", "vertex": "google", "google_vertexai": "google",
    "bedrock": "aws", "bedrock_converse": "aws", "aws.bedrock": "aws", "amazon_bedrock": "aws",
    "azure_ai": "azure", "azure_openai": "azure", "azure.ai.openai": "azure", "azure.ai.inference": "azure",
    "mistralai": "mistral", "meta-llama": "meta", "x-ai": "xai",
}


def _aliases(value: str) -> str:
    names = ", ".join(f"'{k}'" for k in PROVIDER_ALIASES)
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in PROVIDER_ALIASES.items())
    return f"CASE WHEN {value} IN ({names}) THEN CASE {value} {cases} END ELSE {value} END"


MACROS = [
    # The last path segment, lower case: what is left of a prefix, a Vertex path or an ARN.
    r"""CREATE OR REPLACE TEMP MACRO model_tail(m) AS lower(trim(regexp_replace(m, '^.*/', '')))""",
    # A plain id (no '/' and no '.': most rows) takes no regular expression.
    """CREATE OR REPLACE TEMP MACRO plain_id(m) AS NOT (contains(m, '/') OR contains(m, '.'))""",
    f"""CREATE OR REPLACE TEMP MACRO norm_model(m) AS nullif(
        CASE WHEN plain_id(m) THEN lower(trim(m))
             WHEN NOT regexp_matches(model_tail(m), '^(({BEDROCK_REGIONS})\\.)?({BEDROCK_VENDORS})\\.') THEN model_tail(m)
             WHEN regexp_matches(model_tail(m), '^(({BEDROCK_REGIONS})\\.)?anthropic\\.')
             THEN regexp_replace(regexp_replace(model_tail(m), '^(({BEDROCK_REGIONS})\\.)?anthropic\\.', ''),
                                 '-v\\d+(:\\d+)?$', '')
             ELSE regexp_replace(model_tail(m), '^({BEDROCK_REGIONS})\\.', '') END, '')""",
    f"""CREATE OR REPLACE TEMP MACRO model_provider(m) AS
        CASE WHEN m IS NULL OR plain_id(m) THEN NULL
             WHEN regexp_matches(m, '(^|/)publishers/[^/]+/models/')
             THEN {_aliases("lower(regexp_extract(m, '(^|/)publishers/([^/]+)/models/', 2))")}
             WHEN regexp_matches(model_tail(m), '^(({BEDROCK_REGIONS})\\.)?anthropic\\.') THEN 'anthropic'
             WHEN regexp_matches(model_tail(m), '^(({BEDROCK_REGIONS})\\.)?({BEDROCK_VENDORS})\\.')
                  OR regexp_matches(m, '^arn:aws[a-z-]*:bedrock:') THEN 'aws'
             WHEN regexp_matches(lower(m), '^models/gemini') THEN 'google' END""",
    f"""CREATE OR REPLACE TEMP MACRO norm_provider(p, m) AS
        coalesce(model_provider(m), {_aliases("lower(nullif(trim(p), ''))")},
                 {_aliases("lower(nullif(regexp_extract(m, '^([A-Za-z0-9_.-]+)/[^/]', 1), ''))")})""",
]
