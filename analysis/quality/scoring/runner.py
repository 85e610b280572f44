"""Score a replay run: every result row against its reference, stored in `scores`.

Scorer choice per request, first rule that applies (unless one scorer is forced):
1. `label`   the run's adapter has a label set, or the task type is classification. The label
             set is the adapter's, else the distinct ground-truth labels of the run's requests.
2. `fields`  the task type is extraction, or the output is structured (the adapter's json_schema,
             or a logged `response_format` of type json_schema / json_object).
3. `numeric` the reference is a single number ("42", "$1,200", "3.5%").
4. `fuzzy`   the reference is short free text (at most SHORT_TEXT_CHARS characters).
5. long free text: `judge` when a judge is configured; else `fuzzy` against ground truth;
   without ground truth it is not scored ("long free text: configure a judge").
References follow `analysis.quality.scoring.references`. A failed result scores 0 ("no answer: <error>").
The reference candidate's own answers, where they are the reference, are not scored. When
ground truth exists, the incumbent's logged answer is scored too, as candidate 'incumbent'.
Re-scoring replaces: the run's earlier scores from the scorers this call may write are deleted
first, in the same transaction as the insert.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

import duckdb
import polars as pl

from analysis.errors import NotFound, UserError
from analysis.quality.scoring import references
from analysis.quality.scoring.base import BadReference, Score, ScoreContext
from analysis.quality.scoring.fields import FieldsScorer
from analysis.quality.scoring.fuzzy import FuzzyScorer
from analysis.quality.scoring.judge import JudgeItem, JudgeScorer
from analysis.quality.scoring.label import LabelScorer
from analysis.quality.scoring.numeric import NumericScorer, parse_number
from analysis.store import access
from analysis.store.database import rows, utcnow

SHORT_TEXT_CHARS = 300
INCUMBENT = "incumbent"
EXACT = {"label": LabelScorer(), "fields": FieldsScorer(), "numeric": NumericScorer(), "fuzzy": FuzzyScorer()}


@dataclass
class ScoreSummary:
    """What one `score_run` wrote: score rows (candidates and incumbent), counts per scorer and per
    reference kind, answers not scored by reason, and the judge's calls, spend and order splits."""
    run_id: str
    scored: int = 0
    incumbent_scored: int = 0
    by_scorer: dict[str, int] = field(default_factory=dict)
    by_reference: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    judge_calls: int = 0
    judge_spent_usd: float = 0.0
    judge_disagreements: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunContext:
    """A run's scoring settings: its label set (None if unknown), whether that set is the adapter's
    (a label constraint) and whether the adapter asks for JSON."""
    labels: tuple[str, ...] | None
    adapter_labels: bool
    json_schema: bool


def run_context(con: duckdb.DuckDBPyConnection, run_id: str) -> RunContext:
    """The run adapter's labels (else the distinct ground-truth labels of its requests, if any)."""
    found = rows(con, "SELECT adapter FROM runs WHERE run_id = ?", [run_id])
    if not found:
        raise NotFound(f"no run {run_id!r}")
    adapter = json.loads(found[0][0]) if isinstance(found[0][0], str) else dict(found[0][0] or {})
    labels = list(adapter.get("labels") or [])
    from_adapter = bool(labels)
    if not labels:
        labels = [r[0] for r in rows(con, f"""SELECT DISTINCT trim(label) FROM ({references.RUN_REQUESTS_SQL})
                                              WHERE nullif(trim(label), '') IS NOT NULL ORDER BY 1""",
                                     {"run_id": run_id})]
    return RunContext(tuple(labels) or None, from_adapter, adapter.get("json_schema") is not None)


def choose_scorer(task_type: str | None, reference: str, reference_kind: str, context: RunContext,
                  structured: bool = False, judge_configured: bool = False) -> tuple[str | None, str | None]:
    """(scorer name, None) by the module rule, or (None, why it is not scored)."""
    if task_type == "classification" or context.adapter_labels:
        return "label", None
    if task_type == "extraction" or context.json_schema or structured:
        return "fields", None
    if parse_number(reference, whole=True) is not None:
        return "numeric", None
    if len(reference) <= SHORT_TEXT_CHARS:
        return "fuzzy", None
    if judge_configured:
        return "judge", None
    if reference_kind == references.GROUND_TRUTH:
        return "fuzzy", None
    return None, "long free text without ground truth: configure a judge"


def _answers_sql() -> str:
    """Every result row of the run plus the incumbent's logged answer where ground truth exists."""
    structured = ("coalesce(json_extract_string(req.request_params, '$.response_format.type') "
                  "IN ('json_schema', 'json_object'), false)")
    return f"""
        WITH refs AS ({references.REFERENCES_SQL}), req AS ({references.RUN_REQUESTS_SQL})
        SELECT x.candidate, x.request_id, x.status, x.output_text, x.error, refs.reference, refs.reference_text,
               req.task_type, req.input_text, {structured} AS structured
        FROM results x JOIN refs USING (request_id) JOIN req USING (request_id)
        WHERE x.run_id = $run_id
        UNION ALL
        SELECT '{INCUMBENT}', refs.request_id, 'ok', refs.incumbent_answer, NULL, refs.reference,
               refs.reference_text, req.task_type, req.input_text, {structured}
        FROM refs JOIN req USING (request_id)
        WHERE refs.reference = '{references.GROUND_TRUTH}' AND refs.incumbent_answer IS NOT NULL
        ORDER BY 2, 1"""


def score_run(
    workspace: access.Workspace | duckdb.DuckDBPyConnection, run_id: str, scorer: str | None = None,
    reference_candidate: str | None = None, *, judge: JudgeScorer | None = None,
    context: ScoreContext | None = None,
) -> ScoreSummary:
    """Score the run (module rule) and upsert into `scores`. `scorer` forces one scorer for every
    answer ('judge' needs `judge`); `reference_candidate` is the spec of the run's candidate whose
    answers are the reference where there is neither ground truth nor an incumbent answer;
    `context` sets tolerances and thresholds (its label set defaults to the run's). Given an
    `access.Workspace`, it is read, then written only once the scores (the judge's calls
    included) are known, so nothing holds it while the judge answers."""
    if scorer is not None and scorer not in (*EXACT, "judge"):
        raise UserError(f"unknown scorer {scorer!r}; known: {', '.join([*EXACT, 'judge'])}")
    if scorer == "judge" and judge is None:
        raise UserError("the judge scorer needs a judge model: give a candidate spec for it")
    workspace = access.workspace_of(workspace)
    with workspace.reading() as con:
        run = run_context(con, run_id)
        reference_spec = references.resolve_reference_candidate(con, run_id, reference_candidate)
        answers = rows(con, _answers_sql(), {"run_id": run_id, "reference_candidate": reference_spec})
    context = context or ScoreContext()
    if context.labels is None:
        context = replace(context, labels=run.labels)
    summary, skipped = ScoreSummary(run_id), Counter()
    out: list[tuple] = []
    to_judge: list[tuple[tuple, JudgeItem]] = []
    for candidate, request_id, status, output, error, kind, ref_text, task_type, prompt, structured in answers:
        if kind is None:
            skipped["no reference"] += 1
            continue
        if reference_spec and candidate == reference_spec and kind == references.MODEL_PREFIX + reference_spec:
            skipped["is the reference"] += 1
            continue
        name, why = (scorer, None) if scorer else choose_scorer(task_type, ref_text, kind, run, structured,
                                                                judge is not None)
        if name is None:
            skipped[why] += 1
            continue
        key = (candidate, request_id, name, kind)
        if status != "ok":
            out.append((*key, Score(0.0, False, f"no answer: {error or 'failed'}")))
        elif name == "judge":
            to_judge.append((key, JudgeItem(output or "", ref_text, prompt)))
        else:
            try:
                out.append((*key, EXACT[name].score(output or "", ref_text, context=context)))
            except BadReference as exc:
                skipped[f"bad reference for {name}: {str(exc)[:80]}"] += 1
    if to_judge:
        report = judge.judge([item for _, item in to_judge])
        summary.judge_calls, summary.judge_spent_usd = report.calls, report.spent_usd
        summary.judge_disagreements = report.disagreements
        for (key, _), judgement in zip(to_judge, report.judgements):
            if judgement.score is None:
                skipped["judge budget spent" if judgement.reason == "judge budget spent" else "judge gave no verdict"] += 1
            else:
                out.append((*key, judgement.score))
    try:
        with workspace.writing(f"scoring of run {run_id}") as con:
            _write(con, run_id, out, [scorer] if scorer else [*EXACT, *(["judge"] if judge else [])])
    finally:
        workspace.release()
    summary.scored = len(out)
    summary.incumbent_scored = sum(r[0] == INCUMBENT for r in out)
    summary.by_scorer = dict(Counter(r[2] for r in out))
    summary.by_reference = dict(Counter(r[3] for r in out))
    summary.skipped = dict(skipped)
    return summary


def _write(con: duckdb.DuckDBPyConnection, run_id: str, out: list[tuple], scorers: list[str]) -> None:
    now = utcnow()
    new = pl.DataFrame(
        [(run_id, c, r, name, kind, s.score, s.passed, s.reason, now) for c, r, name, kind, s in out],
        schema={"run_id": pl.String, "candidate": pl.String, "request_id": pl.String, "scorer": pl.String,
                "reference": pl.String, "score": pl.Float64, "passed": pl.Boolean, "reason": pl.String,
                "scored_at": pl.Datetime("us")}, orient="row")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM scores WHERE run_id = ? AND scorer IN (SELECT unnest(?::VARCHAR[]))", [run_id, scorers]).fetchall()
        con.register("_new_scores", new)
        con.execute("INSERT OR REPLACE INTO scores SELECT * FROM _new_scores").fetchall()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_new_scores")
