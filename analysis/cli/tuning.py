"""Commands about tuning a local candidate: export-training (the training set from the logs).

The commands of this module are listed in its own COMMANDS (and WITH_WORKSPACE), which
`analysis.cli` merges into the registry: add a tuning command here, not there.
"""

from __future__ import annotations

from collections.abc import Callable

from analysis.cli.common import print_json, print_lines, writing_workspace
from analysis.present.training_export import export_lines


def cmd_export_training(args) -> int:
    """Write the training set of the chosen segments and target (train files in each format, the
    held-out test.jsonl, manifest.json) into --out, and record the export in the workspace."""
    from analysis.replay.tuning.training_set import TrainingSetSpec, export_training_set

    formats = [name.strip() for name in args.format.split(",") if name.strip()]
    spec = TrainingSetSpec(task_types=args.task or [], models=args.model or [], tags=args.tag or [],
                           target=args.target, test_fraction=args.test_fraction, scrub_pii=args.scrub_pii,
                           formats=formats)
    with writing_workspace(args, "export-training: writing a training set") as con:
        export = export_training_set(con, spec, args.out)
    if args.json:
        print_json(export.manifest)
    else:
        print_lines(export_lines(export))
    return 0


def cmd_gpu_recipe(args) -> int:
    """Write a ready-to-run GPU fine-tuning recipe for --export into --out, with its cost estimate."""
    from pathlib import Path

    from analysis.present.tuning_evidence import recipe_lines
    from analysis.replay.tuning.gpu_recipe import build_recipe

    recipe = build_recipe(Path(args.export), args.base, args.gpu, Path(args.out), args.epochs, args.method)
    if args.json:
        print_json({"directory": str(recipe.directory), "files": list(recipe.files),
                    "base_model": recipe.hugging_face_id, "adapter_name": recipe.adapter_name,
                    "stats": recipe.stats.__dict__, "estimate": recipe.estimate.to_dict()})
    else:
        print_lines(recipe_lines(recipe))
    return 0


def cmd_compare_tuned(args) -> int:
    """Base vs tuned candidate of --run on the held-out split: accuracies, lift, McNemar, verdict."""
    from analysis.cli.common import reading_workspace
    from analysis.present import tables
    from analysis.present.tuning_evidence import comparison_lines, comparison_rows
    from analysis.quality.tuning_comparison import compare_tuned

    with reading_workspace(args) as con:
        result = compare_tuned(con, args.run, args.base, args.tuned, args.confidence / 100)
    if args.json:
        print_json(result.to_dict())
    else:
        rows = comparison_rows(result)
        print(tables.text_table(rows, list(rows[0])))
        print_lines(comparison_lines(result))
    return 0


def cmd_finetune(args) -> int:
    """Fine-tune a local model on --export on this CPU (llama-finetune), in the foreground with a
    progress line; Ctrl-C cancels cleanly (the job is stored as cancelled, nothing kept)."""
    import signal
    import sys
    import threading

    from analysis.cli.common import shared_workspace
    from analysis.present.fine_tuning import job_line
    from analysis.replay.tuning import fine_tune_jobs as jobs

    options = jobs.JobSettings(epochs=args.epochs, max_tokens=args.max_tokens, max_minutes=args.max_minutes,
                               learning_rate=args.learning_rate)
    with writing_workspace(args, "finetune: creating a job") as con:
        job_id = jobs.create_job(con, args.export, args.base, options)
    stop = threading.Event()

    def shown(job) -> None:
        if not args.json:
            print(f"\r{job_line(job)}"[:160].ljust(120), end="", file=sys.stderr, flush=True)

    # Ctrl-C asks the job to stop (llama-finetune is ended, the job stored as cancelled) instead of
    # raising KeyboardInterrupt somewhere inside it.
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        job = jobs.run_job(shared_workspace(args).path, job_id, stop, shown)
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print_json(job.to_dict())
    else:
        print(file=sys.stderr)
        print(job_line(job))
    return 0 if job.status == "done" else 1


def cmd_finetune_jobs(args) -> int:
    """List the workspace's fine-tuning jobs, or cancel one (--cancel ID)."""
    from analysis.cli.common import reading_workspace
    from analysis.present import tables
    from analysis.present.fine_tuning import job_line, job_rows
    from analysis.replay.tuning import fine_tune_jobs as jobs

    if args.cancel:
        with writing_workspace(args, "finetune-jobs: cancelling a job") as con:
            job = jobs.cancel_job(con, args.cancel)
        print_json(job.to_dict()) if args.json else print(job_line(job))
        return 0
    with reading_workspace(args) as con:
        listed = jobs.list_jobs(con)
    if args.json:
        print_json([job.to_dict() for job in listed])
    elif listed:
        rows = job_rows(listed)
        print(tables.text_table(rows, list(rows[0])))
    else:
        print("no fine-tuning jobs yet (breakeven finetune --export ID)")
    return 0


COMMANDS: dict[str, tuple[Callable, str]] = {
    "export-training": (cmd_export_training, "write a fine-tuning training set from the logs, with a held-out test split"),
    "gpu-recipe": (cmd_gpu_recipe, "write a GPU fine-tuning recipe (TRL + LoRA, vLLM / Ollama serving) with its cost"),
    "compare-tuned": (cmd_compare_tuned, "compare a base and a tuned candidate on the held-out split"),
    "finetune": (cmd_finetune, "fine-tune a local model on a training export, on this CPU (llama-finetune)"),
    "finetune-jobs": (cmd_finetune_jobs, "list the fine-tuning jobs, or cancel one"),
}
WITH_WORKSPACE = ("export-training", "compare-tuned", "finetune", "finetune-jobs")


def add_arguments(parsers: dict) -> None:
    p = parsers["export-training"]
    p.add_argument("--task", action="append", metavar="TYPE", help="only this task type (repeatable)")
    p.add_argument("--model", action="append", metavar="MODEL", help="only this logged model (repeatable)")
    p.add_argument("--tag", action="append", metavar="TAG", help="only requests with this tag (repeatable: any of them)")
    p.add_argument("--target", default="incumbent",
                   help="the answers to learn: incumbent (the logged API answers, distillation) or labels "
                        "(attached ground truth)")
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of requests held out for testing, never exported for training (default 0.2); "
                        "fixed by the workspace's first export")
    p.add_argument("--scrub-pii", action="store_true",
                   help="replace emails, phone numbers, card numbers and IBANs by placeholders")
    p.add_argument("--format", default="openai,sharegpt,alpaca",
                   help="train file formats, comma-separated: openai, sharegpt, alpaca (default: all)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write (must be empty or new)")
    p = parsers["gpu-recipe"]
    p.add_argument("--export", required=True, metavar="DIR", help="a training export (breakeven export-training --out)")
    p.add_argument("--base", required=True, metavar="MODEL", help="base model of the model catalogue")
    p.add_argument("--gpu", required=True, help="GPU of the catalogue to train on (prices the estimate)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--method", choices=["lora", "full"], default="lora", help="what the estimate prices (default lora)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write (must be empty or new)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = parsers["compare-tuned"]
    p.add_argument("--run", required=True, metavar="RUN_ID")
    p.add_argument("--base", required=True, metavar="SPEC", help="the base candidate's spec in the run")
    p.add_argument("--tuned", required=True, metavar="SPEC", help="the tuned candidate's spec in the run")
    p.add_argument("--confidence", type=float, default=95.0, help="interval level, percent (default 95)")
    p = parsers["finetune"]
    p.add_argument("--export", required=True, metavar="ID_OR_DIR", help="a training export: its id or its directory")
    p.add_argument("--base", default="smollm2-135m-instruct", help="the local model to tune (default smollm2-135m-instruct)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=4000, help="training text kept, per epoch (default 4000)")
    p.add_argument("--max-minutes", type=float, default=30.0, help="time budget; the job stops there (default 30)")
    p.add_argument("--learning-rate", type=float, default=1e-5, help="AdamW's learning rate (default 1e-5, llama.cpp's)")
    p = parsers["finetune-jobs"]
    p.add_argument("--cancel", metavar="ID", help="cancel this job (a running one stops within a second)")
