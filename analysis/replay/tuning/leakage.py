"""The leakage guard: training prompts that repeat a held-out test prompt, exactly or nearly, are
dropped from the training set, so a tuned model is not tested on what it was trained on.

Normalised text: Unicode NFKC, case-folded, every run of characters that are not letters or
digits replaced by one space, trimmed. Digits are kept (numbers often are the task's content).
- Exact duplicate: equal normalised texts (compared by their sha256).
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
The comparison is exact, not sampled: prefix filtering (Chaudhuri et al. 2006; Bayardo et al.
2007, "Scaling up all pairs similarity search"): with shingles sorted rarest first, two sets with
Jaccard >= t share a shingle among the first |x| - ceil(t |x|) + 1 of each, so only pairs sharing
such a prefix shingle (and with sizes within a factor t) are compared. Empty prompts are not
compared.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

NEAR_DUPLICATE_THRESHOLD = 0.8
SHINGLE_WORDS = 3
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
    return frozenset(tuple(words[i:i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a ∩ b| / |a ∪ b| (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _digest(normalised: str) -> str:
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


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
                "exact_duplicate_ids": sorted(self.exact), "near_duplicate_ids": sorted(self.near)}


def find_leaks(train: Iterable[tuple[str, str]], test: Iterable[str],
               threshold: float = NEAR_DUPLICATE_THRESHOLD) -> LeakageReport:
    """The training items (key, prompt) whose prompt is an exact or near duplicate (module rules)
    of any of the `test` prompts."""
    test_normalised = [text for text in map(normalise, test) if text]
    test_digests = {_digest(text) for text in test_normalised}
    test_sets = [s for s in {shingles(text) for text in test_normalised} if s]
    exact, candidates = [], []
    for key, text in train:
        normalised = normalise(text)
        if not normalised:  # nothing to compare
            continue
        if _digest(normalised) in test_digests:
            exact.append(key)
        else:
            candidates.append((key, shingles(normalised)))
    frequency = Counter(shingle for s in test_sets for shingle in s)
    frequency.update(shingle for _, s in candidates for shingle in s)

    def prefix(s: frozenset) -> list:
        ordered = sorted(s, key=lambda shingle: (frequency[shingle], shingle))
        return ordered[:len(s) - math.ceil(threshold * len(s)) + 1]

    index: dict[tuple, list[int]] = defaultdict(list)
    for position, s in enumerate(test_sets):
        for shingle in prefix(s):
            index[shingle].append(position)
    near = []
    for key, s in candidates:
        seen: set[int] = set()
        for shingle in prefix(s):
            for position in index.get(shingle, ()):
                if position in seen:
                    continue
                seen.add(position)
                other = test_sets[position]
                if threshold * len(s) <= len(other) <= len(s) / threshold and jaccard(s, other) >= threshold:
                    near.append(key)
                    break
            else:
                continue
            break
    return LeakageReport(exact=exact, near=near, threshold=threshold)
