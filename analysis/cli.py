"""`breakeven`: the command line. Thin: parse arguments, call `analysis`, print JSON or a table.

Each subcommand is one function `cmd_<name>(args) -> int` (the exit code) registered in COMMANDS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import duckdb
from pydantic import ValidationError

from analysis.store.database import open_db, scalar
from analysis.present.formatting import compact, count, percent, usd
from analysis.settings import WorkspaceNameError, get_settings


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


def _table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


class Refused(Exception):
    """A request the CLI turns down with one line on stderr and exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _counts(counts: dict[str, int]) -> str:
    """{'label': 8, 'judge': 2} -> 'label 8, judge 2' ('none' when empty)."""
    return ", ".join(f"{name} {n:,}" for name, n in counts.items()) or "none"


def _workspace_exists(args) -> bool:
    return get_settings().workspace_path(args.workspace).exists()


def _open(args, must_exist: bool = True):
    """The connection to --workspace (default: the settings'). A command that reads a workspace
    refuses one that does not exist (a typo would otherwise create an empty one and report zeros)."""
    if must_exist and not _workspace_exists(args):
        settings = get_settings()
        existing = settings.workspaces()
        raise Refused(f"no workspace {args.workspace or settings.workspace!r} in {settings.data_dir}; "
                      + (f"existing: {', '.join(existing)}" if existing else "ingest logs first (breakeven ingest FILE)"))
    return open_db(args.workspace)


def _known_run(con, run_id: str | None) -> None:
    """Refuse a --run that the workspace does not hold (instead of showing an empty result)."""
    if run_id and not scalar(con, "SELECT count(*) FROM runs WHERE run_id = ?", [run_id]):
        raise Refused(f"no run {run_id!r} in this workspace (see breakeven runs)")


def cmd_ingest(args) -> int:
    from analysis.ingest import ingest_paths

    options: dict = {}
    if args.mapping or args.map:
        from analysis.ingest import IngestError
        from analysis.ingest.generic import mapping_options

        try:
            options = mapping_options(args.mapping, args.map)
        except IngestError as exc:
            raise Refused(str(exc), 2) from exc
    con = _open(args, must_exist=False)
    try:  # for people, each file's line as soon as it is done
        results = ingest_paths(con, args.paths, args.format, options,
                               progress=None if args.json else _print_ingest_result)
    finally:
        con.close()
    return _report_ingest(results, args.json, printed=not args.json)


def _print_ingest_result(r) -> None:
    """One file: format, rows loaded / rejected / skipped and the first reasons."""
    if r.error:
        print(f"FAILED  {r.path}: {r.error.removeprefix(Path(r.path).name + ': ')}")
    elif r.duplicate:
        print(f"SKIPPED {r.path}: already ingested (same content), nothing added")
    elif r.format == "openai_batch_input":
        print(f"USED    {r.path}: prompts joined into its Batch output file")
    else:
        print(f"OK      {r.path}: {r.format}, {r.counts_text()}")
        for reason in r.reasons:
            print(f"          rejected {reason}")
    sys.stdout.flush()


def _report_ingest(results, as_json: bool, printed: bool = False) -> int:
    """Every file's result (JSON, or lines unless `printed` already); exit 1 on a failure."""
    if as_json:
        _print_json([r.__dict__ for r in results])
    elif not printed:
        for r in results:
            _print_ingest_result(r)
    return 1 if any(r.error for r in results) else 0


def cmd_summary(args) -> int:
    from analysis.store.summary import summarise

    con = _open(args)
    try:
        summary = summarise(con)
    finally:
        con.close()
    if args.json:
        _print_json(summary.to_dict())
        return 0
    undated = summary.requests - sum(d["requests"] for d in summary.by_day)
    span = (f"from {summary.first_ts:%Y-%m-%d %H:%M:%S} to {summary.last_ts:%Y-%m-%d %H:%M:%S} "
            f"({compact(summary.requests_per_day)}/day)" if summary.first_ts else "(no timestamps)")
    print(
        f"{count(summary.requests, 'request')} {span}"
        + (f" ({count(undated, 'request')} without a timestamp)" if undated and summary.first_ts else "")
        + f"; tokens in {summary.input_tokens:,} "
        f"(cached {summary.cached_input_tokens:,}), out {summary.output_tokens:,}; "
        f"cost {usd(summary.cost_usd)} (~{usd(summary.monthly_spend_usd)}/month)"
        + (f"; plus {summary.labelled_rows:,} labelled dataset rows (test sets, not traffic)"
           if summary.labelled_rows else "")
    )
    by_model = [{**r, **{c: f"{r[c] or 0:,}" for c in ("requests", "input_tokens", "output_tokens")},
                 "cost_usd": usd(r["cost_usd"])} for r in summary.by_model]
    print(_table(by_model, ["model", "requests", "input_tokens", "output_tokens", "cost_usd"]))
    return 0


def cmd_demo(args) -> int:
    from analysis.ingest.demo import ensure_demo_workspace

    try:
        path = ensure_demo_workspace(force=args.force)
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    print(f"demo workspace ready: {path}")
    return 0


def _streamlit_flags() -> list[str]:
    """The packaged `.streamlit/config.toml` as `--section.key value` flags, so the dashboard has
    the same upload limit and theme wherever it is started from (Streamlit itself only reads the
    config of the current directory and the home folder)."""
    config = tomllib.loads(files("dashboard.streamlit_config").joinpath("config.toml").read_text(encoding="utf-8"))
    return [item for section, values in config.items() for key, value in values.items()
            for item in (f"--{section}.{key}", str(value).lower() if isinstance(value, bool) else str(value))]


def cmd_dashboard(args) -> int:
    """Build the demo workspace if needed, then run Streamlit on <host>:<port> (127.0.0.1:8501)."""
    from analysis.ingest.demo import ensure_demo_workspace

    ensure_demo_workspace()
    app = files("dashboard").joinpath("app.py")
    command = [sys.executable, "-m", "streamlit", "run", str(app), *_streamlit_flags(),
               "--server.address", args.host, "--server.port", str(args.port)]
    print(f"dashboard on http://{args.host}:{args.port}")
    return subprocess.call(command, env={**os.environ})


def cmd_replay(args) -> int:
    """Create a run (or resume one with --resume) and execute it with a progress bar on stderr."""
    from analysis.replay import runs as replay
    from analysis.replay.prompt_adapter import PromptAdapter
    from analysis.replay.sampling import SampleSpec

    con = _open(args)
    try:
        if args.resume:
            run_id = args.resume
        else:
            if not args.candidate:
                print("give at least one --candidate SPEC (or --resume RUN_ID)", file=sys.stderr)
                return 2
            try:
                adapter = PromptAdapter(system_prompt=args.system_prompt, few_shot=args.few_shot,
                                        labels=args.labels or [], auto_labels=args.auto_labels)
                sample = SampleSpec(size=args.sample, strategy=args.strategy, stratify_by=args.stratify_by,
                                    seed=args.seed, task_types=args.task_type or [])
                params = replay.RunParams(concurrency=args.concurrency, max_tokens=args.max_tokens,
                                          temperature=args.temperature, timeout_s=args.timeout)
                run_id = replay.create_run(con, args.candidate, sample, adapter, params, args.budget_usd)
            except ValidationError as exc:
                raise Refused(_validation_text(exc), 2) from exc
            except (replay.BudgetError, ValueError) as exc:
                raise Refused(str(exc)) from exc
        try:
            progress = replay.execute(con, run_id, on_progress=None if args.json else _progress_bar)
            failures = replay.failure_reasons(con, run_id)
        except ValueError as exc:  # e.g. --resume of an unknown run
            raise Refused(str(exc)) from exc
        except KeyboardInterrupt:
            workspace = f" --workspace {args.workspace}" if args.workspace else ""
            print(f"\ninterrupted: answers so far are kept; resume with breakeven replay{workspace} --resume {run_id}",
                  file=sys.stderr)
            return 130
    finally:
        con.close()
    if args.json:
        _print_json({**progress.to_dict(), "failure_reasons": [
            {"candidate": c, "error": e, "count": n} for c, e, n in failures]})
    else:
        print(f"\nrun {run_id}: {progress.status}, {progress.done} ok, {progress.failed} failed, "
              f"spent ${progress.spent_usd:.4f} of estimated ${progress.estimate_usd:.4f}")
        for candidate, error in progress.errors.items():
            print(f"  {candidate}: gave up: {error}")
        for candidate, error, n in failures:
            print(f"  failed {n} x {candidate}: {error}")
    return 0 if progress.status == "done" else 1


def _progress_bar(p) -> None:
    width = 30
    filled = int(width * (p.done + p.failed) / max(p.total, 1))
    eta = f"{p.eta_s:,.0f}s" if p.eta_s is not None else "?"
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {p.done + p.failed}/{p.total} "
                     f"failed {p.failed} spent ${p.spent_usd:.4f} ETA {eta}   ")
    sys.stderr.flush()


def cmd_runs(args) -> int:
    from analysis.replay import runs as replay
    con = _open(args)
    try:
        table = replay.list_runs(con)
    finally:
        con.close()
    records = [{**r, "candidates": json.loads(r["candidates"]), "created_at": r["created_at"].isoformat()}
               for r in table.to_dicts()]
    if args.json:
        _print_json(records)
    else:
        shown = [{**r, "created_at": r["created_at"][:19].replace("T", " "), "spent_usd": usd(r["spent_usd"]),
                  "candidates": ", ".join(f"{c['provider']}:{c['model']}" for c in r["candidates"])}
                 for r in records]
        print(_table(shown, ["run_id", "created_at", "status", "candidates", "sample_size", "ok", "failed",
                             "spent_usd"]))
    return 0


def cmd_probe(args) -> int:
    """Sweep concurrency against one endpoint; progress on stderr, levels and best capacity on stdout."""
    from analysis.replay.probe import run_probe
    from analysis.replay.providers.base import ProviderError

    def progress(p) -> None:
        sys.stderr.write(f"\rlevel {p.level}/{p.levels} (concurrency {p.concurrency}): {p.done}/{p.requests} done   ")
        sys.stderr.flush()

    try:
        levels = [int(x) for x in args.levels.split(",") if x.strip()]
    except ValueError:
        print(f"--levels must be integers separated by commas, got {args.levels!r}", file=sys.stderr)
        return 2
    con = _open(args)
    try:
        report = run_probe(con, args.spec, levels, args.requests_per_level, args.p95_ms, args.max_tokens,
                           on_progress=progress)
    except (ProviderError, ValueError) as exc:
        print(f"\nprobe failed: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    sys.stderr.write("\n")
    if args.json:
        _print_json(report.to_dict())
        return 0
    print(_table([{"concurrency": lv.concurrency, "requests": lv.requests, "errors": lv.errors,
                   "req/s": f"{lv.capacity_rps:.2f}", "out tok/s": f"{lv.output_tokens_per_s:.1f}",
                   "p50 ms": f"{lv.p50_ms:.0f}" if lv.p50_ms is not None else "-",
                   "p95 ms": f"{lv.p95_ms:.0f}" if lv.p95_ms is not None else "-",
                   "within target": "yes" if lv.within_target else "no"} for lv in report.levels],
                 ["concurrency", "requests", "errors", "req/s", "out tok/s", "p50 ms", "p95 ms", "within target"]))
    if report.stopped_early:
        print(report.stopped_early)
    best = report.best
    print(f"best: {best.capacity_rps:.2f} req/s at concurrency {best.concurrency} (p95 {best.p95_ms:.0f} ms "
          f"<= {report.p95_target_ms:g} ms), probe {report.probe_id}" if best else
          f"best: none: no level kept p95 under {report.p95_target_ms:g} ms without errors, probe {report.probe_id}")
    return 0


def cmd_ingest_labelled(args) -> int:
    """A labelled dataset as requests with ground truth and a task prompt listing the label set."""
    from analysis.ingest.labelled_datasets import ingest_labelled

    con = _open(args, must_exist=False)
    try:
        result = ingest_labelled(con, args.path, args.text, args.label, labels_from=args.labels_from,
                                 id_col=args.id, limit=args.limit, seed=args.seed, split=args.split,
                                 instruction=args.instruction)
    finally:
        con.close()
    return _report_ingest([result], args.json)


def cmd_attach_labels(args) -> int:
    """Ground-truth labels from a file joined on request id."""
    from dataclasses import asdict

    from analysis.quality.scoring.references import attach_labels

    con = _open(args)
    try:
        attached = attach_labels(con, args.path, args.id, args.label)
    except ValueError as exc:
        print(f"FAILED  {args.path}: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    if args.json:
        _print_json(asdict(attached))
        return 0
    print(f"{count(attached.updated, 'request')} got a ground-truth label")
    if attached.unmatched:
        print(f"  {count(attached.unmatched, 'id')} of the file {'matches' if attached.unmatched == 1 else 'match'} "
              "no request, e.g. "
              f"{', '.join(attached.unmatched_examples)}")
    return 0


def cmd_score(args) -> int:
    """Score a run's answers against the best reference available."""
    from dataclasses import asdict

    from analysis.quality.scoring.judge import JudgeScorer, judge_agreement
    from analysis.quality.scoring.runner import score_run

    judge = JudgeScorer(args.judge, budget_usd=args.judge_budget_usd) if args.judge else None
    con = _open(args)
    try:
        summary = score_run(con, args.run, args.scorer, args.reference_candidate, judge=judge)
        agreement = judge_agreement(con, args.run)
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    finally:
        con.close()
    if args.json:
        _print_json({**summary.to_dict(), "judge_agreement": asdict(agreement)})
        return 0
    print(f"run {args.run}: {count(summary.scored, 'answer')} scored ({summary.incumbent_scored:,} of them the "
          f"incumbent's); by scorer: {_counts(summary.by_scorer)}; by reference: {_counts(summary.by_reference)}")
    for reason, n in summary.skipped.items():
        print(f"  not scored: {n} x {reason}")
    if agreement.n:
        kappa = f"{agreement.kappa:.2f}" if agreement.kappa is not None else "undefined"
        print(f"  judge vs {', '.join(agreement.exact_scorers)} on {agreement.n} answers: "
              f"agreement {agreement.agreement:.1%}, Cohen's kappa {kappa}")
    return 0


def cmd_quality(args) -> int:
    """Per candidate x task type: n, accuracy with its interval, difference vs incumbent, verdict."""
    from analysis.quality.verdicts import quality_table

    con = _open(args)
    try:
        _known_run(con, args.run)
        table = quality_table(con, args.run, margin=args.margin / 100)
    finally:
        con.close()
    records = table.to_dicts()
    if args.json:
        _print_json(records)
    elif not records:
        print("no scores yet: replay a sample (`breakeven replay`) and score it (`breakeven score --run ID`)")
    else:
        columns = ["candidate", "task_type", "reference", "n", "accuracy", "interval", "verdict_text"]
        print(_table([{**r, "accuracy": f"{r['accuracy']:.3f}", "interval": f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"}
                      for r in records], columns if args.run else ["run_id", *columns]))
    return 0


def _scenario(con, path: str | None):
    """The scenario file's fields over the workspace's defaults (the whole file is optional; no
    workspace: the base scenario's). The file's candidate_model picks that model's probe."""
    from analysis.economics.scenario import Scenario
    from analysis.economics.workspace_defaults import scenario_defaults

    text = Path(path).read_text() if path else None
    base = Scenario()
    try:
        named = json.loads(text).get("candidate_model") if text else None
    except (json.JSONDecodeError, AttributeError):
        named = None  # Scenario.from_json below says what is wrong with the file
    if isinstance(named, str):
        base = base.model_copy(update={"candidate_model": named})
    defaults = scenario_defaults(con, base) if con is not None else base
    return Scenario.from_json(text, defaults) if text else defaults


def _assumption_note(con, args) -> str | None:
    """Said when the scenario's volume and prices cannot come from logs."""
    name = args.workspace or get_settings().workspace
    if con is None or not scalar(con, "SELECT count(*) FROM traffic"):
        return (f"no logged traffic in workspace {name!r}: requests/day and API prices are the base scenario's "
                "assumptions (set them in a --scenario file)")
    return None


def cmd_economics(args) -> int:
    """Both monthly costs, break-even, GPUs, savings, payback and the cost curve for a scenario."""
    from dataclasses import asdict

    from analysis.economics import cost_model as economics
    from analysis.economics.scenario import ScenarioError

    con = open_db(args.workspace) if _workspace_exists(args) else None
    try:
        scenario = _scenario(con, args.scenario)
        notes = [note] if (note := _assumption_note(con, args)) else []
    except (OSError, ScenarioError) as exc:
        raise Refused(str(exc)) from exc
    finally:
        if con is not None:
            con.close()
    inputs = scenario.to_cost_inputs()
    result = economics.evaluate(inputs)
    be = result.breakeven
    if args.json:
        _print_json({"scenario": scenario.model_dump(mode="json"), **asdict(result),
                     "self_host_monthly_usd": result.self_host.total_usd, "gpus": result.self_host.gpus,
                     "breakeven_requests_per_day": be.requests_per_day, "notes": notes,
                     "curve": [asdict(p) for p in economics.cost_curve(inputs)]})
        return 0
    print(economics.headline(inputs, scenario.requests_per_day))
    gpus = result.self_host.gpus
    print(f"API {usd(result.api_monthly_usd)}/month ({usd(inputs.api_cost_per_request)} per request"
          f"{', Batch rates' if scenario.batch_discount else ''}); self-hosting {usd(result.self_host.total_usd)}/month "
          f"on {gpus or '-'} {scenario.gpu} GPU{'s' if gpus != 1 else ''} ({scenario.mode}, "
          f"{scenario.capacity_rps_per_gpu:g} requests/s each from the {scenario.capacity_source}); "
          f"savings {usd(result.savings_monthly_usd)}/month; break-even: {be.reason}")
    for line in notes:
        print(f"  note: {line}")
    return 0


def cmd_route(args) -> int:
    """The recommended local/API split per segment, shares, blended figures and the frontier."""
    from analysis.economics import routing
    from analysis.economics import routing_segments as routing_data
    from analysis.economics.scenario import ScenarioError

    policy = routing.RoutingPolicy(mode=args.mode, in_house=frozenset(args.in_house or []))
    con = _open(args)
    try:
        _known_run(con, args.run)
        scenario = _scenario(con, args.scenario)
        traffic = routing_data.segment_traffic(con, args.segment_by, args.context_window,
                                               tuple(args.residency_tag or []))
        quality = routing_data.segment_quality(con, args.run, args.candidate, args.segment_by)
    except (OSError, ScenarioError, ValueError) as exc:
        raise Refused(str(exc)) from exc
    finally:
        con.close()
    rec = routing.recommend(traffic, quality, scenario, policy)
    if args.json:
        _print_json(rec.to_dict())
        return 0
    print(_table([{"segment": d.key, "side": d.side, "reason": d.reason} for d in rec.segments],
                 ["segment", "side", "reason"]))
    print(f"monthly: {usd(rec.plan.monthly_usd)} instead of {usd(rec.current_monthly_usd)} "
          f"(savings {usd(rec.savings_monthly_usd)}); local share of requests {percent(rec.plan.local_share)}")
    for note in rec.notes:
        print(f"  note: {note}")
    return 0


def cmd_local_model(args) -> int:
    """Start, stop or show the embedded llama.cpp engine (the [local] extra)."""
    from analysis.replay.providers import local_engine

    try:
        if args.action == "start":
            state = local_engine.start(parallel=args.parallel, port=args.port)
        elif args.action == "stop":
            state = local_engine.stop()
        else:
            state = local_engine.status()
    except local_engine.LocalEngineError as exc:
        print(f"FAILED  {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(state.to_dict())
    else:
        where = f" on {state.base_url}" if state.state in ("running", "starting") else ""
        print(f"local engine: {state.state}{where}" + (f" ({state.message})" if state.message else ""))
    return 0


COMMANDS: dict[str, tuple[Callable, str]] = {
    "ingest": (cmd_ingest, "ingest request-log exports into a workspace"),
    "summary": (cmd_summary, "totals and breakdowns of a workspace"),
    "replay": (cmd_replay, "replay a sample of logged requests against candidate models"),
    "runs": (cmd_runs, "list replay runs"),
    "probe": (cmd_probe, "measure an endpoint's capacity: requests/s and latency at rising concurrency"),
    "ingest-labelled": (cmd_ingest_labelled, "load a labelled dataset as requests with ground truth"),
    "attach-labels": (cmd_attach_labels, "attach ground-truth labels to logged requests by request id"),
    "score": (cmd_score, "score a run's answers against the best reference available"),
    "quality": (cmd_quality, "per candidate x task type accuracy, intervals and verdicts"),
    "economics": (cmd_economics, "API vs self-hosting costs and the break-even for a scenario"),
    "route": (cmd_route, "the recommended local/API split per segment"),
    "local-model": (cmd_local_model, "start, stop or show the embedded llama.cpp engine"),
    "demo": (cmd_demo, "build the synthetic demo workspace"),
    "dashboard": (cmd_dashboard, "run the dashboard (builds the demo workspace on first start)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakeven", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {name: sub.add_parser(name, help=help_) for name, (_, help_) in COMMANDS.items()}
    for name in ("ingest", "summary", "replay", "runs", "ingest-labelled", "attach-labels", "score",
                 "quality", "economics", "route", "local-model"):
        parsers[name].add_argument("--workspace", default=None, help="workspace name (default: settings)")
        parsers[name].add_argument("--json", action="store_true", help="print JSON")
    p = parsers["ingest"]
    p.add_argument("paths", nargs="+", help="log files (gzip/zstd accepted)")
    p.add_argument("--format", default=None, help="skip detection and use this format")
    p.add_argument("--mapping", default=None, help="generic format: TOML/JSON column mapping file")
    p.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE",
                   help="generic format: map one column (repeatable)")
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
    p.add_argument("--auto-labels", action="store_true", help="constrain to the declared (labelled import) or ground-truth label set")
    p.add_argument("--resume", metavar="RUN_ID", help="send what a run has no result for yet")
    p = parsers["probe"]
    p.add_argument("spec", metavar="SPEC", help="the endpoint as a candidate spec, e.g. openai-compat:http://127.0.0.1:8000/v1:MODEL")
    p.add_argument("--levels", default="1,2,4,8,16", help="concurrency levels, comma-separated")
    p.add_argument("--requests-per-level", type=int, default=32, help="requests sent at each level")
    p.add_argument("--p95-ms", type=float, default=10_000.0, help="p95 latency target in milliseconds")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--workspace", default=None, help="workspace name (default: settings)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = parsers["ingest-labelled"]
    p.add_argument("path", help="CSV / JSON / JSONL / Parquet file with a text and a label column")
    p.add_argument("--text", action="append", required=True, metavar="COL",
                   help="text column (repeatable: several are joined as 'column: value' blocks)")
    p.add_argument("--label", required=True, metavar="COL", help="label column (the ground truth)")
    p.add_argument("--labels-from", metavar="FILE", help="the label set: JSON list/object or one per line")
    p.add_argument("--id", metavar="COL", help="row id column (default: row number)")
    p.add_argument("--limit", type=int, help="keep a sample of this size, stratified by label")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=["train", "test"], help="keep the fixed 80%% train or 20%% test part")
    p.add_argument("--instruction", help="replace the prompt's first line")
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
    for name in ("economics", "route"):
        parsers[name].add_argument("--scenario", metavar="FILE",
                                   help="scenario JSON; fields left out take the workspace defaults")
    p = parsers["route"]
    p.add_argument("--mode", choices=["pre-routing", "cascade"], default="pre-routing")
    p.add_argument("--segment-by", default="task_complexity",
                   help="task_complexity (task type x complexity bucket, default) or a column such as model")
    p.add_argument("--run", metavar="RUN_ID", help="quality from this run (default: latest scored)")
    p.add_argument("--candidate", metavar="SPEC", help="the local candidate (default: most scored)")
    p.add_argument("--context-window", type=int, default=8192, help="local model's context, tokens")
    p.add_argument("--in-house", action="append", metavar="SEGMENT", help="segment that must stay in-house")
    p.add_argument("--residency-tag", action="append", metavar="TAG", help="requests with this tag stay in-house")
    p = parsers["local-model"]
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--parallel", type=int, default=None, help="parallel slots (start)")
    p.add_argument("--port", type=int, default=None, help="port (start)")
    parsers["demo"].add_argument("--force", action="store_true", help="rebuild from scratch")
    parsers["dashboard"].add_argument("--host", default="127.0.0.1")
    parsers["dashboard"].add_argument("--port", type=int, default=8501)
    return parser


def _validation_text(exc: ValidationError) -> str:
    """pydantic's errors in one line: "sample size: Input should be greater than or equal to 1"."""
    return "; ".join(f"{' '.join(map(str, e['loc'])) or exc.title}: {e['msg']}" for e in exc.errors())


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; what a user got wrong (a value out of range, a bad setting, a busy or
    unknown workspace) ends in one line on stderr, not a traceback."""
    args = build_parser().parse_args(argv)
    handler, _ = COMMANDS[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except Refused as exc:
        message, code = str(exc), exc.code
    except ValidationError as exc:  # settings from the environment, or a value pydantic refuses
        message, code = f"{exc.title}: {_validation_text(exc)}", 2
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        holder = re.search(r"PID (\d+)", str(exc))
        message, code = (f"the workspace is busy: another process{' (PID ' + holder.group(1) + ')' if holder else ''} "
                         "has it open for writing (a replay or ingest?); try again when it is done"), 1
    except BrokenPipeError:  # `breakeven ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (WorkspaceNameError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
            PermissionError) as exc:  # a bad name, a data directory that is a file, ...; other errors are bugs
        message, code = str(exc), 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"refused: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
