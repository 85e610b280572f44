"""Task typing and complexity: real requests from ../shared, hand-made cases per rule, overrides."""

from __future__ import annotations

import json
import math
import time

import pytest

from analysis.errors import UserError
from analysis.ingest import ingest_paths
from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.quality import tasks
from analysis.quality.tasks import TaskRule, apply_rules, assign_tasks, breakdown, stored_rules
from analysis.store.database import open_db, rows, scalar

_counter = iter(range(1, 10**9))


def add(con, messages=None, output=None, params=None, output_tokens=None, input_tokens=None,
        tags=None, extra=None, model=None, user=None, cost=None) -> str:
    """Insert one request; `user` is a shortcut for a single user message. Returns its id."""
    if user is not None:
        messages = [{"role": "user", "content": user}]
    request_id = f"r{next(_counter)}"
    text = "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in messages) if messages else None
    con.execute(
        """INSERT INTO requests (request_id, source_id, model, input_messages, input_text, output_text,
                                 request_params, input_tokens, output_tokens, status, tags, extra, cost_usd)
           VALUES (?, 'test', ?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?)""",
        [request_id, model, json.dumps(messages) if messages else None, text, output,
         json.dumps(params) if params else None, input_tokens, output_tokens, tags,
         json.dumps(extra) if extra else None, cost],
    )
    return request_id


def typed(con, request_id) -> tuple[str, float]:
    return rows(con, "SELECT task_type, complexity FROM requests WHERE request_id = ?", [request_id])[0]


# --- real requests --------------------------------------------------------------------------------

def test_navirag_batch_requests_are_summarisation(con, shared_dir):
    """The 65 NaviRAG Batch prompts (gpt-4o) all ask, in the same words, to turn a dict of object
    bounding boxes into a brief "graph-like description" and to "summarize spatial relationships
    between the objects"; answers are bullet lists of relations, no JSON, no schema. That is a
    condensed natural-language rendering of the input: summarisation. Not extraction (nothing is
    pulled into fields; "JSON-like" describes the input, no JSON is asked for), and not
    classification ("ignore following classes" names object classes, it asks for no label)."""
    batch = shared_dir / "samples" / "openai-batch"
    results = ingest_paths(con, [batch / "genai_navirag_batch_output.jsonl", batch / "genai_navirag_batch_input.jsonl"])
    assert results[0].ok and results[0].rows_loaded == 65
    typed_at_ingest = rows(con, "SELECT task_type, count(*) FROM requests GROUP BY 1")
    assert typed_at_ingest == [("summarisation", 65)]
    assert assign_tasks(con) == 0  # nothing left untyped
    assert assign_tasks(con, "true") == 65
    assert rows(con, "SELECT task_type, count(*) FROM requests GROUP BY 1") == typed_at_ingest
    low, high = rows(con, "SELECT min(complexity), max(complexity) FROM requests")[0]
    assert 0.2 < low <= high < 0.5  # ~400-token prompts, ~200-token answers, a few constraints
    # The longest answer gets at least the shortest answer's score (same prompt shape).
    longest, shortest = rows(con, "SELECT arg_max(complexity, output_tokens), arg_min(complexity, output_tokens) FROM requests")[0]
    assert longest >= shortest


HALUEVAL_EXPECTED = {  # ID -> type; prompts are read from ../shared at test time
    "49": "summarisation",    # "Summarize a given article in 50 words or less."
    "68": "code",             # "Write a function that takes in a string ..."
    "142": "code",            # "Write a Python program to fetch ..."
    "149": "classification",  # "Categorize the samples from the data set. ..."
    "4032": "extraction",     # "Generate a JSON object that describes a person"
    "1401": "reasoning",      # "Explain why a vector with magnitude 5 ..."
    "35": "code",             # "Build a calculator using HTML and JavaScript."
    "1": "chat",              # "Produce a list of common words in the English language."
}


def test_real_alpaca_instructions_from_halueval(con, shared_dir):
    """Real user instructions (HaluEval's Alpaca queries, with ChatGPT's real answers)."""
    path = shared_dir / "datasets" / "halueval_general" / "general_data.json"
    records = {r["ID"]: r for r in map(json.loads, path.read_text().splitlines()) if r["ID"] in HALUEVAL_EXPECTED}
    ids = {key: add(con, user=r["user_query"], output=r["chatgpt_response"]) for key, r in records.items()}
    assign_tasks(con)
    assert {key: typed(con, rid)[0] for key, rid in ids.items()} == HALUEVAL_EXPECTED


def test_real_cfpb_prompts_with_their_label_list_are_classification(con, shared_dir):
    """IBM's CFPB test inputs are real prompt-tuning prompts listing the 5 products."""
    data = json.loads((shared_dir / "datasets" / "cfpb_complaints_ibm" / "cfpb_test.json").read_text())
    ids = [add(con, user=item["input"], output=item["output"]) for item in data[:25]]
    assign_tasks(con)
    assert {typed(con, rid)[0] for rid in ids} == {"classification"}


def test_labelled_dataset_prompts_are_classification_by_the_rules_alone(con, shared_dir):
    """The labelled import marks its rows (extra.task_type); its prompt is recognised without it too."""
    folder = shared_dir / "datasets" / "banking77"
    assert ingest_labelled(con, folder / "test.csv", "text", "category", folder / "categories.json", limit=10).ok
    assign_tasks(con)
    assert rows(con, "SELECT DISTINCT task_type FROM requests") == [("classification",)]
    assert scalar(con, "SELECT count(*) FROM requests WHERE complexity IS NULL") == 0
    messages = json.loads(scalar(con, "SELECT input_messages FROM requests LIMIT 1"))
    rid = add(con, messages=messages)
    assign_tasks(con)
    assert typed(con, rid)[0] == "classification"


# --- one hand-made case per rule ------------------------------------------------------------------

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
CASES = [
    ("agentic: tools offered", dict(user="Summarize the weather in Paris", params={"tools": TOOLS}), "chat"),
    ("agentic: tool result in history", dict(messages=[
        {"role": "user", "content": "What is the weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
        {"role": "tool", "tool_call_id": "1", "content": "18C"}]), "chat"),
    ("classification: instruction", dict(messages=[
        {"role": "system", "content": "You are a triage bot. Classify the ticket as billing, technical or account."},
        {"role": "user", "content": "I was charged twice"}], output="billing"), "classification"),
    ("classification: one of", dict(user="Pick the intent, one of: refund, cancel, upgrade.\nText: stop my plan"), "classification"),
    ("classification: sentiment", dict(user="What is the sentiment of this review? 'Great phone'", output="positive"), "classification"),
    ("classification: short bullet options", dict(
        user="Ticket: my parcel is late\nQueues:\n- Shipping\n- Billing\n- Technical\n- Account", output="Shipping",
        output_tokens=2), "classification"),
    ("classification over JSON output", dict(user="Classify the review. Reply in JSON.",
                                             params={"response_format": {"type": "json_object"}}), "classification"),
    ("extraction: response_format", dict(user="Name and email of: Ann <ann@x.org>",
                                         params={"response_format": {"type": "json_schema", "json_schema": {}}}), "extraction"),
    ("extraction: forced tool", dict(user="Ann, ann@x.org", params={
        "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}), "extraction"),
    ("extraction: instruction", dict(user="Extract the invoice number and total from this email: ..."), "extraction"),
    ("extraction: reply with JSON", dict(user="Read the bio below and reply with a JSON object: name, born.\nBio: ..."), "extraction"),
    ("code: write a function", dict(user="Write a function that returns the n-th prime."), "code"),
    ("code: refactor with fence", dict(user="Refactor this:\n```python\ndef f(x): return x\n```"), "code"),
    ("code: fence in the answer", dict(user="How do I reverse a list?", output="Use:\n```\nxs[::-1]\n```"), "code"),
    ("code: language named", dict(user="Is pandas faster than polars for group-bys?"), "code"),
    ("summarisation", dict(user="Summarise this meeting note in two sentences: the release slipped a week."), "summarisation"),
    ("summarisation: tl;dr", dict(user="A long post about databases...\nTL;DR?"), "summarisation"),
    ("summarise code is summarisation", dict(user="Summarize what this diff changes: +a -b"), "summarisation"),
    ("reasoning: cues", dict(user="We run 40 services. Analyse the trade-offs of Kubernetes versus VMs."), "reasoning"),
    ("reasoning: one cue and a long answer", dict(user="Why did sales drop in May?", output_tokens=600), "reasoning"),
    ("one cue and a short answer is chat", dict(user="Why is the sky blue?", output_tokens=40), "chat"),
    ("chat: conversation", dict(messages=[{"role": r, "content": c} for r, c in [
        ("user", "hi"), ("assistant", "hello"), ("user", "how are you"), ("assistant", "fine"),
        ("user", "explain why you are fine")]]), "chat"),
    ("chat: small talk", dict(user="Tell me a joke about cats"), "chat"),
    ("chat: no prompt logged", dict(output="some answer"), "chat"),
]


@pytest.mark.parametrize("name, request_, expected", CASES, ids=[c[0] for c in CASES])
def test_rules(con, name, request_, expected):
    rid = add(con, **request_)
    assert assign_tasks(con) == 1
    task_type, complexity = typed(con, rid)
    assert task_type == expected
    assert 0 <= complexity <= 1


# --- complexity -------------------------------------------------------------------------------------

def test_complexity_is_monotonic_in_length_cues_turns_and_bounded(con):
    base = "Tell me about the history of the harbour."
    short, long_in, longer_in = (add(con, user=base, input_tokens=n) for n in (50, 2_000, 30_000))
    out_small, out_big = (add(con, user=base, output_tokens=n) for n in (10, 3_000))
    one_cue, three_cues = add(con, user=base + " Why?"), add(con, user=base + " Why? Compare and analyse it.")
    one_turn = add(con, messages=[{"role": "user", "content": base}])
    three_turns = add(con, messages=[{"role": "user", "content": base}, {"role": "assistant", "content": "..."}] * 2
                      + [{"role": "user", "content": base}])
    constrained = add(con, user=base + " You must be brief. Never use lists. Always cite sources. Avoid jargon.")
    turn = {"role": "user", "content": "Why? Analyse, compare. You must never, always, only, avoid. " * 10}
    huge = add(con, messages=[turn] * 5, input_tokens=10**7, output_tokens=10**6, params={"tools": TOOLS})
    assign_tasks(con)
    c = {rid: typed(con, rid)[1] for rid in rows_ids(con)}
    assert c[short] < c[long_in] < c[longer_in]
    assert c[out_small] < c[out_big]
    assert c[one_cue] < c[three_cues]
    assert c[one_turn] < c[three_turns]
    assert c[one_turn] < c[constrained]
    assert c[huge] == 1.0  # every feature saturated
    assert all(0 <= v <= 1 for v in c.values())


def rows_ids(con) -> list[str]:
    return [r[0] for r in rows(con, "SELECT request_id FROM requests")]


# --- overrides --------------------------------------------------------------------------------------

def test_tag_and_extra_override_the_rules(con):
    by_tag = add(con, user="Classify this ticket: refund please", tags=["team-a", "task:code", "complexity:0.9"])
    by_extra = add(con, user="Write a function that adds", extra={"task_type": "summarisation", "complexity": 0.1})
    unknown = add(con, user="Write a function that adds", tags=["task:poetry"], extra={"task_type": "nonsense"})
    assign_tasks(con)
    assert typed(con, by_tag) == ("code", 0.9)
    assert typed(con, by_extra) == ("summarisation", 0.1)
    assert typed(con, unknown)[0] == "code"  # unknown override values are ignored


def test_user_rules_persist_win_over_rules_lose_to_tags(tmp_path):
    path = tmp_path / "w.duckdb"
    con = open_db(path)
    support = add(con, user="Write a function for the refund form", model="gpt-4o-mini")
    tagged = add(con, user="REFUND please", tags=["task:chat"])
    other = add(con, user="Write a function that adds", model="claude-3-5-haiku")
    by_model = add(con, user="hello", model="ft:gpt-4o:acme:triage")
    assert assign_tasks(con) == 4
    assert typed(con, support)[0] == "code"
    rules = [TaskRule(r"(?i)refund", "classification", complexity=0.2), TaskRule("triage", "classification", "model"),
             TaskRule("refund", "extraction")]  # never reached for 'support': the first rule matched
    assert apply_rules(con, rules) == 4
    assert typed(con, support) == ("classification", 0.2)
    assert typed(con, tagged)[0] == "chat"
    assert typed(con, other)[0] == "code"
    assert typed(con, by_model)[0] == "classification" and typed(con, by_model)[1] != 0.2
    con.close()
    con = open_db(path)
    assert stored_rules(con) == rules
    later = add(con, user="a refund question")
    assign_tasks(con)  # new rows get the stored rules
    assert typed(con, later) == ("classification", 0.2)
    apply_rules(con, [TaskRule("hello", "summarisation", "tag")])
    assert stored_rules(con) == [TaskRule("hello", "summarisation", "tag")]
    assert typed(con, support)[0] == "code"
    con.close()


def test_rule_by_tag_and_invalid_rules(con):
    rid = add(con, user="hello", tags=["source:crm"])
    apply_rules(con, [TaskRule("^source:crm$", "extraction", "tag")])
    assert typed(con, rid)[0] == "extraction"
    with pytest.raises(UserError, match="invalid regular expression"):
        apply_rules(con, [TaskRule("(unclosed", "code")])
    assert stored_rules(con) == [TaskRule("^source:crm$", "extraction", "tag")]
    for bad in (dict(task_type="poetry"), dict(field="output_text"), dict(complexity=1.5), dict(pattern="")):
        with pytest.raises(UserError):
            TaskRule(**{"pattern": "x", "task_type": "code", **bad})


# --- selection, breakdown, speed -------------------------------------------------------------------

def test_where_sql_selects_the_rows_to_type(con):
    a = add(con, user="Write a function", model="m1")
    b = add(con, user="Write a function", model="m2")
    assert assign_tasks(con, "model = ?", ["m2"]) == 1
    assert typed(con, a) == (None, None) and typed(con, b)[0] == "code"
    assert assign_tasks(con) == 1  # the default picks up what is not typed yet
    assert assign_tasks(con) == 0


def test_breakdown(con):
    add(con, user="Write a function", cost=0.5)
    add(con, user="Write a function", cost=0.25)
    add(con, user="Summarise this", cost=None)
    assign_tasks(con)
    add(con, user="not typed yet")
    df = breakdown(con)
    assert df.columns == ["task_type", "requests", "share", "avg_complexity", "cost_usd"]
    got = {r["task_type"]: r for r in df.to_dicts()}
    assert got["code"]["requests"] == 2 and got["code"]["cost_usd"] == pytest.approx(0.75)
    assert got["code"]["share"] == pytest.approx(0.5)
    assert got["unassigned"]["avg_complexity"] is None
    assert df["share"].sum() == pytest.approx(1.0)


def test_one_update_is_fast_on_many_rows(con):
    """No per-row Python: 200k requests typed in one statement within a few seconds."""
    add(con, user="Write a function that parses logs and returns counts per level.", output_tokens=300)
    add(con, user="Summarise this support conversation in two sentences for the CRM. " * 20)
    add(con, messages=[{"role": "system", "content": "Classify the ticket into one of: billing, tech."},
                       {"role": "user", "content": "charged twice " * 30}], output="billing")
    con.execute("INSERT INTO requests SELECT r.* REPLACE ('x' || i AS request_id) FROM requests r, range(66667) t(i)")
    assert scalar(con, "SELECT count(*) FROM requests") >= 200_000
    started = time.perf_counter()
    assert assign_tasks(con) >= 200_000
    assert time.perf_counter() - started < 30
    assert {r[0] for r in rows(con, "SELECT DISTINCT task_type FROM requests")} == {"code", "summarisation", "classification"}


def test_task_types_are_documented():
    for task_type in tasks.TASK_TYPES:
        assert task_type in tasks.__doc__
    for feature in tasks.WEIGHTS:
        assert feature in tasks.__doc__.replace("input size", "input").replace("output size", "output")
    assert sum(tasks.WEIGHTS.values()) == pytest.approx(1.0)


def test_a_request_without_a_prompt_scores_complexity_from_its_sizes_only(con):
    con.execute("""INSERT INTO requests (request_id, source_id, status, input_tokens, output_tokens)
                   VALUES ('no-prompt', 's', 'ok', 100, 10)""")
    assign_tasks(con)
    expected = 0.25 * math.log(101) / math.log(32769) + 0.25 * math.log(11) / math.log(4097)
    assert rows(con, "SELECT task_type, complexity FROM requests")[0] == ("chat", pytest.approx(expected, abs=1e-4))
