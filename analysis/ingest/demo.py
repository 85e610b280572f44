"""The synthetic demo workspace: a deterministic, realistic-looking request log built from the
templates in `data/demo_templates.json`, written as JSONL and ingested like any user file.

Shape: DAYS days ending END_DAY; BASE_PER_DAY requests on weekdays, WEEKEND_FACTOR of that on
weekends; hours drawn from a daily profile peaking mid-afternoon UTC; five task types with their
own models, token sizes and latencies; ticket classifications carry a ground-truth label that the
incumbent model gets right INCUMBENT_ACCURACY of the time. Costs are left out, so ingest prices
them with genai-prices (`cost_source = 'computed'`). The workspace also holds the demo's synthetic
replay run, scored (`analysis.replay.demo_run`), so Quality and Routing have something to show.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path

from analysis.errors import UserError
from analysis.ingest import ingest_file
from analysis.reference import read_json
from analysis.replay.demo_run import DEMO_FILE_NAME, ensure_demo_run
from analysis.settings import Settings, get_settings
from analysis.store import access
from analysis.store.database import scalar

DEMO_WORKSPACE = "demo"
SEED = 20261124
DAYS = 30
END_DAY = datetime(2026, 10, 31)
BASE_PER_DAY = 3000
WEEKEND_FACTOR = 0.45
INCUMBENT_ACCURACY = 0.96

# task type -> (share of traffic, [(model, provider, share)], mean input tokens, mean output tokens)
TASKS = {
    "classification": (0.45, [("gpt-4o-mini", "openai", 0.7), ("claude-3-5-haiku-20241022", "anthropic", 0.3)], 380, 3),
    "extraction": (0.25, [("gpt-4o-mini", "openai", 1.0)], 420, 60),
    "summarisation": (0.15, [("gpt-4o-2024-08-06", "openai", 1.0)], 950, 85),
    "code": (0.08, [("claude-3-5-sonnet-20241022", "anthropic", 1.0)], 260, 420),
    "reasoning": (0.07, [("gpt-4o-2024-08-06", "openai", 1.0)], 520, 900),
}
SYSTEM_PROMPTS = {
    "classification": "You are a support triage assistant. Classify the customer ticket into exactly one "
    "of these categories: {labels}. Answer with the category name only.",
    "extraction": "Extract the customer's name, email, order id and amount from the message. Reply with "
    "a JSON object with keys name, email, order_id, amount.",
    "summarisation": "You write short, factual summaries for a CRM.",
    "code": "You are a senior software engineer. Answer with code and a short explanation.",
    "reasoning": "You are a pragmatic principal engineer and analyst.",
}
TEAMS = ["support", "ops", "growth", "platform"]


def _hour_weights() -> list[float]:
    """Daily profile: a cosine bump peaking at 15:00 UTC over a night floor."""
    return [0.25 + math.cos((h - 15) / 24 * 2 * math.pi) + 1 for h in range(24)]


def _fill(rng: random.Random, template: str, fill: dict[str, list[str]]) -> str:
    return template.format(**{k: rng.choice(v) for k, v in fill.items()})


def _record(rng: random.Random, n: int, ts: datetime, task: str, t: dict) -> dict:
    _, models, mean_in, mean_out = TASKS[task]
    model, provider, _ = rng.choices(models, weights=[m[2] for m in models])[0]
    labels = t["ticket_labels"]
    system = SYSTEM_PROMPTS[task].format(labels=", ".join(labels))
    label = None
    params: dict = {"temperature": 0}
    if task == "classification":
        label = rng.choice(labels)
        user = _fill(rng, rng.choice(t["tickets"][label]), t["fill"])
        wrong = [x for x in labels if x != label]
        output = label if rng.random() < INCUMBENT_ACCURACY else rng.choice(wrong)
        params["max_tokens"] = 5
    elif task == "extraction":
        values = {k: rng.choice(v) for k, v in t["fill"].items()}
        user = rng.choice(t["extraction"]).format(**values)
        output = json.dumps({"name": values["name"], "email": values["email"],
                             "order_id": values["order"], "amount": values["amount"]})
        params["response_format"] = {"type": "json_object"}
    else:
        user = _fill(rng, rng.choice(t[task]), t["fill"])
        output = f"[synthetic {task} answer of about {mean_out} tokens]"
    input_tokens = max(20, int(rng.lognormvariate(math.log(mean_in), 0.35)))
    output_tokens = max(1, int(rng.lognormvariate(math.log(mean_out), 0.45)))
    cached = input_tokens // 2 if provider == "openai" and input_tokens > 1024 and rng.random() < 0.5 else 0
    ttft = rng.uniform(250, 700) * (1.6 if "sonnet" in model or "4o-2024" in model else 1.0)
    tokens_per_s = rng.uniform(55, 110)
    failed = rng.random() < 0.004
    return {
        "request_id": f"demo-{n:07d}",
        "ts": ts.isoformat(),
        "provider": provider,
        "model": model,
        "operation": "chat",
        "input_messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "output_text": None if failed else output,
        "request_params": params,
        "input_tokens": input_tokens,
        "cached_input_tokens": cached,
        "output_tokens": 0 if failed else output_tokens,
        "latency_ms": round(ttft + (0 if failed else output_tokens / tokens_per_s * 1000), 1),
        "ttft_ms": None if failed else round(ttft, 1),
        "status": "error" if failed else "ok",
        "error": "429 rate limit exceeded" if failed else None,
        "label": label,
        "user_id": f"user-{rng.randrange(1, 400):03d}",
        "team": rng.choice(TEAMS),
        "tags": [task],
    }


def generate(path: Path, seed: int = SEED, days: int = DAYS, base_per_day: int = BASE_PER_DAY) -> int:
    """Write the demo log as JSONL to `path`; return the number of requests. Deterministic."""
    templates = read_json("demo_templates.json")
    rng = random.Random(seed)
    hours = _hour_weights()
    tasks, shares = list(TASKS), [v[0] for v in TASKS.values()]
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for d in range(days):
            day = END_DAY - timedelta(days=days - 1 - d)
            volume = base_per_day * (WEEKEND_FACTOR if day.weekday() >= 5 else 1.0) * rng.uniform(0.92, 1.08)
            stamps = sorted(
                day + timedelta(hours=h, seconds=rng.uniform(0, 3600))
                for h in rng.choices(range(24), weights=hours, k=int(volume))
            )
            for ts in stamps:
                task = rng.choices(tasks, weights=shares)[0]
                out.write(json.dumps(_record(rng, n, ts, task, templates)) + "\n")
                n += 1
    return n


def ensure_demo_workspace(settings: Settings | None = None, force: bool = False) -> Path:
    """Create the demo workspace (generate + ingest, then the demo's replay run, see
    `analysis.replay.demo_run.ensure_demo_run`) unless it already has data (a demo workspace built
    before that run existed gets it); return its path. `force` rebuilds it, but never deletes
    files of the user's own that were ingested into it (UserError)."""
    settings = settings or get_settings()
    db_path = settings.workspace_path(DEMO_WORKSPACE)
    if force and db_path.exists():
        with access.reading(db_path, settings=settings) as con:
            own = scalar(con, "SELECT count(*) FROM sources WHERE file_name <> ?", [DEMO_FILE_NAME])
        if own:
            raise UserError(f"the {DEMO_WORKSPACE!r} workspace also holds {own} file(s) of your own: not rebuilt "
                             f"(ingest them into another workspace, then delete {db_path})")
        db_path.unlink()
    with access.writing(db_path, "building the demo workspace", settings=settings) as con:
        if not scalar(con, "SELECT count(*) FROM requests"):
            log = settings.data_dir / DEMO_FILE_NAME
            generate(log)
            result = ingest_file(con, log, format="generic")
            if not result.ok:
                raise RuntimeError(f"demo workspace could not be built: {result.error}")
            log.unlink()
        ensure_demo_run(con)
    return db_path


def is_synthetic(con) -> bool:
    """True for a workspace holding the log this module generates (the demo; files of the user's
    own ingested into it as well do not make it real)."""
    return bool(scalar(con, "SELECT count(*) FROM sources WHERE file_name = ?", [DEMO_FILE_NAME]))
