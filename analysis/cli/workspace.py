"""Commands that fill and show a workspace: ingest, ingest-labelled, summary, demo, dashboard."""

from __future__ import annotations

import os
import sys
from importlib.resources import files
from typing import NoReturn

from analysis.cli.common import Refused, print_json, print_lines, reading_workspace, writing_workspace
from analysis.present import tables


def cmd_ingest(args) -> int:
    from analysis.ingest import ingest_paths

    options: dict = {}
    if args.mapping or args.map:
        from analysis.ingest import IngestError
        from analysis.ingest.generic import mapping_options

        try:
            options = mapping_options(args.mapping, args.map)
        except IngestError as exc:  # the mapping given on the command line: a usage mistake
            raise Refused(str(exc), 2) from exc
    purpose = f"ingest of {', '.join(os.path.basename(p) for p in args.paths)}"
    with writing_workspace(args, purpose[:200], must_exist=False) as con:  # for people, each file's line as soon as it is done
        results = ingest_paths(con, args.paths, args.format, options,
                               progress=None if args.json else _print_ingest_result)
    return _report_ingest(results, args.json, printed=not args.json)


def _print_ingest_result(result) -> None:
    print_lines(tables.ingest_lines(result))
    sys.stdout.flush()


def _report_ingest(results, as_json: bool, printed: bool = False) -> int:
    """Every file's result (JSON, or lines unless `printed` already); exit 1 on a failure."""
    if as_json:
        print_json([r.__dict__ for r in results])
    elif not printed:
        for r in results:
            _print_ingest_result(r)
    return 1 if any(r.error for r in results) else 0


def cmd_ingest_labelled(args) -> int:
    """A labelled dataset as requests with ground truth and a task prompt listing the label set."""
    from analysis.ingest.labelled_datasets import ingest_labelled

    with writing_workspace(args, f"ingest of {os.path.basename(args.path)}", must_exist=False) as con:
        result = ingest_labelled(con, args.path, args.text, args.label, labels_from=args.labels_from,
                                 id_col=args.id, limit=args.limit, seed=args.seed, split=args.split,
                                 instruction=args.instruction)
    return _report_ingest([result], args.json)


def cmd_summary(args) -> int:
    from analysis.store.summary import summarise

    with reading_workspace(args) as con:
        summary = summarise(con)
    if args.json:
        print_json(summary.to_dict())
        return 0
    print(tables.summary_line(summary))
    print(tables.text_table(tables.model_rows(summary), tables.MODEL_COLUMNS))
    return 0


def cmd_demo(args) -> int:
    from analysis.ingest.demo import ensure_demo_workspace

    path = ensure_demo_workspace(force=args.force)
    print(f"demo workspace ready: {path}")
    return 0


def cmd_dashboard(args) -> NoReturn:
    """Build the demo workspace if needed, then replace this process by Streamlit on <host>:<port>
    (127.0.0.1:8501), so signals sent to `breakeven dashboard` stop the server. Streamlit reads the
    dashboard's settings (upload limit, theme) from dashboard/.streamlit/config.toml (a link to the
    top-level .streamlit/), beside server.py, wherever it is started from. server.py is app.py as an
    ASGI app with uploads streamed to disk (dashboard/upload_spool.py)."""
    from analysis.ingest.demo import ensure_demo_workspace

    ensure_demo_workspace()
    app = files("dashboard").joinpath("server.py")
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.host,
               "--server.port", str(args.port)]
    print(f"dashboard on http://{args.host}:{args.port}", flush=True)
    os.execv(sys.executable, command)  # Streamlit takes this process: a kill (SIGTERM) reaches it


def add_arguments(parsers: dict) -> None:
    p = parsers["ingest"]
    p.add_argument("paths", nargs="+", help="log files (gzip/zstd accepted)")
    p.add_argument("--format", default=None, help="skip detection and use this format")
    p.add_argument("--mapping", default=None, help="generic format: TOML/JSON column mapping file")
    p.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE",
                   help="generic format: map one column (repeatable)")
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
    parsers["demo"].add_argument("--force", action="store_true", help="rebuild from scratch")
    parsers["dashboard"].add_argument("--host", default="127.0.0.1")
    parsers["dashboard"].add_argument("--port", type=int, default=8501)
