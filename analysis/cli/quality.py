"""Commands about answers and references: attach-labels, score, quality."""

from __future__ import annotations

from dataclasses import asdict

from analysis.cli.common import (
    known_run,
    print_json,
    print_lines,
    reading_workspace,
    shared_workspace,
    writing_workspace,
)
from analysis.present import tables


def cmd_attach_labels(args) -> int:
    """Ground-truth labels from a file joined on request id."""
    from analysis.quality.scoring.references import attach_labels

    with writing_workspace(args, f"attaching labels from {args.path}") as con:
        attached = attach_labels(con, args.path, args.id, args.label)
    if args.json:
        print_json(asdict(attached))
    else:
        print_lines(tables.attach_lines(attached))
    return 0


def cmd_score(args) -> int:
    """Score a run's answers against the best reference available."""
    from analysis.quality.scoring.judge import JudgeScorer, judge_agreement
    from analysis.quality.scoring.runner import score_run

    judge = JudgeScorer(args.judge, budget_usd=args.judge_budget_usd) if args.judge else None
    with reading_workspace(args) as con:
        known_run(con, args.run)
    summary = score_run(shared_workspace(args), args.run, args.scorer, args.reference_candidate, judge=judge)
    with reading_workspace(args) as con:
        agreement = judge_agreement(con, args.run)
    if args.json:
        print_json({**summary.to_dict(), "judge_agreement": asdict(agreement)})
    else:
        print_lines(tables.score_lines(args.run, summary, agreement))
    return 0


def cmd_quality(args) -> int:
    """Per candidate x task type: n, accuracy with its interval, difference vs incumbent, verdict.
    Every row names its run (JSON: run_id; text: the run above the table, or a run_id column when
    all runs are shown)."""
    from analysis.quality.verdicts import quality_table

    with reading_workspace(args) as con:
        known_run(con, args.run)
        table = quality_table(con, args.run, margin=args.margin / 100)
    records = table.to_dicts()
    if args.json:
        print_json(records)
    elif not records:
        print(f"no scores yet{' for run ' + args.run if args.run else ''}: replay a sample (`breakeven replay`) "
              "and score it (`breakeven score --run ID`)")
    elif args.run:
        print(tables.runs_used_line([args.run]))
        print(tables.text_table(tables.quality_rows(records), tables.QUALITY_COLUMNS))
    else:
        print(tables.text_table(tables.quality_rows(records), ["run_id", *tables.QUALITY_COLUMNS]))
    return 0


def add_arguments(parsers: dict) -> None:
    p = parsers["attach-labels"]
    p.add_argument("path", help="CSV / JSON / JSONL file with request ids and labels")
    p.add_argument("--id", default="request_id", metavar="COL", help="request id column")
    p.add_argument("--label", default="label", metavar="COL", help="label column")
    p = parsers["score"]
    p.add_argument("--run", required=True, metavar="RUN_ID")
    p.add_argument("--scorer", choices=["label", "fields", "numeric", "fuzzy", "judge"],
                   help="force one scorer (default: chosen per task type)")
    p.add_argument("--reference-candidate", metavar="SPEC",
                   help="the run's candidate whose answers are the reference where there is no other")
    p.add_argument("--judge", metavar="SPEC", help="LLM judge model (for --scorer judge)")
    p.add_argument("--judge-budget-usd", type=float, default=None)
    p = parsers["quality"]
    p.add_argument("--run", metavar="RUN_ID", help="one run (default: all)")
    p.add_argument("--margin", type=float, default=2.0, help="non-inferiority margin, percentage points")
