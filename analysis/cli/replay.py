"""Commands that send requests to models: replay, runs, probe, local-model."""

from __future__ import annotations

import json
import sys

from pydantic import ValidationError

from analysis.cli.common import (
    Refused,
    known_run,
    print_json,
    print_lines,
    reading_workspace,
    shared_workspace,
    validation_text,
    writing_workspace,
)
from analysis.present import tables


def cmd_replay(args) -> int:
    """Create a run (or resume one with --resume) and execute it with a progress bar on stderr;
    then its outcome and each candidate's calls, latency, tokens and cost."""
    from analysis.replay import history
    from analysis.replay import runs as replay
    from analysis.replay.prompt_adapter import PromptAdapter
    from analysis.replay.sampling import SampleSpec

    if not args.resume and not args.candidate:
        raise Refused("give at least one --candidate SPEC (or --resume RUN_ID)", 2)
    workspace = shared_workspace(args)
    if args.resume:
        with workspace.reading() as con:
            known_run(con, args.resume)
        run_id = args.resume
    else:
        try:
            adapter = PromptAdapter(system_prompt=args.system_prompt, few_shot=args.few_shot,
                                    labels=args.labels or [], auto_labels=args.auto_labels)
            sample = SampleSpec(size=args.sample, strategy=args.strategy, stratify_by=args.stratify_by,
                                seed=args.seed, task_types=args.task_type or [], held_out=args.held_out)
            params = replay.RunParams(concurrency=args.concurrency, max_tokens=args.max_tokens,
                                      temperature=args.temperature, timeout_s=args.timeout)
        except ValidationError as exc:
            raise Refused(validation_text(exc), 2) from exc
        with writing_workspace(args, "replay: creating a run") as con:
            if args.held_out:
                _assign_held_out(con)
            run_id = replay.create_run(con, args.candidate, sample, adapter, params, args.budget_usd)
    try:  # the run opens the workspace per batch of results: others read and write between
        progress = replay.execute(workspace, run_id, on_progress=None if args.json else _progress_bar)
    except KeyboardInterrupt:
        option = f" --workspace {args.workspace}" if args.workspace else ""
        print(f"\ninterrupted: answers so far are kept; resume with breakeven replay{option} --resume {run_id}",
              file=sys.stderr)
        return 130
    with workspace.reading() as con:
        failures = replay.failure_reasons(con, run_id)
        figures = history.candidate_figures(con, run_id).to_dicts()
    if args.json:
        print_json({**progress.to_dict(), "failure_reasons": [
            {"candidate": c, "error": e, "count": n} for c, e, n in failures], "by_candidate": figures})
    else:
        print("\n" + tables.run_status_line(progress))
        print_lines(f"  {line}" for line in tables.run_problem_lines(progress, failures))
        print(tables.text_table(tables.candidate_rows(figures), tables.FIGURE_COLUMNS))
    return 0 if progress.status == "done" else 1


def _assign_held_out(con) -> None:
    """The held-out split, with requests ingested since the last export assigned; refused before
    any export has fixed it (a default split might hold requests that were trained on)."""
    from analysis.replay.tuning import held_out

    if held_out.fixed_fraction(con) is None:
        raise Refused("no held-out split yet: export a training set first (breakeven export-training), "
                      "which fixes it")
    held_out.assign_held_out(con)


def _progress_bar(p) -> None:
    width = 30
    filled = int(width * (p.done + p.failed) / max(p.total, 1))
    eta = f"{p.eta_s:,.0f}s" if p.eta_s is not None else "?"
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done + p.failed}/{p.total} "
                     f"failed {p.failed} spent ${p.spent_usd:.4f} ETA {eta}   ")
    sys.stderr.flush()


def cmd_runs(args) -> int:
    """Every run (newest first) and, per run, each candidate's calls, latency, tokens and cost."""
    from analysis.replay import history
    from analysis.replay import runs as replay

    with reading_workspace(args) as con:
        table = replay.list_runs(con)
        figures = history.candidate_figures(con).to_dicts()
    records = [{**r, "candidates": json.loads(r["candidates"]), "created_at": r["created_at"].isoformat(),
                "by_candidate": [f for f in figures if f["run_id"] == r["run_id"]]}
               for r in table.to_dicts()]
    if args.json:
        print_json(records)
        return 0
    print(tables.text_table(tables.run_rows(records), tables.RUN_COLUMNS))
    if figures:
        print()
        print(tables.text_table(tables.candidate_rows(figures), ["run_id", *tables.FIGURE_COLUMNS]))
    return 0


def cmd_probe(args) -> int:
    """Sweep concurrency against one endpoint; progress on stderr, levels and best capacity on stdout."""
    from analysis.replay.probe import run_probe
    from analysis.replay.providers.base import ProviderError

    shown = []

    def progress(p) -> None:
        shown.append(True)
        sys.stderr.write(f"\rlevel {p.level}/{p.levels} (concurrency {p.concurrency}): {p.done}/{p.requests} done   ")
        sys.stderr.flush()

    try:
        levels = [int(x) for x in args.levels.split(",") if x.strip()]
    except ValueError:  # int() of the user's text
        raise Refused(f"--levels must be integers separated by commas, got {args.levels!r}", 2) from None
    try:
        report = run_probe(shared_workspace(args), args.spec, levels, args.requests_per_level, args.p95_ms, args.max_tokens,
                           on_progress=progress, gpu=args.gpu)
    except ProviderError as exc:  # the endpoint: unreachable, refused the key, unknown model
        raise Refused(f"probe failed: {exc}") from exc
    finally:
        if shown:  # end the progress line
            sys.stderr.write("\n")
    if args.json:
        print_json(report.to_dict())
        return 0
    print(tables.text_table(tables.probe_rows(report.levels), tables.PROBE_COLUMNS))
    if report.stopped_early:
        print(report.stopped_early)
    print(tables.probe_best_line(report))
    return 0


def cmd_local_model(args) -> int:
    """Start, stop or show the embedded llama.cpp engine (the [local] extra)."""
    from analysis.replay.providers import local_engine

    try:
        if args.action == "start":
            state = local_engine.start(parallel=args.parallel, port=args.port, model=args.model)
        elif args.action == "stop":
            state = local_engine.stop(model=args.model)
        else:
            state = local_engine.status(model=args.model)
    except local_engine.LocalEngineError as exc:  # not installed, port taken, did not become healthy
        raise Refused(str(exc)) from exc
    if args.json:
        print_json(state.to_dict())
    else:
        print(tables.engine_line(state))
    return 0


def add_arguments(parsers: dict) -> None:
    p = parsers["replay"]
    p.add_argument("--candidate", action="append", default=[], metavar="SPEC",
                   help="provider:base-url-or-host:model, e.g. local:gemma-3-270m or openai:gpt-4o-mini (repeatable)")
    p.add_argument("--sample", type=int, default=50, help="number of logged requests to replay")
    p.add_argument("--strategy", choices=["random", "stratified"], default="random")
    p.add_argument("--stratify-by", choices=["task_type", "model", "day"], default="task_type")
    p.add_argument("--task-type", action="append", help="only these task types (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-usd", type=float, default=None, help="refuse or stop above this spend")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per call")
    p.add_argument("--system-prompt", default=None, help="replace the logged system prompt")
    p.add_argument("--few-shot", type=int, default=0, help="examples from the logs (never from the sample)")
    p.add_argument("--labels", nargs="*", help="constrain answers to this label set")
    p.add_argument("--auto-labels", action="store_true",
                   help="constrain to the declared (labelled import) or ground-truth label set")
    p.add_argument("--resume", metavar="RUN_ID", help="send what a run has no result for yet")
    p.add_argument("--held-out", action="store_true",
                   help="sample only the held-out test split of fine-tuning (compare base and tuned candidates)")
    p = parsers["probe"]
    p.add_argument("spec", metavar="SPEC",
                   help="the endpoint as a candidate spec, e.g. openai-compat:http://127.0.0.1:8000/v1:MODEL")
    p.add_argument("--levels", default="1,2,4,8,16", help="concurrency levels, comma-separated")
    p.add_argument("--requests-per-level", type=int, default=32, help="requests sent at each level")
    p.add_argument("--p95-ms", type=float, default=10_000.0, help="p95 latency target in milliseconds")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--gpu", metavar="NAME", help="the catalogue GPU serving the endpoint: only then does the "
                   "measurement become that GPU's capacity in the economics")
    p = parsers["local-model"]
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--parallel", type=int, default=None, help="parallel slots (start)")
    p.add_argument("--port", type=int, default=None, help="port (start)")
    p.add_argument("--model", default="gemma-3-270m",
                   help="the local model its engine serves: gemma-3-270m (default), smollm2-135m-instruct "
                        "or a tuned model's alias (each runs in its own process, on its own port)")
