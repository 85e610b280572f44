"""Task type and complexity of every request, by deterministic rules over the request itself.

Task types: classification, extraction, summarisation, code, reasoning, chat (chat/other, agents).

Overrides, strongest first (each wins over everything below it):
  a. a tag `task:<type>` (and `complexity:<0..1>`) in `requests.tags`;
  b. `task_type` (and `complexity`) fields in `requests.extra` (the labelled-data import sets it);
  c. the user's rules (`task_rules` table, see `apply_rules`), first matching rule wins.

Built-in rules, first match wins. `P` is the prompt window: lower-cased `input_text`, its first
2,500 and last 1,500 characters when longer than 4,000 (instructions sit at either end); a
"sentence start" is the start of P or a position after `. ! ? : ;` or a newline.
  1. chat      - agentic: the request offers tools that it does not force (`tools`/`functions` in
                 request_params), or the messages hold tool calls or tool results.
  2. classification - P has a classify cue at a sentence start ("classify", "categorise/categorize",
                 "label the/this/each/these/it", "tag the"), or "which/what category|class|label|intent",
                 "sentiment of", "what/which/determine/detect/identify (is) the sentiment"; or a
                 label-list phrase: "exactly/only/just one of", "one of the following ...:", "one of:",
                 "from the (following) list:", "choose/pick/select one|the best label/category/class/
                 intent/option/answer", "answer/reply/respond with yes or no|one word|the label|...",
                 "yes or no"; or a bullet/numbered list of >= 3 short options (<= 40 characters each)
                 with a short answer (<= 10 tokens, or <= 40 characters when tokens are unknown).
  3. extraction - structured output requested by parameter: response_format (or Responses
                 `text.format`) of type json_object/json_schema, Ollama `format`, vLLM `guided_json`,
                 or a forced tool choice (tool_choice naming one function/tool).
  4. code      - an instruction at a sentence start ("write/create/build/implement/generate/develop/
                 fix/debug/refactor/optimise/complete/convert/translate") with a code noun within 60
                 characters (function, program, script, query, code, method, regex, algorithm,
                 unit test, snippet, api, endpoint, sql, type guard, component, module), or a code
                 fence in the answer that holds no data (not ```json/yaml/text/csv/markdown, and not a
                 block opening with { or [).
  5. extraction - "extract" at a sentence start or "extract the/all/every/each/any/key", "json
                 schema/object/format", "return/reply/output/format/generate/give/as/in ... JSON",
                 "fill in the fields/template/form", "named entities", "parse ... into", "key-value".
  6. summarisation - "summar" (summary, summarise, summarize), "tl;dr", "recap", "key points",
                 "key takeaways", "condense", "gist", "synopsis".
  7. code      - a code fence in P, or a programming language or library named (python, javascript,
                 typescript, java, c++, c#, golang, kotlin, php, sql, bash, powershell, html, css,
                 regex, numpy, pandas, react, node.js, scala, haskell, matlab), or `def f(`.
  8. chat      - a conversation: 3 or more user turns.
  9. reasoning - >= 2 reasoning cues in P, or >= 1 cue and an answer of >= 256 tokens. Cues (each
                 occurrence counts): analyse/analyze/analysis, trade-off, why, step by step, compare/
                 comparison, pros and cons, explain, evaluate, justify, reasoning, prove, implication,
                 what if, deduce, infer, calculate, solve, recommend, confounder, causal, hypothesis.
 10. chat      - everything else (also requests whose prompt was not logged).

Complexity in [0, 1]: a weighted sum of features each scaled to [0, 1], then clamped.

  | feature      | scaling                                                   | weight |
  |--------------|-----------------------------------------------------------|--------|
  | input size   | ln(1 + input tokens) / ln(1 + 32768), at most 1            | 0.25   |
  | output size  | ln(1 + output tokens) / ln(1 + 4096), at most 1            | 0.25   |
  | reasoning    | min(reasoning cues in P, 4) / 4                            | 0.20   |
  | constraints  | min(constraint words + list items in P, 8) / 8             | 0.15   |
  | turns        | min(user turns - 1, 4) / 4                                 | 0.10   |
  | tools        | 1 when the request is agentic (rule 1), else 0             | 0.05   |

Token counts fall back to characters / 4 when not logged, and to 0 when there is no text.
Constraint words: must, should, do not, don't, never, always, ensure, at least, at most, exactly,
only, no more than, without, avoid, ignore, be brief/concise/precise/specific.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import duckdb
import polars as pl

from analysis.errors import UserError
from analysis.store.database import frame, rows, scalar, sql_literal, utcnow

TASK_TYPES = ("classification", "extraction", "summarisation", "code", "reasoning", "chat")
RULE_FIELDS = ("input_text", "model", "tag")

SENTENCE = r"(?:^|[.!?:;\n]\s*)(?:please\s+)?"
CLS_CUE = (
    SENTENCE + r"(?:classify|categori[sz]e|label\s+(?:the|this|each|these|it)\b|tag\s+the\b)"
    r"|\b(?:which|what)\s+(?:category|class|label|intent)\b|\bsentiment\s+(?:of|label|class|polarity)\b"
    r"|\b(?:what|which|determine|detect|identify)\s+(?:is\s+)?(?:the\s+)?sentiment\b"
)
LABEL_LIST = (
    r"\b(?:exactly|only|just)\s+one\s+of\b|\bone\s+of\s+(?:the\s+following|these|those)(?:\s+\w+)?\s*:"
    r"|\bone\s+of\s*:|\bfrom\s+the\s+(?:following\s+)?list\s*:"
    r"|\b(?:choose|pick|select)\s+(?:exactly\s+)?(?:one|the\s+(?:best|correct|right|most\s+appropriate))\s+"
    r"(?:label|category|class|intent|option|answer)\b"
    r"|\b(?:answer|reply|respond)\s+(?:only\s+)?with\s+(?:yes\s+or\s+no|one\s+word|the\s+(?:label|category|class|intent))"
    r"|\byes\s+or\s+no\b"
)
SHORT_OPTIONS = r"(?:\n\s*(?:[-*•]|\d{1,2}[.)])[ \t]*[^\n]{1,40}[ \t]*){3,}(?:\n|$)"
CODE_STRONG = (
    SENTENCE + r"(?:write|create|construct|build|implement|generate|develop|fix|debug|refactor|optimi[sz]e"
    r"|complete|convert|translate)\b[^.\n]{0,60}?\b(?:function|program|script|query|code|method|regex"
    r"|regular expression|algorithm|unit tests?|snippet|api|endpoint|sql|type guard|component|module)\b"
)
CODE_ANSWER = r"```[\w+#-]*[ \t]*\n[ \t]*[^\s{\[]"  # a fenced block not opening with { or [
DATA_FENCE = r"```(?:json|yaml|yml|text|txt|markdown|md|csv)\b"
EXTRACT = (
    SENTENCE + r"extract|\bextract\s+(?:the|all|every|each|any|key)\b|\bjson\b[^.\n]{0,20}\b(?:schema|object|format)\b"
    r"|\b(?:return|respond|reply|output|answer|format(?:ted)?|generate|produce|give|provide|as|in|into)\s+(?:\w+\s+){0,2}json\b"
    r"|\bfill\s+(?:in\s+)?(?:the\s+)?(?:fields|template|form)\b|\bnamed\s+entit|\bparse\b[^.\n]{0,40}\binto\b|\bkey-value\b"
)
SUMMARY = r"summar|\btl;?dr\b|\brecap\b|\bkey\s+(?:points|takeaways)\b|\bcondense|\bgist\b|\bsynopsis\b"
LANGUAGE = (
    r"```|\b(?:python|javascript|typescript|java|golang|kotlin|php|sql|bash|powershell|html|css|regex|numpy"
    r"|pandas|react|node\.js|scala|haskell|matlab)\b|c\+\+|\bc#|\bdef\s+\w+\("
)
REASONING = (
    r"\banaly[sz]|\btrade-?offs?\b|\bwhy\b|\bstep[- ]by[- ]step\b|\bcompar(?:e|es|ed|ing|ison)\b|\bpros and cons\b"
    r"|\bexplain|\bevaluat|\bjustif|\breasoning\b|\bprove\b|\bimplications?\b|\bwhat if\b|\bdeduc"
    r"|\binfer\b|\bcalculat|\bsolve\b|\brecommend|\bconfounder|\bcausal|\bhypothes"
)
CONSTRAINTS = (
    r"\b(?:must|should|do not|don't|never|always|ensure|at least|at most|exactly|only|no more than|without"
    r"|avoid|ignore|be (?:brief|concise|precise|specific))\b|\n\s*(?:[-*•]|\d{1,2}[.)])\s"
)
WEIGHTS = {"input": 0.25, "output": 0.25, "reasoning": 0.20, "constraints": 0.15, "turns": 0.10, "tools": 0.05}


@dataclass(frozen=True)
class TaskRule:
    """A user rule: requests whose `field` matches the regular expression `pattern` (RE2 syntax,
    searched anywhere; for `tag`, any one tag) get `task_type`, and `complexity` when given."""

    pattern: str
    task_type: str
    field: Literal["input_text", "model", "tag"] = "input_text"
    complexity: float | None = None

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise UserError(f"unknown task type {self.task_type!r}; choose one of {', '.join(TASK_TYPES)}")
        if self.field not in RULE_FIELDS:
            raise UserError(f"unknown rule field {self.field!r}; choose one of {', '.join(RULE_FIELDS)}")
        if self.complexity is not None and not 0 <= self.complexity <= 1:
            raise UserError(f"complexity must be within [0, 1], got {self.complexity}")
        if not self.pattern:
            raise UserError("a rule needs a non-empty pattern")


def _rx(column: str, pattern: str) -> str:
    return f"regexp_matches({column}, {sql_literal(pattern)})"


def _prx(pattern: str) -> str:
    """A prompt rule on P. No pattern matches an empty P, and a regex call costs ~80 ns even on
    '': requests without a logged prompt (most of a Batch output file) skip them (CASE and AND
    evaluate their right side only for the rows still undecided)."""
    return f"(p <> '' AND {_rx('p', pattern)})"


def _count_rx(pattern: str) -> str:
    """Occurrences of `pattern` in P (0 for an empty P, without a regex call)."""
    return f"CASE WHEN p = '' THEN 0 ELSE len(regexp_extract_all(p, {sql_literal(pattern)})) END"


def _rule_match(rule: TaskRule) -> str:
    if rule.field == "tag":
        return f"len(list_filter(coalesce(r.tags, []), lambda t: {_rx('t', rule.pattern)})) > 0"
    return _rx(f"coalesce(r.{rule.field}, '')", rule.pattern)


def _type_literal(expr: str) -> str:
    """NULL unless `expr` names a known task type. (list_contains, not IN: DuckDB plans an IN list
    this long as a join, which copies every carried column of every row.)"""
    return f"CASE WHEN list_contains([{', '.join(map(sql_literal, TASK_TYPES))}], {expr}) THEN {expr} END"


def typed_select(user_rules: list[TaskRule], relation: str, carry: list[str], keep_logged: bool = False) -> str:
    """SELECT the `carry` columns of `relation` (SQL with the `requests` columns) plus the
    `task_type` and `complexity` the overrides and rules of the module docstring give each row.
    `keep_logged` keeps the relation's own `task_type` (a mapped column at ingest) above all else."""
    rule_no = "CASE " + " ".join(
        f"WHEN {_rule_match(rule)} THEN {i}" for i, rule in enumerate(user_rules, 1)) + " END" if user_rules else "NULL"
    rule_type = "CASE rule_no " + " ".join(
        f"WHEN {i} THEN {sql_literal(rule.task_type)}" for i, rule in enumerate(user_rules, 1)) + " END" if user_rules else "NULL"
    rule_cx = "CASE rule_no " + " ".join(
        f"WHEN {i} THEN {rule.complexity}" for i, rule in enumerate(user_rules, 1) if rule.complexity is not None
    ) + " END" if any(rule.complexity is not None for rule in user_rules) else "NULL"
    tag_of = "list_filter(coalesce(r.tags, []), lambda t: starts_with(t, '{0}:'))[1][{1}:]"
    kept = "".join(f'"{c}", ' for c in carry)
    w = WEIGHTS
    return f"""
      SELECT {kept}
        coalesce({'logged_type, ' if keep_logged else ''}tag_type, extra_type, {rule_type}, CASE
          WHEN agentic THEN 'chat'
          WHEN {_prx(CLS_CUE)} OR {_prx(LABEL_LIST)} OR ({_prx(SHORT_OPTIONS)} AND short_out) THEN 'classification'
          WHEN structured THEN 'extraction'
          WHEN {_prx(CODE_STRONG)} OR (o <> '' AND {_rx('o', CODE_ANSWER)} AND NOT {_rx('o', DATA_FENCE)}) THEN 'code'
          WHEN {_prx(EXTRACT)} THEN 'extraction'
          WHEN {_prx(SUMMARY)} THEN 'summarisation'
          WHEN {_prx(LANGUAGE)} THEN 'code'
          WHEN user_turns >= 3 THEN 'chat'
          WHEN cues >= 2 OR (cues >= 1 AND tout >= 256) THEN 'reasoning'
          ELSE 'chat' END) AS task_type,
        round(greatest(0.0, least(1.0, coalesce(tag_cx, extra_cx, {rule_cx},
          {w['input']} * least(1.0, ln(1 + tin) / ln(1 + 32768))
          + {w['output']} * least(1.0, ln(1 + tout) / ln(1 + 4096))
          + {w['reasoning']} * least(cues, 4) / 4
          + {w['constraints']} * least({_count_rx(CONSTRAINTS)}, 8) / 8
          + {w['turns']} * least(greatest(user_turns - 1, 0), 4) / 4
          + {w['tools']} * agentic::INT))), 4) AS complexity
      FROM (
        SELECT *, {_count_rx(REASONING)} AS cues FROM (
          SELECT {''.join(f'r."{c}", ' for c in carry)}{rule_no} AS rule_no,
            lower(CASE WHEN length(r.input_text) > 4000
                       THEN left(r.input_text, 2500) || chr(10) || right(r.input_text, 1500)
                       ELSE coalesce(r.input_text, '') END) AS p,  -- '' (never NULL) without a prompt
            -- The answer window, only when the answer holds a code fence (both answer rules need one).
            CASE WHEN contains(r.output_text, '```') THEN lower(left(r.output_text, 4000)) ELSE '' END AS o,
            greatest(coalesce(r.input_tokens, length(r.input_text) // 4, 0), 0) AS tin,
            greatest(coalesce(r.output_tokens, length(r.output_text) // 4, 0), 0) AS tout,
            coalesce(r.output_tokens <= 10, length(r.output_text) <= 40, false) AS short_out,
            len(list_filter(coalesce(json_extract_string(r.input_messages, '$[*].role'), []),
                            lambda x: x = 'user')) AS user_turns,
            (coalesce(json_array_length(r.request_params, '$.tools'), 0)
               + coalesce(json_array_length(r.request_params, '$.functions'), 0) > 0 AND NOT r.forced)
              OR regexp_matches(coalesce(r.input_messages::VARCHAR, ''),
                                '"(?:tool_calls|tool_call_id|tool_use|tool_result|function_call)"|"role":\\s*"(?:tool|function)"')
              AS agentic,
            r.forced OR coalesce(r.request_params->>'$.response_format.type', r.request_params->>'$.text.format.type', '')
                          IN ('json_object', 'json_schema')
              OR coalesce(json_type(r.request_params, '$.format') = 'OBJECT' OR r.request_params->>'$.format' = 'json', false)
              OR json_type(r.request_params, '$.guided_json') IS NOT NULL AS structured,
            {_type_literal('r.task_type')} AS logged_type,
            {_type_literal(tag_of.format('task', 6))} AS tag_type,
            try_cast({tag_of.format('complexity', 12)} AS DOUBLE) AS tag_cx,
            {_type_literal("r.extra_fields[1]")} AS extra_type,
            try_cast(r.extra_fields[2] AS DOUBLE) AS extra_cx
          FROM (SELECT *, json_extract_string(extra, ['$.task_type', '$.complexity']) AS extra_fields,
                  coalesce(json_type(request_params, '$.tool_choice') = 'OBJECT'
                           AND coalesce(request_params->>'$.tool_choice.type', 'function') IN ('function', 'tool'),
                           false) AS forced
                FROM {relation}) AS r))"""


def assign_tasks(con: duckdb.DuckDBPyConnection, where_sql: str = "task_type IS NULL OR complexity IS NULL",
                 params: list | None = None, keep_logged: bool = False) -> int:
    """Set `task_type` and `complexity` of the requests matching `where_sql` (a condition on the
    requests' columns, with `?` placeholders bound to `params`) by the overrides and rules of the
    module docstring, in one UPDATE; return how many rows were updated. `keep_logged` keeps a task
    type the log itself gave (a mapped column at ingest) above every other rule."""
    typed = typed_select(stored_rules(con), f"(SELECT *, rowid AS rid FROM requests WHERE {where_sql})", ["rid"], keep_logged)
    return con.execute(
        f"""UPDATE requests SET task_type = f.task_type, complexity = f.complexity FROM ({typed}) AS f
            WHERE requests.rowid = f.rid""",
        params or [],
    ).fetchall()[0][0]


def stored_rules(con: duckdb.DuckDBPyConnection) -> list[TaskRule]:
    """The user's task rules, in the order they are tried."""
    return [TaskRule(pattern=p, task_type=t, field=f, complexity=c) for p, f, t, c in rows(
        con, "SELECT pattern, field, task_type, complexity FROM task_rules ORDER BY position")]


def apply_rules(con: duckdb.DuckDBPyConnection, rules: list[TaskRule]) -> int:
    """Replace the stored user rules by `rules` (tried in this order; [] clears them) and re-assign
    every request's task type and complexity, in one transaction; return how many rows were updated.
    An invalid regular expression raises UserError and changes nothing."""
    for rule in rules:
        try:
            scalar(con, "SELECT regexp_matches('', ?)", [rule.pattern])
        except duckdb.Error as exc:
            raise UserError(f"invalid regular expression {rule.pattern!r}: {exc}") from exc
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM task_rules").fetchall()
        for position, rule in enumerate(rules, 1):
            con.execute("INSERT INTO task_rules VALUES (?, ?, ?, ?, ?, ?)",
                        [position, rule.pattern, rule.field, rule.task_type, rule.complexity, utcnow()]).fetchall()
        updated = assign_tasks(con, "true")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return updated


def breakdown(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per task type ('unassigned' when not typed yet) of the logged traffic (the `traffic` view,
    as narrow_share): requests, share of all requests, avg_complexity and cost_usd (sum of known
    costs); most requests first."""
    return frame(
        con,
        """SELECT coalesce(task_type, 'unassigned') AS task_type, count(*) AS requests,
                  count(*) / sum(count(*)) OVER () AS share, avg(complexity) AS avg_complexity,
                  sum(cost_usd) AS cost_usd
           FROM traffic GROUP BY 1 ORDER BY requests DESC, task_type""",
    )


NARROW_TASKS = ("classification", "extraction")


def narrow_share(con: duckdb.DuckDBPyConnection) -> float | None:
    """Share of the logged traffic (the `traffic` view) whose task type is narrow (classification
    or extraction: the repetitive work a small local model most often matches); None without traffic."""
    return scalar(con, f"""SELECT avg((task_type IN ({', '.join(map(sql_literal, NARROW_TASKS))}))::INT)
                           FROM traffic""")
