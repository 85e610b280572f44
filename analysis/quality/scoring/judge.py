"""LLM-as-judge: any provider compares a candidate's answer with the reference answer.

Rule:
- Each item is judged twice, once with the reference shown as answer 1 and once with the
  candidate shown as answer 1, so position bias cancels. Each call asks which answer is better
  ("1", "2" or "same"; sent as a label-set constraint). Per order the candidate gets 1 when it is
  judged better or the same, else 0. score = mean of the two; passed iff both orders agree that
  the candidate is at least as good (score 1). A split (0.5) is reported as an order disagreement.
- An item with a call that failed or a verdict that cannot be read gets no score (None), with
  the reason ("unparseable verdict ..."), so a judge's failure never counts against a candidate.
- Budget, as replay: per call, estimate = unit prices x (prompt characters / 3 + 32 input
  tokens, max_tokens output tokens), on the safe side (a short judge prompt runs ~2.8 characters
  per token plus the chat template on Gemma 3). A total estimate above `budget_usd` is refused
  (JudgeBudgetError) before any call; while judging, an item (both calls) is started only if
  spent + in-flight estimates + its estimate <= budget, otherwise it and every later item are left
  unjudged ("judge budget spent"). Spending is the reported usage at the same prices. A local judge costs
  nothing unless `prices` is given (e.g. a self-hosted judge billed per token).
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb

from analysis.economics import prices as pricing
from analysis.errors import UserError
from analysis.quality.scoring.base import DEFAULT_CONTEXT, Score, ScoreContext
from analysis.redact import redact
from analysis.replay.providers.base import CompletionRequest, Provider, ProviderError, RetryableError
from analysis.store.database import rows

CHARS_PER_TOKEN = 3  # on the safe side for estimates; see the module rule
TEMPLATE_TOKENS = 32
VERDICTS = ("1", "2", "same")
DEFAULT_RUBRIC = (
    "You compare two answers to the same request. Judge only whether each answer is correct and "
    "complete for the request: ignore length, style, and the order in which they are shown. "
    "Reply 1 if answer 1 is better, 2 if answer 2 is better, or same if they are equally good "
    "(for example, when they give the same answer)."
)
_TOKEN = re.compile(r"(?<![\w.])(1|2|same|tie|equal)(?![\w.])")


class JudgeBudgetError(UserError):
    """The judge's estimated cost exceeds its budget (or cannot be priced)."""


@dataclass(frozen=True)
class JudgeItem:
    output: str
    reference: str
    prompt: str | None = None


@dataclass(frozen=True)
class Judgement:
    """`verdicts`: the candidate's outcome per order (reference first, candidate first): 1, 0 or
    None (unparseable / failed / not sent); `raw`: the judge's texts; `reason`: why `score` is
    None, or the order disagreement."""
    score: Score | None
    verdicts: tuple[int | None, int | None]
    raw: tuple[str | None, str | None]
    reason: str | None = None

    @property
    def orders_disagree(self) -> bool:
        return None not in self.verdicts and self.verdicts[0] != self.verdicts[1]


@dataclass
class JudgeReport:
    judgements: list[Judgement]
    calls: int = 0
    spent_usd: float = 0.0
    estimate_usd: float = 0.0
    budget_usd: float | None = None
    stopped_by_budget: bool = False

    @property
    def disagreements(self) -> int:
        """Items whose two orders gave different outcomes (position bias or doubt)."""
        return sum(j.orders_disagree for j in self.judgements)

    @property
    def unjudged(self) -> int:
        return sum(j.score is None for j in self.judgements)


def parse_verdict(text: str | None) -> str | None:
    """'1', '2' or 'same' from the judge's answer: the whole answer when it is one verdict (case,
    quotes and punctuation ignored; 'tie'/'equal' mean 'same'), else the single distinct verdict
    word found in it; None when there is none or several."""
    found = {"tie": "same", "equal": "same"}
    tokens = {found.get(t, t) for t in _TOKEN.findall((text or "").strip().casefold())}
    return tokens.pop() if len(tokens) == 1 else None


@dataclass
class JudgeScorer:
    """An LLM judge (see the module rule) through the candidate `spec` (e.g. `openai:gpt-4o-mini`,
    `local`). Build it with its settings; `provider` replaces the one built from `spec`."""

    spec: str
    budget_usd: float | None = None
    rubric: str = DEFAULT_RUBRIC
    max_tokens: int = 8
    concurrency: int = 4
    timeout_s: float = 60.0
    max_prompt_chars: int = 4000
    constrain: bool = True  # send the verdicts as a label-set constraint
    prices: pricing.UnitPrices | None = None
    provider: Provider | None = None
    name: str = field(default="judge", init=False)

    def _candidate(self):
        from analysis.replay.providers import registry
        return registry.parse_candidate_spec(self.spec)

    def _unit_prices(self) -> pricing.UnitPrices | None:
        if self.prices is not None:
            return self.prices
        candidate = self._candidate()
        if candidate.is_local:
            return None
        found = pricing.unit_prices(candidate.model, candidate.provider)
        if found is None and self.budget_usd is not None:
            raise JudgeBudgetError(f"no price is known for {candidate.model!r} (genai-prices); cannot budget the judge")
        return found

    def messages(self, item: JudgeItem, candidate_first: bool) -> list[dict]:
        """The rubric as the system message; the request and both answers as the user message."""
        first, second = (item.output, item.reference) if candidate_first else (item.reference, item.output)
        request = (item.prompt or "(not shown)")[: self.max_prompt_chars]
        user = (f"[Request]\n{request}\n\n[Answer 1]\n{first[: self.max_prompt_chars]}\n\n"
                f"[Answer 2]\n{second[: self.max_prompt_chars]}\n\nWhich answer is better? Reply with exactly one "
                "of: 1, 2, same.")
        return [{"role": "system", "content": self.rubric}, {"role": "user", "content": user}]

    def estimate(self, item: JudgeItem, prices: pricing.UnitPrices | None) -> float:
        """USD for both calls of one item (module rule)."""
        if prices is None:
            return 0.0
        chars = sum(len(m["content"]) for m in self.messages(item, False))
        return 2 * prices.cost(chars // CHARS_PER_TOKEN + TEMPLATE_TOKENS, self.max_tokens)

    def judge(self, items: list[JudgeItem]) -> JudgeReport:
        """Judge every item (module rule); raises JudgeBudgetError before any call when the
        estimate exceeds the budget."""
        prices = self._unit_prices()
        estimates = [self.estimate(item, prices) for item in items]
        report = JudgeReport([Judgement(None, (None, None), (None, None), "judge budget spent")] * len(items),
                             estimate_usd=sum(estimates), budget_usd=self.budget_usd)
        if self.budget_usd is not None and report.estimate_usd > self.budget_usd:
            raise JudgeBudgetError(f"the judge's estimated cost ${report.estimate_usd:.4f} exceeds its budget "
                                   f"${self.budget_usd:.4f}; judge fewer items or raise the budget")
        provider = self.provider or self._build()
        lock, reserved = threading.Lock(), [0.0]

        def run(index: int) -> None:
            with lock:
                if report.stopped_by_budget or (self.budget_usd is not None and
                                                report.spent_usd + reserved[0] + estimates[index] > self.budget_usd):
                    report.stopped_by_budget = True
                    return
                reserved[0] += estimates[index]
            judgement, calls, cost = self._judge_one(provider, items[index], prices)
            with lock:
                reserved[0] -= estimates[index]
                report.judgements[index], report.calls, report.spent_usd = (
                    judgement, report.calls + calls, report.spent_usd + cost)

        try:
            with ThreadPoolExecutor(max(1, self.concurrency)) as pool:
                list(pool.map(run, range(len(items))))
        finally:
            if self.provider is None:
                provider.close()
        return report

    def _build(self) -> Provider:
        from analysis.replay.providers import registry
        return registry.build_provider(self._candidate())

    def _judge_one(self, provider: Provider, item: JudgeItem, prices) -> tuple[Judgement, int, float]:
        outcomes, raws, calls, cost, problems = [], [], 0, 0.0, []
        for order, candidate_first in (("reference first", False), ("candidate first", True)):
            request = CompletionRequest(self.messages(item, candidate_first), max_tokens=self.max_tokens,
                                        temperature=0.0, timeout_s=self.timeout_s,
                                        labels=list(VERDICTS) if self.constrain else None)
            text, error, spent = _call(provider, request, prices)
            calls, cost = calls + 1, cost + spent
            verdict = parse_verdict(text)
            raws.append(text)
            if verdict is None:
                outcomes.append(None)
                problems.append(redact(f"{order}: {error}" if error else f"unparseable verdict ({order}: {text!r:.60})"))
                continue
            candidate_label = "1" if candidate_first else "2"
            outcomes.append(1 if verdict in (candidate_label, "same") else 0)
        verdicts = (outcomes[0], outcomes[1])
        if problems:
            return Judgement(None, verdicts, (raws[0], raws[1]), "; ".join(problems)), calls, cost
        score = sum(outcomes) / 2
        if score == 1:
            return Judgement(Score(1.0, True), verdicts, (raws[0], raws[1])), calls, cost
        reason = ("judge: the reference is better in both orders" if score == 0 else
                  "judge orders disagree: " + ("candidate better or same only when shown first" if outcomes[1]
                                                else "candidate better or same only when shown second"))
        return Judgement(Score(score, False, reason), verdicts, (raws[0], raws[1]), reason), calls, cost

    def score(self, output: str, reference: str, *, context: ScoreContext = DEFAULT_CONTEXT) -> Score:
        """One item without its request text (the `Scorer` protocol); raises ValueError when the
        judge gave no usable verdict."""
        judgement = self.judge([JudgeItem(output, reference)]).judgements[0]
        if judgement.score is None:
            raise ValueError(f"the judge gave no verdict: {judgement.reason}")
        return judgement.score


def _call(provider: Provider, request: CompletionRequest, prices) -> tuple[str | None, str | None, float]:
    """(text, error, USD) of one judge call, retried once on a retryable error."""
    for attempt in (1, 2):
        try:
            completion = provider.complete(request)
        except RetryableError as exc:
            if attempt == 2:
                return None, f"judge call failed: {exc}", 0.0
            continue
        except ProviderError as exc:
            return None, f"judge call failed: {exc}", 0.0
        if prices is None:
            return completion.text, None, 0.0
        input_tokens = completion.input_tokens
        if input_tokens is None:
            input_tokens = sum(len(m["content"]) for m in request.messages) // CHARS_PER_TOKEN
        output_tokens = completion.output_tokens
        if output_tokens is None:
            output_tokens = len(completion.text) // CHARS_PER_TOKEN
        return completion.text, None, prices.cost(input_tokens, output_tokens)
    return None, "judge call failed", 0.0


@dataclass(frozen=True)
class JudgeAgreement:
    """The judge against exact scorers on the same answers: n items, simple agreement rate and
    Cohen's kappa (None when undefined: n = 0 or chance agreement 1)."""
    n: int
    agreement: float | None
    kappa: float | None
    exact_scorers: list[str]


def judge_agreement(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> JudgeAgreement:
    """Passed/failed of the judge vs of the exact scorer (label, fields, numeric, fuzzy; the latest
    when several) on every (run, candidate, request) scored by both. With a = both pass, d = both fail, b and c the
    splits: agreement p_o = (a + d)/n; chance p_e = ((a+b)(a+c) + (c+d)(b+d))/n²;
    kappa = (p_o − p_e)/(1 − p_e)."""
    a, b, c, d, scorers = rows(con, """
        SELECT count(*) FILTER (WHERE j.passed AND e.passed), count(*) FILTER (WHERE j.passed AND NOT e.passed),
               count(*) FILTER (WHERE NOT j.passed AND e.passed), count(*) FILTER (WHERE NOT j.passed AND NOT e.passed),
               list(DISTINCT e.scorer ORDER BY e.scorer)
        FROM scores j
        JOIN (SELECT * FROM scores WHERE scorer <> 'judge' QUALIFY row_number() OVER (
                  PARTITION BY run_id, candidate, request_id ORDER BY scored_at DESC, scorer) = 1) e
          USING (run_id, candidate, request_id)
        WHERE j.scorer = 'judge' AND ($run_id IS NULL OR j.run_id = $run_id)""",
        {"run_id": run_id})[0]
    n = a + b + c + d
    if n == 0:
        return JudgeAgreement(0, None, None, [])
    p_o = (a + d) / n
    p_e = ((a + b) * (a + c) + (c + d) * (b + d)) / n**2
    kappa = (p_o - p_e) / (1 - p_e) if p_e < 1 else None
    return JudgeAgreement(n, p_o, kappa, list(scorers or []))
