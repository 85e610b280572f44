"""score_run: scorer choice, failed answers, the incumbent's own score, idempotent upserts.

`build_run` (also used by test_quality and test_references) inserts requests, a run and its
results directly, so the outcomes are known by construction."""

from __future__ import annotations

import json

import pytest

from analysis.errors import UserError
from analysis.quality.scoring.runner import RunContext, choose_scorer, run_context, score_run
from analysis.store.database import rows, scalar, utcnow


def build_run(con, items, candidates=("local:a",), run_id="run1", adapter=None):
    """items: dicts with request_id and optional label, incumbent (logged answer), task_type,
    input_text, request_params, latency_ms, ttft_ms, output_tokens, and per candidate spec a key
    holding its answer (None: a failed result; absent: no result)."""
    now = utcnow()
    for item in items:
        con.execute(
            """INSERT INTO requests (request_id, source_id, status, label, output_text, task_type, input_text,
                                     input_messages, request_params, latency_ms, ttft_ms, output_tokens, ts)
               VALUES (?, 'src', 'ok', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [item["request_id"], item.get("label"), item.get("incumbent"), item.get("task_type"),
             item.get("input_text", f"question {item['request_id']}"),
             json.dumps([{"role": "user", "content": item.get("input_text", "q")}]),
             json.dumps(item.get("request_params") or {}), item.get("latency_ms"), item.get("ttft_ms"),
             item.get("output_tokens"), now])
    con.execute("""INSERT INTO runs (run_id, created_at, sample_spec, candidates, adapter, params, budget_usd,
                                     estimate_usd, status, updated_at)
                   VALUES (?, ?, '{}', ?, ?, '{}', NULL, 0, 'done', ?)""",
                [run_id, now, json.dumps(list(candidates)), json.dumps(adapter or {}), now])
    con.executemany("INSERT INTO run_requests VALUES (?, ?, ?)",
                    [[run_id, item["request_id"], i] for i, item in enumerate(items, 1)])
    results = []
    for item in items:
        for spec in candidates:
            if spec not in item:
                continue
            answer = item[spec]
            results.append([run_id, spec, item["request_id"], answer, 10, 2, True,
                            item.get(spec + "#latency", 100.0), 20.0, 50.0, 0.0,
                            "ok" if answer is not None else "failed",
                            None if answer is not None else "HTTP 500 from server", 1, now])
    if results:
        con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", results)
    return run_id


def stored(con, run_id="run1"):
    return {(c, r): (scorer, ref, score, passed, reason) for c, r, scorer, ref, score, passed, reason in rows(
        con, "SELECT candidate, request_id, scorer, reference, score, passed, reason FROM scores WHERE run_id = ?",
        [run_id])}


PLAIN = RunContext(None, False, False)


@pytest.mark.parametrize("task_type,reference,kind,context,structured,judge,expected", [
    ("classification", "refund", "incumbent", PLAIN, False, False, "label"),
    (None, "Refund please", "ground_truth", RunContext(("refund",), True, False), False, False, "label"),
    ("extraction", '{"a": 1}', "incumbent", PLAIN, False, False, "fields"),
    ("chat", '{"a": 1}', "incumbent", RunContext(None, False, True), False, False, "fields"),
    ("chat", '{"a": 1}', "incumbent", PLAIN, True, False, "fields"),
    ("chat", "$1,200", "incumbent", PLAIN, False, False, "numeric"),
    ("chat", "Paris is the capital.", "incumbent", PLAIN, False, False, "fuzzy"),
    ("summarisation", "x" * 301, "ground_truth", PLAIN, False, False, "fuzzy"),
    ("summarisation", "x" * 301, "incumbent", PLAIN, False, True, "judge"),
    ("summarisation", "x" * 301, "incumbent", PLAIN, False, False, None),
])
def test_choose_scorer(task_type, reference, kind, context, structured, judge, expected):
    name, why = choose_scorer(task_type, reference, kind, context, structured, judge)
    assert name == expected
    assert (why is None) == (expected is not None)


def test_label_run_scores_candidates_failures_and_incumbent(con):
    items = [
        {"request_id": "r1", "label": "refund", "incumbent": "Refund", "task_type": "classification",
         "local:a": '{"label": "refund"}'},
        {"request_id": "r2", "label": "billing", "incumbent": "refund", "task_type": "classification",
         "local:a": "I think billing"},
        {"request_id": "r3", "label": "billing", "incumbent": "billing", "task_type": "classification",
         "local:a": None},
        {"request_id": "r4", "label": None, "incumbent": "billing", "task_type": "classification",
         "local:a": "refund"},
    ]
    build_run(con, items, adapter={"labels": ["refund", "billing"]})
    summary = score_run(con, "run1")
    got = stored(con)
    assert got[("local:a", "r1")] == ("label", "ground_truth", 1.0, True, None)
    assert got[("local:a", "r2")][2:4] == (1.0, True)
    assert got[("local:a", "r3")] == ("label", "ground_truth", 0.0, False, "no answer: HTTP 500 from server")
    # No ground truth on r4: the incumbent's answer is the reference, and the incumbent is not scored.
    assert got[("local:a", "r4")] == ("label", "incumbent", 0.0, False, "expected 'billing', got 'refund'")
    assert ("incumbent", "r4") not in got
    assert [got[("incumbent", r)][3] for r in ("r1", "r2", "r3")] == [True, False, True]
    assert summary.scored == 7 and summary.incumbent_scored == 3
    assert summary.by_scorer == {"label": 7}
    assert summary.by_reference == {"ground_truth": 6, "incumbent": 1}


def test_rescoring_replaces_and_a_forced_scorer_is_kept_apart(con):
    build_run(con, [{"request_id": "r1", "label": "Paris", "incumbent": "paris", "local:a": "Paris, France"}])
    first = score_run(con, "run1")
    assert first.by_scorer == {"fuzzy": 2}
    before = stored(con)
    again = score_run(con, "run1")
    assert again.scored == 2 and stored(con) == before
    assert scalar(con, "SELECT count(*) FROM scores") == 2
    score_run(con, "run1", scorer="label")
    assert sorted(rows(con, "SELECT candidate, scorer, passed FROM scores ORDER BY ALL")) == [
        ("incumbent", "fuzzy", True), ("incumbent", "label", True),
        ("local:a", "fuzzy", False), ("local:a", "label", True)]  # "Paris" found in the prose


def test_numeric_fields_and_skips(con):
    items = [
        {"request_id": "n1", "incumbent": "1,200", "local:a": "It is $1200."},
        {"request_id": "f1", "incumbent": '{"name": "Ada", "year": 1843}', "task_type": "extraction",
         "local:a": '```json\n{"name": "ada", "year": "1843"}\n```'},
        {"request_id": "f2", "incumbent": "not json", "task_type": "extraction", "local:a": "{}"},
        {"request_id": "long", "incumbent": "word " * 100, "local:a": "short"},
        {"request_id": "none", "local:a": "anything"},
    ]
    build_run(con, items)
    summary = score_run(con, "run1")
    got = stored(con)
    assert got[("local:a", "n1")][:4] == ("numeric", "incumbent", 1.0, True)
    assert got[("local:a", "f1")][:4] == ("fields", "incumbent", 1.0, True)
    assert summary.skipped == {
        "bad reference for fields: reference: invalid JSON: no JSON value found": 1,
        "long free text without ground truth: configure a judge": 1, "no reference": 1}
    assert summary.incumbent_scored == 0


def test_reference_candidate_answers_are_the_reference_and_not_scored_themselves(con):
    build_run(con, [{"request_id": "r1", "local:a": "42", "openai:gpt-x": "42.0"}],
              candidates=("local:a", "openai:gpt-x"))
    summary = score_run(con, "run1", reference_candidate="openai:gpt-x")
    assert stored(con) == {("local:a", "r1"): ("numeric", "model:openai:gpt-x", 1.0, True, None)}
    assert summary.skipped == {"is the reference": 1}
    with pytest.raises(UserError, match="has no results in run"):
        score_run(con, "run1", reference_candidate="openai:other")


def test_label_set_falls_back_to_ground_truth_labels_and_errors(con):
    build_run(con, [{"request_id": "a", "label": "yes "}, {"request_id": "b", "label": "no"},
                    {"request_id": "c", "label": ""}])
    assert run_context(con, "run1") == RunContext(("no", "yes"), False, False)
    with pytest.raises(UserError, match="no run"):
        score_run(con, "nope")
    with pytest.raises(UserError, match="unknown scorer"):
        score_run(con, "run1", scorer="bleu")
    with pytest.raises(UserError, match="needs a judge model"):
        score_run(con, "run1", scorer="judge")
