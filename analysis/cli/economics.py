"""Commands about money: economics, route, report, scenarios (list, show, save)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

from analysis.cli.common import (
    Refused,
    known_run,
    print_json,
    print_lines,
    reading_workspace,
    workspace_exists,
    workspace_name,
    writing_workspace,
)
from analysis.present import capacity, tables
from analysis.store.database import scalar

REPORT_FILE = "llm-breakeven-report.html"  # the name the Scenarios & report page downloads it as


def _scenario(con, path: str | None):
    """The scenario file's fields over the workspace's defaults (the whole file is optional; no
    workspace: the base scenario's). The file's candidate_model picks that model's probe. A file
    that is empty, too large, not UTF-8 text or not one bounded JSON object is refused in one line."""
    from analysis.economics.scenario import MAX_JSON_CHARS, Scenario, ScenarioError, parse_json_object
    from analysis.economics.workspace_defaults import scenario_defaults

    data = None
    if path:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_JSON_CHARS * 4 + 1)  # a character is at most 4 bytes
        if len(raw) > MAX_JSON_CHARS * 4:
            raise Refused(f"{path}: too large for a scenario file (at most {MAX_JSON_CHARS:,} characters)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(f"{path}: not a text file (a scenario file is JSON in UTF-8)") from None
        if not text.strip():
            raise Refused(f"{path}: the file is empty; a scenario file is a JSON object, {{}} for the "
                          "workspace's defaults")
        try:
            data = parse_json_object(text, f"{path}")
        except ScenarioError as error:
            raise Refused(str(error)) from None
    base = Scenario()
    named = data.get("candidate_model") if data else None
    if isinstance(named, str):
        base = base.model_copy(update={"candidate_model": named})
    defaults = scenario_defaults(con, base) if con is not None else base
    return Scenario.from_dict(data, defaults) if data is not None else defaults


def _assumption_note(con, args) -> str | None:
    """Said when the scenario's volume and prices cannot come from logs."""
    if con is None or not scalar(con, "SELECT count(*) FROM traffic"):
        return (f"no logged traffic in workspace {workspace_name(args)!r}: requests/day and API prices are the "
                "base scenario's assumptions (set them in a --scenario file)")
    return None


def _figures(scenario) -> dict:
    """The headline figures of a scenario, for JSON next to it."""
    from analysis.economics import comparison

    result = comparison.evaluate(scenario.to_cost_inputs())
    return {"api_monthly_usd": result.api_monthly_usd, "self_host_monthly_usd": result.self_host.total_usd,
            "savings_monthly_usd": result.savings_monthly_usd, "gpus": result.self_host.gpus,
            "breakeven_requests_per_day": result.breakeven.requests_per_day}


def cmd_economics(args) -> int:
    """Both monthly costs, break-even, GPUs, savings, payback and the cost curve for a scenario."""
    from analysis.economics import comparison, projections
    from analysis.economics.decision import workspace_decision

    with reading_workspace(args) if workspace_exists(args) else nullcontext() as con:
        scenario = _scenario(con, args.scenario)
        notes = [note] if (note := _assumption_note(con, args)) else []
        decided = workspace_decision(con, scenario) if con is not None and not notes else None
    inputs = scenario.to_cost_inputs()
    result = comparison.evaluate(inputs)
    sizing = scenario.sizing() if scenario.capacity_source == "sizing" else None
    if args.json:
        print_json({"scenario": scenario.model_dump(mode="json"), **asdict(result),
                    "headline": comparison.headline(inputs, scenario.requests_per_day),
                    "decision": None if decided is None else decided.summary(),
                    "self_host_monthly_usd": result.self_host.total_usd, "gpus": result.self_host.gpus,
                    "gpus_per_replica": inputs.gpus_per_replica,
                    "breakeven_requests_per_day": result.breakeven.requests_per_day,
                    "regions": [asdict(r) for r in result.breakeven.regions],
                    "capacity": {"source": scenario.capacity_source, "rps_per_gpu": scenario.capacity_rps_per_gpu,
                                 "sizing": None if sizing is None else _sizing_record(sizing)},
                    "notes": notes, "curve": [asdict(p) for p in projections.cost_curve(inputs)]})
        return 0
    if decided is not None:
        print(f"Decision: {decided.headline}")
    print(("Cost only, before quality: " if decided is not None else "") + comparison.headline(inputs, scenario.requests_per_day))
    print(tables.economics_line(scenario, inputs, result))
    if sizing is not None:
        print(f"  capacity: {capacity.sizing_sentence(sizing)}")
    print_lines(f"  note: {line}" for line in notes)
    return 0


def _sizing_record(sizing) -> dict:
    """A Sizing as JSON: every figure, what bounds it, and each constant with its source."""
    record = asdict(sizing)
    record["constants"] = [{"name": name, "value": value, "source": source} for name, value, source in sizing.constants]
    return record


def cmd_size(args) -> int:
    """Fit, GPUs per replica, concurrency, requests/s per replica and per GPU, what bounds them and
    single-stream speed for a model on a GPU, from the sizing model; the request shape from
    --input-tokens/--output-tokens, else the workspace's logs, else the base scenario's."""
    from analysis.economics.scenario import Scenario
    from analysis.economics.workspace_defaults import scenario_defaults

    given = {name: value for name, value in (
        ("candidate_model", args.model), ("gpu", args.gpu), ("quantisation", args.quant),
        ("tensor_parallel", args.tp), ("input_length", args.input_tokens), ("output_length", args.output_tokens),
        ("ttft_p95_ms", args.ttft_p95_ms), ("latency_p95_ms", args.latency_p95_ms)) if value is not None}
    shaped = {"input_length", "output_length"} & given.keys()
    base = Scenario()
    if args.workspace is not None or workspace_exists(args):
        with reading_workspace(args) as con:
            base = scenario_defaults(con, base)
    if shaped:  # a shape given here replaces the logs' p95 too
        given |= {"input_length_p95": None, "output_length_p95": None}
    scenario = Scenario.from_dict({**given, "capacity_source": "sizing", "capacity_rps_per_gpu": None}, base)
    sizing = scenario.sizing()
    if args.json:
        print_json(_sizing_record(sizing))
        return 0
    print(capacity.sizing_sentence(sizing))
    print(tables.text_table(capacity.sizing_rows(sizing), ["what", "value", "how"]))
    print()
    print(tables.text_table(capacity.constant_rows(sizing), ["constant", "value", "source"]))
    return 0


def _decision(con, args, scenario):
    """The decision for the workspace and scenario, with the routing options of `route`/`decide`."""
    from analysis.economics import routing
    from analysis.economics.decision import workspace_decision

    known_run(con, args.run)
    policy = routing.RoutingPolicy(mode=args.mode, in_house=frozenset(args.in_house or []))
    return workspace_decision(con, scenario, args.run, args.candidate, args.segment_by, args.context_window,
                              policy, tuple(args.residency_tag or []))


def cmd_route(args) -> int:
    """The decision's local/API split per segment, shares, blended figures and the frontier, and
    the run and candidate whose quality it used (default: as the Routing page, the default run
    (a real one before the demo's) and its most scored candidate)."""
    with reading_workspace(args) as con:
        decision = _decision(con, args, _scenario(con, args.scenario))
    rec, evidence = decision.recommendation, decision.evidence
    if args.json:
        print_json({**rec.to_dict(), "run_id": evidence.run_id, "candidate": evidence.candidate,
                    "decision": decision.summary()})
        return 0
    print(decision.headline)
    print(tables.text_table(tables.route_rows(rec), tables.ROUTE_COLUMNS))
    print(tables.route_line(rec))
    print(tables.routing_source_line(evidence.run_id, evidence.candidate))
    print_lines(f"  note: {note}" for note in rec.notes)
    return 0


def cmd_decide(args) -> int:
    """The one answer: what goes local, the monthly bill both ways at today's volume, the quality
    caveat, and beside it the cost-only comparison (the same value as the dashboard's pages)."""
    with reading_workspace(args) as con:
        decision = _decision(con, args, _scenario(con, args.scenario))
    if args.json:
        print_json(decision.summary())
        return 0
    print(decision.headline)
    print(f"  {decision.caveat}")
    if decision.traffic.batch.share > 0:
        print(f"  {decision.traffic.sentence()}")
    print(f"  {decision.cost_only_headline}")
    return 0


def _chosen_scenario(con, args) -> tuple[object, str, str | None]:
    """(scenario, where it came from, saved id) for --scenario FILE, --saved ID or the defaults."""
    from analysis.economics import scenario_store

    if args.saved and args.scenario:
        raise Refused("give --scenario FILE or --saved ID, not both", 2)
    if args.saved:
        item = scenario_store.load(con, args.saved)
        return item.scenario, f"saved scenario {item.scenario_id}" + (f" ({item.name})" if item.name else ""), \
            item.scenario_id
    if args.scenario:
        return _scenario(con, args.scenario), f"{args.scenario} over the workspace defaults", None
    return _scenario(con, None), "the workspace defaults", None


def cmd_report(args) -> int:
    """Write the HTML report of a scenario, as the Scenarios & report page's download (the same
    function, title and file name): it opens with the workspace's decision (`breakeven decide`'s),
    whose verdict and headline the JSON carries beside the cost-only figures."""
    from analysis.economics import scenario_store
    from analysis.economics.decision import workspace_decision
    from analysis.present.report import html_report

    with reading_workspace(args) as con:
        scenario, source, saved_id = _chosen_scenario(con, args)
        notes = [note] if not args.saved and (note := _assumption_note(con, args)) else []
        name = None
        if saved_id:
            item = scenario_store.load(con, saved_id)
            name = item.name or item.scenario_id
        decision = workspace_decision(con, scenario)
        document = html_report(con, scenario, decision, title=f"llm-breakeven: {workspace_name(args)}",
                               scenario_name=name)
    out = Path(args.out or REPORT_FILE)
    out.write_text(document, encoding="utf-8")
    if args.json:
        print_json({"path": str(out.resolve()), "bytes": len(document.encode()), "workspace": workspace_name(args),
                    "source": source, "scenario_id": saved_id, "scenario": scenario.model_dump(mode="json"),
                    **_figures(scenario), "verdict": decision.verdict, "decision_headline": decision.headline,
                    "notes": notes})
        return 0
    print(f"report written to {out} (scenario: {source})")
    print_lines(f"  note: {line}" for line in notes)
    return 0


def _saved_record(item, workspace: str) -> dict:
    return {"scenario_id": item.scenario_id, "name": item.name, "created_at": item.created_at.isoformat(),
            "link": tables.share_path(workspace, item.scenario_id), "problem": item.problem,
            "scenario": item.scenario.model_dump(mode="json") if item.scenario is not None else None,
            **(_figures(item.scenario) if item.scenario is not None else {})}


def cmd_scenarios(args) -> int:
    """The saved scenarios of a workspace: list them, show one, or save a scenario file."""
    from analysis.economics import comparison, scenario_store

    workspace = workspace_name(args)
    if args.action == "save":
        with writing_workspace(args, f"saving scenario {args.file}") as con:
            scenario = _scenario(con, args.file)
            items = [scenario_store.load(con, scenario_store.save(con, scenario, args.name))]
    else:
        with reading_workspace(args) as con:
            items = scenario_store.saved(con) if args.action == "list" else [scenario_store.load(con, args.id)]
    if args.json:
        records = [_saved_record(item, workspace) for item in items]
        print_json(records if args.action == "list" else records[0])
        return 0
    if args.action == "list":
        if not items:
            print("no saved scenarios yet: save one with breakeven scenarios save FILE "
                  "(or Save scenario on the Economics page)")
            return 0
        rows = [tables.saved_scenario_row(item, comparison.evaluate(item.scenario.to_cost_inputs())
                                          if item.scenario is not None else None) for item in items]
        print(tables.text_table(rows, tables.SCENARIO_COLUMNS))
        return 0
    item = items[0]
    result = comparison.evaluate(item.scenario.to_cost_inputs())
    print(f"{'saved' if args.action == 'save' else 'scenario'} {item.scenario_id}"
          + (f" ({item.name})" if item.name else "") + f": {tables.scenario_line(item.scenario, result)}")
    print(f"link: {tables.share_path(workspace, item.scenario_id)} (after the dashboard's address)")
    if args.action == "show":
        print(tables.text_table(tables.assumption_rows(item.scenario), ["assumption", "value"]))
    return 0


def add_arguments(parsers: dict) -> None:
    p = parsers["size"]
    p.add_argument("--model", required=True, help="a model of the catalogue (data/models.json), e.g. llama-3.1-8b-instruct")
    p.add_argument("--gpu", required=True, help="a GPU of the catalogue (data/gpus.json), e.g. 'H100 80GB'")
    p.add_argument("--quant", choices=["bf16", "fp16", "fp8", "int8", "int4", "mxfp4"],
                   help="weights' precision (default: the model's published one)")
    p.add_argument("--tp", type=int, choices=[1, 2, 4, 8], help="GPUs per replica (default: the fewest that fit)")
    p.add_argument("--input-tokens", type=float, help="mean prompt tokens (default: the workspace's logs)")
    p.add_argument("--output-tokens", type=float, help="mean answer tokens (default: the workspace's logs)")
    p.add_argument("--ttft-p95-ms", type=float, help="time-to-first-token target, p95 ms (default 2000)")
    p.add_argument("--latency-p95-ms", type=float, help="end-to-end latency target, p95 ms (default 30000)")
    for name in ("economics", "route", "decide", "report"):
        parsers[name].add_argument("--scenario", metavar="FILE",
                                   help="scenario JSON; fields left out take the workspace defaults")
    for name in ("route", "decide"):
        p = parsers[name]
        p.add_argument("--mode", choices=["pre-routing", "cascade"], default="pre-routing")
        p.add_argument("--segment-by", default="task_complexity",
                       help="task_complexity (task type x complexity bucket, default) or a column such as model")
        p.add_argument("--run", metavar="RUN_ID", help="quality from this run (default: the newest real one, "
                       "else the demo's)")
        p.add_argument("--candidate", metavar="SPEC", help="the local candidate (default: the run's most scored)")
        p.add_argument("--context-window", type=int, default=8192, help="local model's context, tokens")
        p.add_argument("--in-house", action="append", metavar="SEGMENT", help="segment that must stay in-house")
        p.add_argument("--residency-tag", action="append", metavar="TAG",
                       help="requests with this tag stay in-house")
    p = parsers["report"]
    p.add_argument("--saved", metavar="ID", help="a saved scenario (see breakeven scenarios list)")
    p.add_argument("--out", metavar="PATH", help=f"where to write the HTML (default: ./{REPORT_FILE})")
    actions = parsers["scenarios"].add_subparsers(dest="action", required=True, metavar="{list,show,save}")
    shown = actions.add_parser("show", help="one saved scenario: its figures, link and assumptions")
    shown.add_argument("id", metavar="ID")
    saving = actions.add_parser("save", help="save a scenario file (fields left out: the workspace defaults)")
    saving.add_argument("file", metavar="FILE")
    saving.add_argument("--name", help="a name to list it by")
    for p in (actions.add_parser("list", help="the saved scenarios, newest first"), shown, saving):
        p.add_argument("--workspace", default=None, help="workspace name (default: settings)")
        p.add_argument("--json", action="store_true", help="print JSON")
