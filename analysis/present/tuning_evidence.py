"""The words and tables of the GPU recipe, its cost and the base-vs-tuned comparison, shared by
`breakeven gpu-recipe` / `compare-tuned` and the Quality page's tuning section."""

from __future__ import annotations

from analysis.economics.training_cost import TrainingCost, hours_text
from analysis.present import formatting as fmt
from analysis.quality.tuning_comparison import TuningComparison
from analysis.replay.tuning.gpu_recipe import Recipe


def cost_lines(cost: TrainingCost) -> list[str]:
    """The cost range, its formula and where it came from."""
    if cost.kind == "cpu-measured":
        head = f"measured training cost: {fmt.usd(cost.usd)} ({hours_text(cost.hours_low)} on this machine)"
    else:
        head = (f"estimated training cost: {fmt.usd(cost.usd_low)} to {fmt.usd(cost.usd_high)} "
                f"({hours_text(cost.hours_low)} to {hours_text(cost.hours_high)} on one {cost.gpu})")
    return [head, f"  formula: {cost.formula}", f"  source: {cost.source}",
            f"  carried into a scenario as fine_tuning_usd = {fmt.usd(cost.usd)} (the high end)"]


def recipe_lines(recipe: Recipe) -> list[str]:
    """What was written, how to run it, and what it should cost."""
    stats = recipe.stats
    return [
        f"recipe written to {recipe.directory}: {', '.join(recipe.files)}",
        f"base model {recipe.hugging_face_id}; {stats.examples:,} examples, {stats.training_tokens:,} training tokens "
        f"({stats.tokens_from})",
        "check the data anywhere: python train.py --dry-run; train on the GPU: pip install -r requirements.txt && "
        "python train.py; serve: ./serve.sh",
        f"once served, replay it as the candidate openai-compat:http://HOST:8000/v1:{recipe.adapter_name}",
        *cost_lines(recipe.estimate),
    ]


def comparison_rows(result: TuningComparison) -> list[dict]:
    """One row per candidate: accuracy on the held-out pairs with its interval."""
    level = f"{100 * result.confidence:g}%"
    return [{"candidate": name, "role": role, "held-out requests": result.n, "right": right,
             "accuracy": f"{100 * accuracy:.1f}%", f"{level} interval": f"{100 * low:.1f}% to {100 * high:.1f}%"}
            for name, role, right, accuracy, low, high in (
                (result.base, "base", result.both_right + result.base_only, result.base_accuracy, result.base_low,
                 result.base_high),
                (result.tuned, "tuned", result.both_right + result.tuned_only, result.tuned_accuracy,
                 result.tuned_low, result.tuned_high))]


def comparison_lines(result: TuningComparison) -> list[str]:
    """The verdict, the paired counts and McNemar's test, and what was left out."""
    lines = [result.text,
             f"pairs: both right {result.both_right}, only tuned {result.tuned_only}, only base {result.base_only}, "
             f"neither {result.neither}; McNemar p = {result.mcnemar_p:.4g} ({result.mcnemar_method})",
             f"compared against: {', '.join(result.references)}"]
    if result.left_out:
        lines.append(f"{result.left_out:,} scored requests outside the held-out split were left out "
                     "(the tuned model may have trained on them)")
    return lines
