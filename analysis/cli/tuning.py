"""Commands about tuning a local candidate: export-training (the training set from the logs).

The commands of this module are listed in its own COMMANDS (and WITH_WORKSPACE), which
`analysis.cli` merges into the registry: add a tuning command here, not there.
"""

from __future__ import annotations

from collections.abc import Callable

from analysis.cli.common import Refused, open_workspace, print_json, print_lines
from analysis.present.training_export import export_lines


def cmd_export_training(args) -> int:
    """Write the training set of the chosen segments and target (train files in each format, the
    held-out test.jsonl, manifest.json) into --out, and record the export in the workspace."""
    from analysis.replay.tuning.training_set import FORMATS, TrainingSetSpec, export_training_set

    formats = [name.strip() for name in args.format.split(",") if name.strip()]
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise Refused(f"unknown format {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}", 2)
    spec = TrainingSetSpec(task_types=args.task or [], models=args.model or [], tags=args.tag or [],
                           target=args.target, test_fraction=args.test_fraction, scrub_pii=args.scrub_pii,
                           formats=formats)
    con = open_workspace(args)
    try:
        export = export_training_set(con, spec, args.out)
    finally:
        con.close()
    if args.json:
        print_json(export.manifest)
    else:
        print_lines(export_lines(export))
    return 0


COMMANDS: dict[str, tuple[Callable, str]] = {
    "export-training": (cmd_export_training, "write a fine-tuning training set from the logs, with a held-out test split"),
}
WITH_WORKSPACE = ("export-training",)


def add_arguments(parsers: dict) -> None:
    p = parsers["export-training"]
    p.add_argument("--task", action="append", metavar="TYPE", help="only this task type (repeatable)")
    p.add_argument("--model", action="append", metavar="MODEL", help="only this logged model (repeatable)")
    p.add_argument("--tag", action="append", metavar="TAG", help="only requests with this tag (repeatable: any of them)")
    p.add_argument("--target", default="incumbent",
                   help="the answers to learn: incumbent (the logged API answers, distillation) or labels "
                        "(attached ground truth)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of requests held out for testing, never exported for training (default 0.2)")
    p.add_argument("--scrub-pii", action="store_true",
                   help="replace emails, phone numbers, card numbers and IBANs by placeholders")
    p.add_argument("--format", default="openai,sharegpt,alpaca",
                   help="train file formats, comma-separated: openai, sharegpt, alpaca (default: all)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write (must be empty or new)")
