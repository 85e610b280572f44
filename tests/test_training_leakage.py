"""The leakage guard: planted exact and near duplicates of held-out prompts never reach a train
file and are counted; what is merely similar stays."""

from __future__ import annotations

import csv
import json

from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.replay.tuning import held_out
from analysis.replay.tuning.leakage import NEAR_DUPLICATE_THRESHOLD, find_leaks, jaccard, normalise, shingles
from analysis.replay.tuning.training_set import TrainingSetSpec, export_training_set
from analysis.store.database import rows


def _user_texts(path) -> list[str]:
    return [next(m["content"] for m in json.loads(line)["messages"] if m["role"] == "user")
            for line in path.read_text().splitlines()]


def test_normalisation_and_shingles():
    assert normalise("  Hello,   WORLD!\n\tÉtat — 42 ") == "hello world état 42"
    assert normalise("ﬁle") == "file"  # NFKC
    assert shingles("a b") == {("a", "b")} and shingles("") == frozenset()
    assert shingles("a b c d") == {("a", "b", "c"), ("b", "c", "d")}


def test_the_threshold_is_applied_as_stated():
    words = [f"w{i}" for i in range(40)]
    base = " ".join(words)
    one_changed = " ".join([*words[:20], "other", *words[21:]])  # 35 of 41 shingles shared: 0.85
    appended = base + " and more"
    short = " ".join(words[:20])
    short_changed = " ".join([*words[:10], "other", *words[11:20]])  # 15 of 21: 0.71, under 0.8
    assert jaccard(shingles(one_changed), shingles(base)) == 35 / 41
    assert jaccard(shingles(short_changed), shingles(short)) == 15 / 21 < NEAR_DUPLICATE_THRESHOLD
    report = find_leaks([("exact", base.upper() + "?!"), ("one", one_changed), ("appended", appended),
                         ("short", short_changed), ("other", "nothing like the rest"), ("empty", " ... ")],
                        [base, short])
    assert report.exact == ["exact"] and sorted(report.near) == ["appended", "one"]
    assert report.as_dict()["dropped"] == 3


def test_planted_duplicates_of_test_prompts_are_dropped_and_counted(con, tmp_path, shared_dir):
    ingest_labelled(con, shared_dir / "datasets" / "cfpb_complaints_ibm" / "cfpb_train.json", "input", "output")
    held_out.assign_held_out(con)
    test_texts = [(t, label) for t, label in rows(
        con, """SELECT input_messages->>'$[1].content', label FROM requests
                WHERE request_id IN (SELECT request_id FROM held_out_requests)
                  AND len(string_split(input_messages->>'$[1].content', ' ')) >= 60  -- one changed word: >= 0.9
                ORDER BY request_id LIMIT 8""")]
    planted = tmp_path / "planted.csv"
    kinds, texts = [], {}
    with planted.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for number, (text, label) in enumerate(test_texts):
            words = text.split()
            middle = len(words) // 2
            variants = {
                "exact": text.upper().replace(" ", "  ") + " !!",
                "near": " ".join([*words[:middle], "zzqx", *words[middle + 1:]]) + " thanks",
                "far": " ".join(words[: len(words) // 2]),  # half the text: Jaccard about 0.5, kept
            }
            for kind, variant in variants.items():
                writer.writerow([f"{kind}-{number}", variant, label])
                kinds.append((f"planted:{kind}-{number}", kind))
                texts[f"planted:{kind}-{number}"] = variant
    ingest_labelled(con, planted, "text", "label", id_col="id")
    export = export_training_set(con, TrainingSetSpec(target="labels"), tmp_path / "export")
    leakage = export.manifest["leakage"]
    planted_in_train = {request_id: kind for request_id, kind in kinds if not held_out.is_held_out(con, request_id)}
    assert sorted(planted_in_train.values()).count("exact") >= 4 and set(planted_in_train.values()) == {
        "exact", "near", "far"}
    assert {i for i, k in planted_in_train.items() if k == "exact"} <= set(leakage["exact_duplicate_ids"])
    assert {i for i, k in planted_in_train.items() if k == "near"} <= set(leakage["near_duplicate_ids"])
    assert not {i for i, k in planted_in_train.items() if k == "far"} & set(leakage["exact_duplicate_ids"]
                                                                          + leakage["near_duplicate_ids"])
    assert leakage["dropped"] == leakage["exact_duplicates"] + leakage["near_duplicates"]
    assert leakage["exact_duplicates"] >= 1 and leakage["near_duplicates"] >= 1
    assert leakage["threshold"] == NEAR_DUPLICATE_THRESHOLD
    counts = export.manifest["counts"]
    assert counts["train"] == counts["train_before_leakage_guard"] - leakage["dropped"]
    # brute force over every pair: no train prompt repeats any held-out prompt, exactly or nearly
    held = [normalise(t) for (t,) in rows(con, """SELECT input_messages->>'$[1].content' FROM requests
                                                   WHERE request_id IN (SELECT request_id FROM held_out_requests)""")]
    held_sets = [shingles(t) for t in held]
    for text in _user_texts(export.path("train.openai.jsonl")):
        assert normalise(text) not in held
        mine = shingles(normalise(text))
        assert all(jaccard(mine, other) < NEAR_DUPLICATE_THRESHOLD for other in held_sets)
    train_texts = {normalise(t) for t in _user_texts(export.path("train.openai.jsonl"))}
    for request_id, kind in planted_in_train.items():
        assert (normalise(texts[request_id]) in train_texts) == (kind == "far"), (request_id, kind)
