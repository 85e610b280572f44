import json

import pytest

from analysis.replay import sampling
from analysis.replay.prompt_adapter import PromptAdapter, build_messages, load_examples, resolve


@pytest.fixture
def logged(con):
    """60 replayable requests over three task types (30/20/10) plus 5 errors and 5 without messages."""
    types = ["classification"] * 30 + ["extraction"] * 20 + ["summarisation"] * 10
    for i, task in enumerate(types):
        con.execute(
            """INSERT INTO requests (request_id, source_id, status, task_type, model, input_messages, label, output_text)
               VALUES (?, 's', 'ok', ?, 'gpt-4o-mini', ?, ?, ?)""",
            [f"r{i:03d}", task, json.dumps([{"role": "system", "content": "Classify."},
                                            {"role": "user", "content": f"ticket {i}"}]),
             ["billing", "technical"][i % 2] if task == "classification" else None, f"answer {i}"])
    for i in range(5):
        con.execute("INSERT INTO requests (request_id, source_id, status, input_messages) VALUES (?, 's', 'error', '[]')", [f"e{i}"])
        con.execute("INSERT INTO requests (request_id, source_id, status) VALUES (?, 's', 'ok')", [f"n{i}"])
    return con


def test_random_sample_is_seeded_and_only_replayable(logged):
    spec = sampling.SampleSpec(size=20, seed=3)
    first, again = sampling.draw(logged, spec), sampling.draw(logged, spec)
    assert first == again and len(first) == 20 and len(set(first)) == 20
    assert all(r.startswith("r") for r in first)
    assert sampling.draw(logged, spec.model_copy(update={"seed": 4})) != first
    assert sampling.eligible_count(logged, spec) == 60


def test_stratified_sample_is_proportional(logged):
    ids = sampling.draw(logged, sampling.SampleSpec(size=12, strategy="stratified", stratify_by="task_type"))
    index = {f"r{i:03d}": t for i, t in enumerate(["classification"] * 30 + ["extraction"] * 20 + ["summarisation"] * 10)}
    counts = {t: sum(index[i] == t for i in ids) for t in set(index.values())}
    assert counts == {"classification": 6, "extraction": 4, "summarisation": 2}


def test_allocation_keeps_small_strata_and_exact_size():
    assert sampling.allocate(10, {"a": 1000, "b": 5, "c": 1}) == {"a": 8, "b": 1, "c": 1}
    assert sum(sampling.allocate(7, {"a": 3, "b": 3, "c": 3}).values()) == 7
    assert sampling.allocate(50, {"a": 3, "b": 2}) == {"a": 3, "b": 2}


def test_filters_and_exclusions(logged):
    ids = sampling.draw(logged, sampling.SampleSpec(size=100, task_types=["summarisation"], exclude_ids=["r050"]))
    assert len(ids) == 9 and "r050" not in ids


def test_adapter_few_shot_never_from_the_sample_and_labels_auto(logged):
    sample = sampling.draw(logged, sampling.SampleSpec(size=10, task_types=["classification"], seed=1))
    adapter = resolve(logged, PromptAdapter(few_shot=3, auto_labels=True), sample, seed=1)
    assert len(adapter.few_shot_ids) == 3 and not set(adapter.few_shot_ids) & set(sample)
    assert adapter.labels == ["billing", "technical"]
    examples = load_examples(logged, adapter)
    assert [answer for _, answer in examples] == [
        ["billing", "technical"][int(i[1:]) % 2] for i in adapter.few_shot_ids]


def test_build_messages_overrides_system_and_inserts_examples():
    adapter = PromptAdapter(system_prompt="Answer with one label.")
    logged = [{"role": "system", "content": "old"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    examples = [([{"role": "user", "content": "example q"}], "billing")]
    assert build_messages(adapter, logged, examples) == [
        {"role": "system", "content": "Answer with one label."},
        {"role": "user", "content": "example q"}, {"role": "assistant", "content": "billing"},
        {"role": "user", "content": "hi"},
    ]
