"""The leakage guard: training prompts that repeat a held-out test prompt, exactly or nearly, are
dropped from the training set, so a tuned model is not tested on what it was trained on.

Normalised text: Unicode NFKC, case-folded, every run of characters that are not letters or
digits replaced by one space, trimmed. Digits are kept (numbers often are the task's content).
- Exact duplicate: equal normalised texts.
- Near duplicate: Jaccard similarity >= NEAR_DUPLICATE_THRESHOLD (0.8) between the sets of word
  3-shingles (each run of 3 consecutive words; a text of fewer than 3 words is one shingle of all
  its words), the resemblance of Broder (1997, "On the resemblance and containment of
  documents"). 0.8 is the usual cut of MinHash near-duplicate removal (e.g. "Jaccard
  similarity >= 0.8", theneuralbase.com, "Deduplication at scale - MinHash"). What it means here:
  one word changed in a 40-word prompt leaves 35 of 41 shingles shared (0.85, dropped), two words
  appended to it 38 of 40 (0.95, dropped); one word changed in a 20-word prompt gives 15/21 = 0.71
  (kept: each changed word alters up to 3 shingles, so short prompts need to match more closely).
  Requests filled into one template come close without reaching it: the 65 prompts of the real
  OpenAI Batch sample in ../shared (one instruction, a different object list each) pair at 0.27 on
  average and 0.79 at most, so none of them is dropped as a near duplicate of another.
The comparison is exact, not sampled (shingles compared by 64-bit hash): prefix filtering (Chaudhuri et al. 2006; Bayardo et al.
2007, "Scaling up all pairs similarity search"): with shingles sorted rarest first, two sets with
Jaccard >= t share a shingle among the first |x| - ceil(t |x|) + 1 of each, so only pairs sharing
such a prefix shingle (and with sizes within a factor t) are compared. Empty prompts are not
compared.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

NEAR_DUPLICATE_THRESHOLD = 0.8
SHINGLE_WORDS = 3
IDS_LISTED = 1_000  # dropped request ids named in the report, per kind (the counts are complete)
NON_ALPHANUMERIC = re.compile(r"[\W_]+", re.UNICODE)
METHOD = (f"normalised text (NFKC, case-folded, punctuation removed); exact: equal text; near: Jaccard over "
          f"word {SHINGLE_WORDS}-shingles >= {NEAR_DUPLICATE_THRESHOLD}")


def normalise(text: str) -> str:
    """The comparison form of a prompt (module docstring)."""
    return NON_ALPHANUMERIC.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def shingles(normalised: str) -> frozenset[tuple[str, ...]]:
    """The word 3-shingles of a normalised text (one shingle of all words when shorter)."""
    words = normalised.split()
    if len(words) < SHINGLE_WORDS:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(zip(*(words[i:] for i in range(SHINGLE_WORDS))))


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a ∩ b| / |a ∪ b| (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@dataclass(frozen=True)
class LeakageReport:
    """Which training items repeat a test prompt: `exact` and `near` hold the keys of the dropped
    training items (an exact duplicate is not also counted as near)."""

    exact: list[str]
    near: list[str]
    threshold: float = NEAR_DUPLICATE_THRESHOLD

    @property
    def dropped(self) -> set[str]:
        return {*self.exact, *self.near}

    def as_dict(self) -> dict:
        return {"method": METHOD, "threshold": self.threshold, "exact_duplicates": len(self.exact),
                "near_duplicates": len(self.near), "dropped": len(self.dropped),
                "exact_duplicate_ids": sorted(self.exact)[:IDS_LISTED],
                "near_duplicate_ids": sorted(self.near)[:IDS_LISTED]}


def _shingle_ids(normalised: str) -> frozenset[int]:
    """`shingles` as 64-bit hashes (a collision between two of a workspace's shingles is about as
    likely as n^2 / 2^64): sets of ints are compared and sorted many times faster than of tuples."""
    return frozenset(map(hash, shingles(normalised)))


def find_leaks(train: Iterable[tuple[str, str]], test: Iterable[str],
               threshold: float = NEAR_DUPLICATE_THRESHOLD) -> LeakageReport:
    """The training items (key, prompt) whose prompt is an exact or near duplicate (module rules)
    of any of the `test` prompts. Each distinct normalised prompt is compared once (logs repeat
    templated prompts many times)."""
    test_texts = {text for text in map(normalise, test) if text}
    test_sets = [s for s in {_shingle_ids(text) for text in test_texts} if s]
    train_texts: dict[str, list[str]] = defaultdict(list)  # normalised prompt -> keys
    for key, text in train:
        normalised = normalise(text)
        if normalised:  # an empty prompt has nothing to compare
            train_texts[normalised].append(key)
    exact = [key for text, keys in train_texts.items() if text in test_texts for key in keys]
    candidates = [(keys, _shingle_ids(text)) for text, keys in train_texts.items() if text not in test_texts]
    frequency = Counter(shingle for s in test_sets for shingle in s)
    frequency.update(shingle for _, s in candidates for shingle in s)
    # one total order of all shingles, rarest first (ties by value), as one sortable int each
    rank = {shingle: (count << 64) | (shingle & 0xFFFFFFFFFFFFFFFF) for shingle, count in frequency.items()}

    def prefix(s: frozenset[int]) -> list[int]:
        return sorted(s, key=rank.__getitem__)[:len(s) - math.ceil(threshold * len(s)) + 1]

    index: dict[int, list[int]] = defaultdict(list)
    for position, s in enumerate(test_sets):
        for shingle in prefix(s):
            index[shingle].append(position)

    def repeats_a_test_prompt(s: frozenset[int]) -> bool:
        seen: set[int] = set()
        for shingle in prefix(s):
            for position in index.get(shingle, ()):
                if position not in seen:
                    seen.add(position)
                    other = test_sets[position]
                    if threshold * len(s) <= len(other) <= len(s) / threshold and jaccard(s, other) >= threshold:
                        return True
        return False

    near = [key for keys, s in candidates if repeats_a_test_prompt(s) for key in keys]
    return LeakageReport(exact=exact, near=near, threshold=threshold)
