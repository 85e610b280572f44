"""Why a capacity is what it is, in words people read: the sizing model's answer as a sentence and
a breakdown table, and a probe's measurement beside the model's prediction. Shared by
`breakeven size`, `breakeven economics` and the Economics page (neither re-words the other)."""

from __future__ import annotations

from analysis.economics import catalogue
from analysis.economics.gpu_choice import GpuOption
from analysis.economics.models import find_model, model_cards
from analysis.economics.scenario import Scenario
from analysis.economics.sizing import DoesNotFit, Sizing, TokenShape, choose_tp, size
from analysis.economics.token_shape import TaskTokenShape
from analysis.economics.workspace_defaults import ProbeMeasurement
from analysis.errors import UserError
from analysis.present.formatting import compact, usd

BOUND_MEANING = {
    "latency target": "more requests at once would push p95 latency over the target",
    "KV-cache memory": "the memory left after the weights holds no more requests' KV cache",
    "engine max batch": "the serving engine's default batch limit (vLLM max_num_seqs) is reached",
    "compute": "the GPUs' arithmetic is saturated: more requests at once add no throughput",
    "memory bandwidth": "reading weights and KV cache saturates memory bandwidth",
}


def _model_name(name: str) -> str:
    card = find_model(name)
    return card.display_name if card else name


def sizing_sentence(sizing: Sizing) -> str:
    """'Llama 3.1 8B Instruct at bf16 on 1 L4 per replica: 0.64 requests/s per GPU at 8 requests at
    once, bound by the latency target (...)'."""
    gpus = f"{sizing.tp} {sizing.gpu}{'s' if sizing.tp > 1 else ''}"
    sentence = (f"{_model_name(sizing.model)} at {sizing.quant} on {gpus} per replica: "
                f"{compact(sizing.requests_per_s_per_gpu, 2)} requests/s per GPU at "
                f"{sizing.concurrency_used} request{'s' if sizing.concurrency_used > 1 else ''} at once, "
                f"bound by {sizing.bound} ({BOUND_MEANING.get(sizing.bound, sizing.bound)}).")
    if not sizing.meets_targets:
        sentence += (" Even one request at a time misses the latency target on this setup "
                     f"(p95 {compact(sizing.latency_ms / 1000, 2)} s end to end): pick a faster GPU, "
                     "a smaller model or a looser target.")
    return sentence


def sizing_rows(sizing: Sizing) -> list[dict[str, str]]:
    """The breakdown: one {'what', 'value', 'how'} row per figure behind the capacity."""
    shape, p95 = sizing.shape, sizing.p95_shape
    return [
        {"what": "GPUs per replica (tensor parallel)", "value": str(sizing.tp),
         "how": "the fewest of 1, 2, 4, 8 that hold the weights and one p95 request"},
        {"what": "Weights", "value": f"{sizing.weights_gb:.1f} GB",
         "how": "parameters x bytes per parameter (an MoE stores all its experts)"},
        {"what": "KV cache per token", "value": f"{sizing.kv_bytes_per_token / 1e3:.0f} KB",
         "how": "2 x layers x KV heads x head size x bytes per element"},
        {"what": "Memory left for the KV cache", "value": f"{sizing.kv_memory_gb:.1f} GB",
         "how": "90% of GPU memory - weights - runtime reserve, per replica"},
        {"what": "Request shape (mean)", "value": f"{compact(shape.input_tokens)} in / {compact(shape.output_tokens)} out",
         "how": f"tokens per request; {shape.cached_share:.0%} of input read from a prefix cache"},
        {"what": "Request shape (p95)", "value": f"{compact(p95.input_tokens)} in / {compact(p95.output_tokens)} out",
         "how": "sizes the KV cache and the p95 latency"},
        {"what": "Most requests at once", "value": str(sizing.max_concurrency),
         "how": "KV memory / (KV per token x p95 request tokens), capped by the engine's batch limit"},
        {"what": "Requests at once used", "value": str(sizing.concurrency_used),
         "how": "the highest that meets the latency targets"},
        {"what": "Time to first token (p95)", "value": f"{sizing.ttft_ms:,.0f} ms", "how": "prefill of the p95 prompt"},
        {"what": "End-to-end latency (p95)", "value": f"{sizing.latency_ms:,.0f} ms",
         "how": "first token + p95 answer tokens x decode step"},
        {"what": "Single-stream decode", "value": f"{compact(sizing.single_stream_tokens_per_s)} tokens/s",
         "how": "one request alone; never above memory bandwidth / bytes read per token"},
        {"what": "Requests/s per replica", "value": compact(sizing.requests_per_s_per_replica, 2),
         "how": "requests at once / end-to-end latency (continuous batching)"},
        {"what": "Requests/s per GPU", "value": compact(sizing.requests_per_s_per_gpu, 2),
         "how": f"per replica / {sizing.tp}; bound by {sizing.bound}"},
    ]


def constant_rows(sizing: Sizing) -> list[dict[str, str]]:
    """Every constant the answer used, with its source."""
    return [{"constant": name, "value": f"{value:g}", "source": source} for name, value, source in sizing.constants]


def probe_sentence(probe: ProbeMeasurement, predicted: Sizing | None) -> str:
    """A probe's measurement in words, with the sizing model's prediction for the same setup when
    the probe ran on a catalogue GPU, and whether the economics use it."""
    measured = ("no level kept p95 under its target" if probe.capacity_rps is None
                else f"{compact(probe.capacity_rps, 2)} requests/s")
    where = probe.hardware or "unknown hardware (name the GPU with `breakeven probe --gpu NAME`)"
    sentence = f"Probe of {probe.model} on {where}, {probe.measured_at:%Y-%m-%d}: {measured}"
    if predicted is not None:
        sentence += (f"; the sizing model predicts {compact(predicted.requests_per_s_per_replica, 2)} "
                     f"requests/s per replica for that model and GPU.")
    else:
        sentence += ("; not a catalogue GPU, so it is no GPU's capacity here (it measures the endpoint "
                     "you probed, not the GPU you would rent).")
    return sentence


def fit_rows(gpu_name: str, p95_shape: TokenShape) -> list[dict[str, str]]:
    """Every catalogue model: GPUs per replica on `gpu_name` at its published precision and at
    int4 for requests of `p95_shape` (`sizing.choose_tp`), or 'does not fit 8'."""
    gpu = catalogue.gpu(gpu_name)

    def replica(card, quant: str) -> str:
        try:
            return str(choose_tp(card, gpu, quant, p95_shape))
        except DoesNotFit:
            return "does not fit 8"

    return [{"model": card.display_name, "parameters (B)": f"{card.params_total_b:g}", "licence": card.licence,
             "GPUs, as published": f"{replica(card, card.native_quant)} ({card.native_quant})",
             "GPUs, int4": replica(card, "int4")} for card in model_cards()]


def gpu_option_rows(options: list[GpuOption], chosen: GpuOption | None) -> list[dict[str, str]]:
    """The 'which GPU' table: one row per GPU x mode, the recommended one marked."""
    return [{"": "recommended" if o is chosen else "", "GPU": o.gpu, "deployment": o.mode,
             "per month today": usd(o.monthly_usd), "savings today": usd(o.savings_usd),
             "GPUs": "–" if o.gpus is None else str(o.gpus),
             "requests/s per GPU": compact(o.capacity_rps_per_gpu, 2),
             "cheaper than the API from": "never" if o.monthly_usd is not None and o.first_cheaper_at is None
             else f"{compact(o.first_cheaper_at)}/day", "feasible": o.reason} for o in options]


def task_shape_rows(shapes: list[TaskTokenShape], scenario: Scenario) -> list[dict[str, str]]:
    """Per task type of the logs: its share, mean and p95 tokens in and out, and the requests/s per
    GPU the sizing model gives a workload of only that task on the scenario's setup, so a user
    sees why short classifications and long generations size so differently."""
    def capacity(shape: TaskTokenShape) -> str:
        try:
            sized = size(scenario.candidate_model, scenario.gpu, scenario.resolved_quantisation(),
                         scenario.tensor_parallel,
                         TokenShape(input_tokens=max(1.0, shape.input_tokens_mean),
                                    output_tokens=max(1.0, shape.output_tokens_mean), cached_share=shape.cached_share),
                         scenario.latency_targets,
                         TokenShape(input_tokens=max(1.0, shape.input_tokens_p95),
                                    output_tokens=max(1.0, shape.output_tokens_p95), cached_share=shape.cached_share))
        except UserError as error:
            return str(error)
        return compact(sized.requests_per_s_per_gpu, 2)

    return [{"task type": s.task_type, "share of requests": f"{s.share:.0%}",
             "tokens in (mean / p95)": f"{compact(s.input_tokens_mean)} / {compact(s.input_tokens_p95)}",
             "tokens out (mean / p95)": f"{compact(s.output_tokens_mean)} / {compact(s.output_tokens_p95)}",
             "requests/s per GPU if only this task": capacity(s)} for s in shapes]
