"""One root for user errors (analysis.errors): every exception class of `analysis` that reports a
mistake the user can fix is a UserError, a representative mistake of each area raises one with its
message, and no plain `raise ValueError(` is left for a user's mistake."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
from pathlib import Path

import pytest

import analysis
from analysis.economics.scenario import Scenario
from analysis.errors import NotFound, UserError
from analysis.ingest.sample import read_sample
from analysis.replay import runs as replay
from analysis.replay.sampling import SampleSpec
from analysis.settings import get_settings

ROOT = Path(analysis.__file__).parent

# Exception classes that are no user's mistake, with why; any other class must be a UserError.
NOT_USER_ERRORS = {
    "analysis.ingest.core._Duplicate": "control flow: the file was ingested before, its load is undone",
    "analysis.ingest.context.FastPathFailed": "control flow: the loader retries line by line",
    "analysis.quality.scoring.fields.JSONAnswerError": "a model's answer without JSON scores 0",
    "analysis.quality.scoring.base.BadReference": "a reference a scorer cannot use is counted as skipped",
    "analysis.replay.providers.base.ProviderError": "what a call gave, recorded with its result",
    "analysis.replay.providers.base.RetryableError": "what a call gave, recorded with its result",
    "analysis.replay.providers.base.UnreachableError": "what a call gave, recorded with its result",
    "analysis.replay.providers.base.FatalError": "what a call gave, recorded with its result",
    "analysis.replay.providers.local_engine.LocalEngineError": "the engine process failed; its log says why",
    "analysis.replay.tuning.training_formats.Unwritable": "control flow: a request no format holds is counted",
    "analysis.replay.tuning.training_formats.NotInFormat": "control flow: a request one format cannot hold is counted",
    "analysis.replay.tuning.recipe_train.DataError": "the generated train.py runs alone (standard library only): "
                                                      "its main() prints the message and exits 1",
}

# `raise ValueError(` stays only where it is no user's mistake: in pydantic validators (pydantic
# turns a ValueError into its ValidationError; found by their decorator) and here, as (file, function).
VALIDATORS = {"field_validator", "model_validator"}
VALUE_ERRORS_ALLOWED = {
    ("settings.py", "check_base_url"),  # called by the validators of Endpoint and Candidate
    # Preconditions of the statistics, whose arguments come from queries, never from a user.
    *(("quality/stats.py", f) for f in ("_tail", "wilson_interval", "paired_bootstrap_diff", "mcnemar",
                                        "required_sample_size", "non_inferiority_paired", "percentiles_with_ci",
                                        "sample_size_for_margin")),
    ("economics/projections.py", "cost_curve"),  # the chart's range, set by the calling code
    ("economics/models.py", "_by_name"),  # data/models.json names one model twice: a bug in shipped data
    ("quality/scoring/base.py", "__post_init__"),  # a scorer's bug: a Score outside [0, 1]
    ("economics/routing_segments.py", "__post_init__"),  # SegmentQuality built from counts
    ("store/explore.py", "distinct_values"),  # the column is a literal of the calling page
    ("quality/scoring/judge.py", "score"),  # the judge gave no verdict: a fact about its calls
    # A stream event that is not an object: like json's own ValueError on a broken event, the
    # provider's error mapping turns it into a failed call (a fact about the endpoint's answer).
    ("replay/providers/openai_compat.py", "_stream"),
    # A malformed AWS event-stream frame: the cassette reader rejects that record with the message.
    ("ingest/bedrock_converse.py", "decode_event_stream"),
    # Raised and caught on the spot, to become the TrainingDataError that names the file and line.
    ("replay/tuning/llama_finetune.py", "read_examples"),
    # In the generated train.py (no analysis imports there): caught by its caller, reported per line.
    ("replay/tuning/recipe_train.py", "_content_chars"),
}



def _exception_classes() -> dict[str, type[BaseException]]:
    names = [m.name for m in pkgutil.walk_packages(analysis.__path__, "analysis.")
             if not m.name.endswith(".__main__")]  # importing a __main__ runs the CLI
    modules = [analysis, *map(importlib.import_module, names)]
    return {f"{cls.__module__}.{cls.__qualname__}": cls for module in modules
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__}


def test_every_exception_class_is_a_user_error_or_says_why_not():
    classes = _exception_classes()
    assert set(NOT_USER_ERRORS) <= set(classes), "a listed class no longer exists"
    assert {name for name, cls in classes.items() if not issubclass(cls, UserError)} == set(NOT_USER_ERRORS)
    for name in ("analysis.settings.WorkspaceNameError", "analysis.economics.scenario.ScenarioError",
                 "analysis.ingest.sample.UnreadableFileError", "analysis.ingest.context.IngestError",
                 "analysis.replay.runs.BudgetError", "analysis.quality.scoring.judge.JudgeBudgetError",
                 "analysis.store.database.SchemaTooNewError",
                 "analysis.replay.providers.local_engine.NotInstalledError",
                 "analysis.replay.providers.local_engine.EngineConflictError"):
        assert issubclass(classes[name], UserError), name


def _decorator_name(node: ast.expr) -> str | None:
    node = node.func if isinstance(node, ast.Call) else node
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _value_error_raises(path: Path) -> list[tuple[str, int]]:
    """(enclosing function, line) of every `raise ValueError(...)` in the file, but for those in a
    pydantic validator."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if not VALIDATORS & {_decorator_name(d) for d in child.decorator_list}:
                    visit(child, child.name)
                continue
            if (isinstance(child, ast.Raise) and isinstance(child.exc, ast.Call)
                    and isinstance(child.exc.func, ast.Name) and child.exc.func.id == "ValueError"):
                found.append((function, child.lineno))
            visit(child, function)

    visit(ast.parse(path.read_text(encoding="utf-8")), "<module>")
    return found


def test_no_plain_value_error_is_raised_for_a_user_mistake():
    relative = {path: path.relative_to(ROOT).as_posix() for path in sorted(ROOT.rglob("*.py"))}
    left = [f"{rel}:{line} in {function}" for path, rel in relative.items()
            for function, line in _value_error_raises(path) if (rel, function) not in VALUE_ERRORS_ALLOWED]
    assert not left, "raise a UserError (or add a commented entry to VALUE_ERRORS_ALLOWED):\n" + "\n".join(left)


# --- a representative mistake of each area --------------------------------------------------------


def test_an_invalid_workspace_name():
    with pytest.raises(UserError, match=r"invalid workspace name '\.\./escape'"):
        get_settings().workspace_path("../escape")


def test_bad_scenario_json():
    with pytest.raises(UserError, match=r"scenario is not valid JSON: .* \(line 1, column 2\)"):
        Scenario.from_json("{")
    with pytest.raises(UserError, match="invalid scenario: gpu_count"):
        Scenario.from_json('{"gpu_count": 0}')


def test_an_unreadable_ingest_file(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(UserError, match="empty.jsonl: the file is empty"):
        read_sample(tmp_path / "empty.jsonl")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01" * 10)
    with pytest.raises(UserError, match="blob.bin: looks like a binary file"):
        read_sample(tmp_path / "blob.bin")


@pytest.fixture
def logged(con):
    for i in range(5):
        con.execute("""INSERT INTO requests (request_id, source_id, status, model, input_messages, output_text,
                                             input_tokens, output_tokens)
                       VALUES (?, 's', 'ok', 'gpt-4o', ?, 'ok', 300, 20)""",
                    [f"r{i}", json.dumps([{"role": "user", "content": f"question {i}"}])])
    return con


def test_a_budget_below_the_estimate(logged, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")  # nothing is sent: the run is refused before
    with pytest.raises(UserError, match=r"estimated cost \$.* exceeds the budget \$0\.0000"):
        replay.create_run(logged, ["openai:gpt-4o-mini"], SampleSpec(size=5), budget_usd=0.0)


def test_an_unknown_run(logged):
    with pytest.raises(NotFound, match="no run 'nope'"):
        replay.progress_of(logged, "nope")
    with pytest.raises(NotFound, match="no run 'nope'"):
        replay.execute(logged, "nope")


def test_an_unknown_candidate_spec():
    from analysis.replay.providers.registry import parse_candidate_spec

    with pytest.raises(UserError, match="unknown provider 'nope'"):
        parse_candidate_spec("nope:model")
    with pytest.raises(UserError, match="^a base URL must not carry credentials"):  # the URL is not repeated
        parse_candidate_spec("openai-compat:http://user:secret@host/v1:m")


def test_a_page_shows_a_message_as_written():
    from dashboard.components import as_text

    assert as_text("no run '*x*' at $5: use :red[it]\nnext") == \
        "no run '\\*x\\*' at \\$5\\: use \\:red\\[it\\]  \nnext"
