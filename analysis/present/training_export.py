"""What `breakeven export-training` prints and the Quality page shows about a training-set export:
counts, split, leakage guard, PII scrub and files, from its manifest (one wording for both)."""

from __future__ import annotations


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason}: {n:,}" for reason, n in counts.items()) or "none"


def _filters(filters: dict[str, list[str]]) -> str:
    named = [f"{name.replace('_', ' ')} {', '.join(values)}" for name, values in filters.items() if values]
    return "; ".join(named) or "none (all requests)"


def export_lines(export) -> list[str]:
    """Lines describing an export (`analysis.replay.tuning.training_set.TrainingExport`)."""
    manifest = export.manifest
    counts, split, leakage, pii = manifest["counts"], manifest["split"], manifest["leakage"], manifest["pii"]
    lines = [
        f"export {manifest['export_id']} -> {export.directory}",
        f"target: {manifest['target']}; filters: {_filters(manifest['filters'])}",
        f"selected {counts['selected']:,} requests; skipped {sum(counts['skipped'].values()):,} ({_counted(counts['skipped'])})",
        f"held-out test split: {counts['test']:,} requests in test.jsonl ({split['test_fraction']:.0%} of requests by "
        f"md5 of the request id; {split['held_out_in_workspace']:,} held out in the workspace)",
        f"leakage guard: dropped {leakage['dropped']:,} training requests repeating a test prompt "
        f"({leakage['exact_duplicates']:,} exact, {leakage['near_duplicates']:,} near: word 3-shingles with "
        f"Jaccard >= {leakage['threshold']})",
        f"train: {counts['train']:,} requests",
    ]
    if pii["enabled"]:
        lines.append(f"PII scrub: replaced {sum(pii['replaced'].values()):,} ({_counted(pii['replaced'])})")
    else:
        lines.append("PII scrub: off")
    for name, info in manifest["files"].items():
        left_out = manifest["not_in_format"].get(info["format"], {}) if info["split"] == "train" else {}
        lines.append(f"  {name}: {info['rows']:,} rows, sha256 {info['sha256'][:16]}…"
                     + (f"; left out {sum(left_out.values()):,} ({_counted(left_out)})" if left_out else ""))
    return lines
