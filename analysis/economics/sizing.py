"""Capacity of a self-hosted model from first principles: a roofline model of one serving replica
(`tp` GPUs in tensor parallel), calibrated on published benchmarks (`data/benchmarks.json`, see
`analysis.economics.benchmarks`). Pure functions; every constant below names its source.

Units: bytes and seconds inside, GB = 1e9 bytes (the catalogue's `memory_gb` is read as decimal GB,
a few % below the GiB a card really has: conservative), FLOP/s from the catalogue's dense peaks.

The model, per replica (a replica = `tp` GPUs; `W` weight bytes, `A` active parameters, `kv` KV
bytes per token, `bw` = tp x memory bandwidth, `peak` = tp x peak FLOP/s of the compute dtype):

- Weights: W = params_total x bytes per parameter (MoE: memory by TOTAL parameters).
- KV cache per token: kv = 2 (K and V) x layers x max(kv_heads, tp) x head_dim x bytes per KV
  element (KV heads are replicated when tp exceeds them, as vLLM does).
- KV room: tp x memory x USABLE_MEMORY_FRACTION - W - tp x RUNTIME_RESERVE_GB; the largest
  concurrency = floor(room / (kv x (input + output tokens of the p95 request))), capped at the
  engine's max batch (`engine_max_batch`).
- Weight bytes read by a forward pass over `n` tokens: dense W; MoE: the shared part plus the
  experts those tokens touch, E x (1 - (1 - k/E)^n) of E with top-k routing spread uniformly (one
  token reads only its k experts: why an MoE decodes far faster than a dense model of its size).
- Prefill of one request (n new = uncached input tokens, c cached ones): compute-bound,
  FLOPs = 2 x A x n + 2 x layers x q_dim x ((n + c)^2 - c^2) (causal attention, q_dim = heads x
  head_dim); time = max(FLOPs / (peak x PREFILL eff), weights read / (bw x BANDWIDTH eff)) + comm.
- Decode step at batch B with an average context of L tokens (input + output / 2):
  max((weights read by B tokens + B x L x kv) / (bw x BANDWIDTH eff),
      B x (2 x A + 4 x layers x q_dim x L) / (peak x DECODE eff)) + comm:
  memory-bound below the ridge point, compute-bound past it.
- Tensor-parallel communication (tp > 1): two all-reduces of the hidden state per layer (after
  attention and after the MLP, Megatron-style), each ALLREDUCE_LATENCY_S + 2 (tp - 1) / tp x
  tokens x hidden_size x 2 bytes / interconnect bandwidth each way (ring all-reduce).
- Continuous batching at concurrency B: each iteration decodes one token for each of the B running
  requests and also runs the prefill compute of the (B - 1) / output requests that replace the
  finishing ones (each request lives `output` iterations): iteration(B) = decode step(B) +
  (B - 1) / output x prefill compute of one request (added, not hidden under a memory-bound decode
  step: conservative there, exact once decode is compute-bound). TTFT(B) = prefill of the request alone, plus
  one iteration(B) it waits for when B > 1. End-to-end(B) = TTFT(B) + (output - 1) x iteration(B).
  Throughput = B / end-to-end(B) requests/s, on the MEAN shape.
- p95: the KV room is sized for the p95 request (input + output); TTFT p95 is the prefill of the
  p95 input; end-to-end p95 adds (p95 output - 1) iterations; iterations themselves use the mean
  shape (a batch mixes many requests). Without a p95 shape, the mean shape stands for both.
- Requests/s per replica: the throughput at the HIGHEST concurrency among powers of two and the cap
  whose TTFT p95 and end-to-end p95 meet the targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from analysis.economics.catalogue import Gpu
from analysis.economics.catalogue import gpu as gpu_named
from analysis.economics.models import ModelCard, model_card
from analysis.errors import UserError

GB = 1e9

BYTES_PER_PARAMETER: dict[str, float] = {
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    # 4-bit weights + one fp16 scale per group of 128 (AWQ/GPTQ default group_size=128):
    # (4 + 16/128) / 8 = 0.516 bytes.
    "int4": (4 + 16 / 128) / 8,
    # OCP Microscaling MXFP4: 4-bit E2M1 elements + one 8-bit E8M0 scale per block of 32
    # (OCP MX spec v1.0, 2023-09): (4 + 8/32) / 8 = 0.531 bytes.
    "mxfp4": (4 + 8 / 32) / 8,
}
"""Bytes per weight. Embeddings and layers a quantiser leaves in bf16 are ignored (a few %)."""

KV_BYTES_PER_ELEMENT: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}
"""KV-cache element size: bf16 by default; fp8 with vLLM's --kv-cache-dtype fp8."""

USABLE_MEMORY_FRACTION = 0.9
"""vLLM's --gpu-memory-utilization default: the share of each GPU's memory vLLM takes for weights,
activations and KV cache (docs.vllm.ai engine arguments, as of v0.11, 2025-10)."""

RUNTIME_RESERVE_GB = 1.5
"""Activations and non-torch memory per GPU, outside weights and KV: vLLM's memory profile logs
'PyTorch activation peak memory takes 1.19GiB; non_torch_memory takes 0.12GiB' for Llama 3.1 8B on
an H100 (vllm/worker/worker.py determine_num_available_blocks log line, 2024-12). Larger models
with larger batched-token budgets take more: an approximation."""

ALLREDUCE_LATENCY_S = 10e-6
"""Fixed cost of one small all-reduce: vLLM's custom all-reduce measured 8.5-11.8 us for
0.5-32 KB at tp 2/4/8 on H100 (sgl-project/sglang PR #2904, 2025-01)."""

PCIE_GBS = 64.0
"""Bidirectional interconnect bandwidth when the catalogue names none: PCIe 4.0 x16, 16 GT/s x 16
lanes ~ 32 GB/s each way (PCI-SIG PCIe 4.0 base specification, 2017)."""

ENGINE_MAX_BATCH_DEFAULT = 256
ENGINE_MAX_BATCH_LARGE_GPU = 1024
"""vLLM's default max_num_seqs for the OpenAI server: 1024 on GPUs with >= 70 GiB that are not
A100s, 256 otherwise (vllm/engine/arg_utils.py EngineArgs.get_batch_defaults, v0.8-v0.11, 2025)."""

LARGE_GPU_BYTES = 70 * 2**30

TENSOR_PARALLEL_DEGREES = (1, 2, 4, 8)
"""The degrees size() tries, smallest first: one 8-GPU node at most."""

SATURATION_ELASTICITY = 0.10
"""When the last step up in concurrency turned less than this share of its relative increase into
extra throughput (a doubling adding < 10%), the replica itself (compute or bandwidth), not the cap
on concurrency, is what bounds it. A modelling threshold, not a measurement."""


@dataclass(frozen=True)
class Efficiency:
    """Achieved / peak: memory bandwidth in decode, FLOP/s in prefill and in batched decode."""
    bandwidth: float
    prefill_compute: float
    decode_compute: float


CALIBRATED = Efficiency(bandwidth=0.54, prefill_compute=0.29, decode_compute=0.24)
"""Fitted on data/benchmarks.json by `analysis.economics.benchmarks.fit_efficiency` (method there:
the median measured / predicted ratio per regime). tests/test_sizing.py checks this stays the fit."""


class SizingError(UserError):
    """A sizing request the model cannot answer, told in one line."""


class UnknownQuantisation(SizingError):
    """A quantisation (weights or KV cache) this model has no bytes-per-element for."""


class MissingGpuSpec(SizingError):
    """The GPU entry lacks memory bandwidth or peak FLOP/s."""


class InvalidWorkload(SizingError):
    """A token shape or latency target out of range."""


class DoesNotFit(SizingError):
    """The weights plus KV room for one request do not fit the replica."""


@dataclass(frozen=True)
class TokenShape:
    """Tokens per request: input (prompt), output (answer) and the share of input tokens read from
    the prefix cache (they skip prefill compute)."""
    input_tokens: float
    output_tokens: float
    cached_share: float = 0.0

    def __post_init__(self) -> None:
        if not (self.input_tokens >= 0 and self.output_tokens >= 1 and 0 <= self.cached_share <= 1):
            raise InvalidWorkload(
                "a token shape needs input_tokens >= 0, output_tokens >= 1 and cached_share in [0, 1], got "
                f"{self.input_tokens}, {self.output_tokens}, {self.cached_share}")

    @property
    def new_input_tokens(self) -> float:
        """Input tokens prefill must compute: uncached ones, at least 1 (the last token is always
        computed to produce the first output token)."""
        return max(1.0, self.input_tokens * (1 - self.cached_share))

    @property
    def decode_context(self) -> float:
        """Average context a decode step attends to: input + output / 2."""
        return self.input_tokens + self.output_tokens / 2


@dataclass(frozen=True)
class LatencyTargets:
    """p95 ceilings in milliseconds; None = no ceiling."""
    ttft_p95_ms: float | None = 2000.0
    latency_p95_ms: float | None = 30000.0

    def __post_init__(self) -> None:
        for value in (self.ttft_p95_ms, self.latency_p95_ms):
            if value is not None and not value > 0:
                raise InvalidWorkload(f"latency targets must be > 0 ms or None, got {value}")

    def met(self, ttft_ms: float, latency_ms: float) -> bool:
        """True when both p95 values are within their ceilings."""
        return ((self.ttft_p95_ms is None or ttft_ms <= self.ttft_p95_ms)
                and (self.latency_p95_ms is None or latency_ms <= self.latency_p95_ms))


DEFAULT_TARGETS = LatencyTargets()
"""Interactive defaults: TTFT p95 <= 2 s (a chat user sees the answer start) and end-to-end p95
<= 30 s (a common client timeout); product choices, not measurements."""

NO_TARGETS = LatencyTargets(ttft_p95_ms=None, latency_p95_ms=None)
"""Offline/batch work: only memory and the engine cap concurrency."""


@dataclass(frozen=True)
class Performance:
    """One replica at one concurrency (module formulas). Latencies are p95; throughput uses the mean
    shape. `compute_bound` says which side of the roofline the iteration is on."""
    concurrency: int
    requests_per_s: float
    ttft_ms: float
    latency_ms: float
    iteration_ms: float
    compute_bound: bool


@dataclass(frozen=True)
class Sizing:
    """The answer of `size()`. `fits` is always True: a replica that cannot hold the weights and
    one p95 request is refused with DoesNotFit instead. `requests_per_s_per_gpu` = per replica / tp
    (GPUs count as whole replicas). `ttft_ms` and `latency_ms` are p95 at `concurrency_used`;
    `meets_targets` is False only when even one request at a time misses a target. `bound` is
    what stopped concurrency: 'latency target', 'KV-cache memory' or 'engine max batch' (its cap
    reached while throughput still grew), or 'compute' / 'memory bandwidth' (the cap reached with
    throughput already flat: the replica itself is the limit). `constants` lists (name, value,
    source) for every constant the answer used."""
    model: str
    gpu: str
    quant: str
    tp: int
    fits: bool
    weights_gb: float
    kv_bytes_per_token: float
    kv_memory_gb: float
    max_concurrency: int
    concurrency_used: int
    requests_per_s_per_replica: float
    requests_per_s_per_gpu: float
    ttft_ms: float
    latency_ms: float
    single_stream_tokens_per_s: float
    bound: str
    meets_targets: bool
    shape: TokenShape
    p95_shape: TokenShape
    constants: tuple[tuple[str, float, str], ...]


def bytes_per_parameter(quant: str) -> float:
    """Bytes per weight for `quant` (BYTES_PER_PARAMETER); UnknownQuantisation otherwise."""
    try:
        return BYTES_PER_PARAMETER[quant]
    except KeyError:
        raise UnknownQuantisation(
            f"unknown quantisation {quant!r}; known: {', '.join(BYTES_PER_PARAMETER)}") from None


def weights_bytes(model: ModelCard, quant: str) -> float:
    """params_total x bytes per parameter (all experts of an MoE must sit in memory)."""
    return model.params_total_b * 1e9 * bytes_per_parameter(quant)


def kv_bytes_per_token(model: ModelCard, kv_quant: str = "bf16", tp: int = 1) -> float:
    """2 (K and V) x layers x max(kv_heads, tp) x head_dim x bytes per element, over the replica."""
    if kv_quant not in KV_BYTES_PER_ELEMENT:
        raise UnknownQuantisation(
            f"unknown KV-cache dtype {kv_quant!r}; known: {', '.join(KV_BYTES_PER_ELEMENT)}")
    return 2 * model.layers * max(model.kv_heads, tp) * model.head_dim * KV_BYTES_PER_ELEMENT[kv_quant]


def weights_read_bytes(model: ModelCard, quant: str, tokens: float) -> float:
    """Weight bytes one forward pass over `tokens` tokens reads (module docstring: MoE experts
    touched under uniform top-k routing; dense: all of W)."""
    total = weights_bytes(model, quant)
    if not model.is_moe or not model.experts_total or not model.experts_active:
        return total
    experts, chosen = model.experts_total, model.experts_active
    expert_bytes = (model.params_total_b - model.params_active_b) / (experts - chosen) * 1e9 * bytes_per_parameter(quant)
    touched = experts * (1 - (1 - chosen / experts) ** max(tokens, 1.0))
    return total - experts * expert_bytes + touched * expert_bytes


def engine_max_batch(gpu: Gpu) -> int:
    """vLLM's default max_num_seqs on this GPU (ENGINE_MAX_BATCH_* constants)."""
    large = gpu.memory_gb * GB >= LARGE_GPU_BYTES and "a100" not in gpu.name.casefold()
    return ENGINE_MAX_BATCH_LARGE_GPU if large else ENGINE_MAX_BATCH_DEFAULT


def require_specs(gpu: Gpu) -> None:
    """MissingGpuSpec unless the entry has the memory bandwidth and bf16 peak the model needs."""
    if gpu.bf16_tflops is None or gpu.memory_bandwidth_gbs is None:
        raise MissingGpuSpec(f"GPU {gpu.name!r} has no memory bandwidth or bf16 peak in the catalogue")


def peak_flops(gpu: Gpu, quant: str) -> float:
    """Dense peak FLOP/s of one GPU in the dtype the matmuls run in: fp8 weights use fp8 tensor
    cores and int8 weights int8 ones where the card has them (W8A8); everything else (bf16, and
    weight-only int4/mxfp4 that dequantise to bf16) runs at the bf16 peak."""
    require_specs(gpu)
    if quant == "fp8" and gpu.fp8_tflops:
        return gpu.fp8_tflops * 1e12
    if quant == "int8" and gpu.int8_tops:
        return gpu.int8_tops * 1e12
    return gpu.bf16_tflops * 1e12


def interconnect_bytes_per_s(gpu: Gpu) -> float:
    """Bandwidth each way: half the catalogue's bidirectional `interconnect_gbs` (else PCIE_GBS); a
    ring all-reduce sends and receives at once."""
    return (gpu.interconnect_gbs or PCIE_GBS) / 2 * GB


def allreduce_seconds(model: ModelCard, gpu: Gpu, tp: int, tokens: float) -> float:
    """Per forward pass over `tokens` tokens: layers x 2 x (ALLREDUCE_LATENCY_S + 2 (tp-1)/tp x
    tokens x hidden_size x 2 bytes / interconnect); 0 on one GPU."""
    if tp == 1:
        return 0.0
    volume = 2 * (tp - 1) / tp * tokens * model.hidden_size * 2
    return model.layers * 2 * (ALLREDUCE_LATENCY_S + volume / interconnect_bytes_per_s(gpu))


def kv_memory_bytes(model: ModelCard, gpu: Gpu, quant: str, tp: int) -> float:
    """tp x memory x USABLE_MEMORY_FRACTION - weights - tp x RUNTIME_RESERVE_GB (may be < 0)."""
    return tp * gpu.memory_gb * GB * USABLE_MEMORY_FRACTION - weights_bytes(model, quant) - tp * RUNTIME_RESERVE_GB * GB


def _query_dim(model: ModelCard) -> int:
    return model.attention_heads * model.head_dim


def prefill_compute_seconds(model: ModelCard, gpu: Gpu, quant: str, tp: int, shape: TokenShape,
                            efficiency: Efficiency) -> float:
    """(2 x A x n + 2 x layers x q_dim x ((n + c)^2 - c^2)) / (tp x peak x prefill efficiency)."""
    new = shape.new_input_tokens
    cached = shape.input_tokens - new if shape.input_tokens > new else 0.0
    flops = (2 * model.params_active_b * 1e9 * new
             + 2 * model.layers * _query_dim(model) * ((new + cached) ** 2 - cached ** 2))
    return flops / (tp * peak_flops(gpu, quant) * efficiency.prefill_compute)


def prefill_seconds(model: ModelCard, gpu: Gpu, quant: str, tp: int, shape: TokenShape,
                    efficiency: Efficiency = CALIBRATED) -> float:
    """One request's prefill alone: max(compute, weights read / bandwidth) + all-reduces."""
    memory = weights_read_bytes(model, quant, shape.new_input_tokens) / (
        tp * gpu.memory_bandwidth_gbs * GB * efficiency.bandwidth)
    compute = prefill_compute_seconds(model, gpu, quant, tp, shape, efficiency)
    return max(compute, memory) + allreduce_seconds(model, gpu, tp, shape.new_input_tokens)


def decode_step_parts(model: ModelCard, gpu: Gpu, quant: str, tp: int, batch: int, context_tokens: float,
                      efficiency: Efficiency = CALIBRATED, kv_quant: str = "bf16") -> tuple[float, float]:
    """(memory seconds, compute seconds) of one decode step at `batch` (module docstring)."""
    kv = kv_bytes_per_token(model, kv_quant, tp)
    memory = (weights_read_bytes(model, quant, batch) + batch * context_tokens * kv) / (
        tp * gpu.memory_bandwidth_gbs * GB * efficiency.bandwidth)
    flops = batch * (2 * model.params_active_b * 1e9 + 4 * model.layers * _query_dim(model) * context_tokens)
    return memory, flops / (tp * peak_flops(gpu, quant) * efficiency.decode_compute)


def decode_step_seconds(model: ModelCard, gpu: Gpu, quant: str, tp: int, batch: int, context_tokens: float,
                        efficiency: Efficiency = CALIBRATED, kv_quant: str = "bf16") -> float:
    """max(memory, compute) + all-reduces for `batch` tokens."""
    memory, compute = decode_step_parts(model, gpu, quant, tp, batch, context_tokens, efficiency, kv_quant)
    return max(memory, compute) + allreduce_seconds(model, gpu, tp, batch)


def single_stream_tokens_per_s(model: ModelCard, gpu: Gpu, quant: str, tp: int, shape: TokenShape,
                               efficiency: Efficiency = CALIBRATED, kv_quant: str = "bf16") -> float:
    """1 / decode step(1): never above tp x bandwidth / bytes read per token."""
    return 1 / decode_step_seconds(model, gpu, quant, tp, 1, shape.decode_context, efficiency, kv_quant)


def performance(model: ModelCard, gpu: Gpu, quant: str, tp: int, shape: TokenShape, concurrency: int,
                p95_shape: TokenShape | None = None, efficiency: Efficiency = CALIBRATED,
                kv_quant: str = "bf16") -> Performance:
    """One replica at `concurrency` requests in flight (continuous batching, module docstring)."""
    p95 = p95_shape or shape
    batch = concurrency
    memory, decode_compute = decode_step_parts(model, gpu, quant, tp, batch, shape.decode_context, efficiency, kv_quant)
    interleaved = (batch - 1) / shape.output_tokens
    prefill_compute = interleaved * prefill_compute_seconds(model, gpu, quant, tp, shape, efficiency)
    iteration = (max(memory, decode_compute) + prefill_compute
                 + allreduce_seconds(model, gpu, tp, batch + interleaved * shape.new_input_tokens))
    wait = iteration if batch > 1 else 0.0
    ttft_mean = prefill_seconds(model, gpu, quant, tp, shape, efficiency) + wait
    ttft_p95 = prefill_seconds(model, gpu, quant, tp, p95, efficiency) + wait
    latency_mean = ttft_mean + (shape.output_tokens - 1) * iteration
    latency_p95 = ttft_p95 + (p95.output_tokens - 1) * iteration
    return Performance(
        concurrency=batch, requests_per_s=batch / latency_mean, ttft_ms=ttft_p95 * 1000,
        latency_ms=latency_p95 * 1000, iteration_ms=iteration * 1000,
        compute_bound=decode_compute + prefill_compute > memory)


def kv_capacity(model: ModelCard, gpu: Gpu, quant: str, tp: int, p95_shape: TokenShape,
                kv_quant: str = "bf16") -> int:
    """floor(KV room / (kv per token x (p95 input + p95 output))): p95 requests the KV cache holds
    (negative when the weights alone overflow)."""
    per_request = kv_bytes_per_token(model, kv_quant, tp) * (p95_shape.input_tokens + p95_shape.output_tokens)
    return math.floor(kv_memory_bytes(model, gpu, quant, tp) / per_request)


def max_concurrency(model: ModelCard, gpu: Gpu, quant: str, tp: int, p95_shape: TokenShape,
                    kv_quant: str = "bf16") -> int:
    """min(kv_capacity, engine max batch); 0 when not even one p95 request fits."""
    return max(0, min(kv_capacity(model, gpu, quant, tp, p95_shape, kv_quant), engine_max_batch(gpu)))


def fits(model: ModelCard, gpu: Gpu, quant: str, tp: int, p95_shape: TokenShape, kv_quant: str = "bf16") -> bool:
    """True when the replica holds the weights plus KV for one p95 request."""
    return max_concurrency(model, gpu, quant, tp, p95_shape, kv_quant) >= 1


def _needed_gb(model: ModelCard, quant: str, tp: int, p95_shape: TokenShape, kv_quant: str) -> float:
    one_request = kv_bytes_per_token(model, kv_quant, tp) * (p95_shape.input_tokens + p95_shape.output_tokens)
    return (weights_bytes(model, quant) + tp * RUNTIME_RESERVE_GB * GB + one_request) / USABLE_MEMORY_FRACTION / GB


def _refusal(model: ModelCard, gpu: Gpu, quant: str, tp: int, p95_shape: TokenShape, kv_quant: str) -> DoesNotFit:
    need = _needed_gb(model, quant, tp, p95_shape, kv_quant)
    return DoesNotFit(
        f"{model.name} at {quant} does not fit {tp} x {gpu.name}: needs {need:,.1f} GB (weights "
        f"{weights_bytes(model, quant) / GB:,.1f} GB + KV for one {p95_shape.input_tokens:,.0f}+"
        f"{p95_shape.output_tokens:,.0f}-token request + {RUNTIME_RESERVE_GB} GB runtime per GPU, "
        f"{USABLE_MEMORY_FRACTION:.0%} of memory usable), {tp} x {gpu.memory_gb:,.0f} GB = "
        f"{tp * gpu.memory_gb:,.0f} GB")


def choose_tp(model: ModelCard, gpu: Gpu, quant: str, p95_shape: TokenShape, kv_quant: str = "bf16") -> int:
    """The smallest degree in TENSOR_PARALLEL_DEGREES that divides the attention heads (vLLM's rule)
    and whose replica fits; DoesNotFit beyond 8 GPUs, with the reason."""
    for tp in TENSOR_PARALLEL_DEGREES:
        if model.attention_heads % tp == 0 and fits(model, gpu, quant, tp, p95_shape, kv_quant):
            return tp
    raise _refusal(model, gpu, quant, TENSOR_PARALLEL_DEGREES[-1], p95_shape, kv_quant)


def _concurrencies(cap: int) -> tuple[int, ...]:
    powers = tuple(2 ** i for i in range(cap.bit_length()) if 2 ** i < cap)
    return (*powers, cap)


def _bound(chosen: Performance, previous: Performance | None, rejected: bool, kv_cap: int, engine_cap: int) -> str:
    if rejected:
        return "latency target"
    saturated = previous is not None and (
        (chosen.requests_per_s / previous.requests_per_s - 1)
        < SATURATION_ELASTICITY * (chosen.concurrency / previous.concurrency - 1))
    if saturated:
        return "compute" if chosen.compute_bound else "memory bandwidth"
    return "engine max batch" if chosen.concurrency == engine_cap and engine_cap < kv_cap else "KV-cache memory"


def _constants(model: ModelCard, gpu: Gpu, quant: str, kv_quant: str, tp: int,
               efficiency: Efficiency) -> tuple[tuple[str, float, str], ...]:
    engine = engine_max_batch(gpu)
    used = [
        ("bytes per parameter", bytes_per_parameter(quant), f"{quant}: BYTES_PER_PARAMETER (analysis/economics/sizing.py)"),
        ("KV bytes per element", KV_BYTES_PER_ELEMENT[kv_quant], f"{kv_quant} KV cache"),
        ("usable memory fraction", USABLE_MEMORY_FRACTION, "vLLM --gpu-memory-utilization default (2025-10)"),
        ("runtime reserve GB per GPU", RUNTIME_RESERVE_GB, "vLLM memory-profile log, Llama 3.1 8B on H100 (2024-12)"),
        ("engine max batch", engine, "vLLM default max_num_seqs (arg_utils.get_batch_defaults, 2025)"),
        ("memory bandwidth GB/s per GPU", gpu.memory_bandwidth_gbs, gpu.spec_source or "GPU catalogue"),
        ("peak TFLOP/s per GPU", peak_flops(gpu, quant) / 1e12, gpu.spec_source or "GPU catalogue"),
        ("bandwidth efficiency", efficiency.bandwidth, "fitted on data/benchmarks.json"),
        ("prefill compute efficiency", efficiency.prefill_compute, "fitted on data/benchmarks.json"),
        ("decode compute efficiency", efficiency.decode_compute, "fitted on data/benchmarks.json"),
        ("parameters total (B)", model.params_total_b, model.source),
        ("parameters active (B)", model.params_active_b, model.source),
    ]
    if tp > 1:
        used += [("all-reduce latency s", ALLREDUCE_LATENCY_S, "sgl-project/sglang PR #2904, H100 (2025-01)"),
                 ("interconnect GB/s each way", interconnect_bytes_per_s(gpu) / GB,
                  gpu.interconnect or "PCIe 4.0 x16 (PCI-SIG, 2017)")]
    return tuple(used)


def size(model: ModelCard | str, gpu: Gpu | str, quant: str = "bf16", tp: int | None = None,
         shape: TokenShape = TokenShape(input_tokens=500, output_tokens=200),
         targets: LatencyTargets = DEFAULT_TARGETS, p95_shape: TokenShape | None = None,
         kv_quant: str = "bf16", efficiency: Efficiency = CALIBRATED) -> Sizing:
    """Size one replica of `model` on `gpu` (names or entries): tp (smallest that fits when None;
    DoesNotFit when a given tp does not), KV capacity, and the requests/s it serves at the highest
    concurrency meeting `targets` (module docstring). Cached: inputs are frozen dataclasses."""
    card = model_card(model) if isinstance(model, str) else model
    entry = gpu_named(gpu) if isinstance(gpu, str) else gpu
    return _size(card, entry, quant, tp, shape, targets, p95_shape or shape, kv_quant, efficiency)


@lru_cache(maxsize=4096)
def _size(model: ModelCard, gpu: Gpu, quant: str, tp: int | None, shape: TokenShape, targets: LatencyTargets,
          p95_shape: TokenShape, kv_quant: str, efficiency: Efficiency) -> Sizing:
    require_specs(gpu)
    if tp is None:
        tp = choose_tp(model, gpu, quant, p95_shape, kv_quant)
    elif tp < 1:
        raise InvalidWorkload(f"tensor-parallel degree must be >= 1, got {tp}")
    elif not fits(model, gpu, quant, tp, p95_shape, kv_quant):
        raise _refusal(model, gpu, quant, tp, p95_shape, kv_quant)
    cap = max_concurrency(model, gpu, quant, tp, p95_shape, kv_quant)
    chosen: Performance | None = None
    previous: Performance | None = None
    rejected = False
    for batch in _concurrencies(cap):
        candidate = performance(model, gpu, quant, tp, shape, batch, p95_shape, efficiency, kv_quant)
        if chosen is not None and not targets.met(candidate.ttft_ms, candidate.latency_ms):
            rejected = True
            break
        previous, chosen = chosen, candidate
    assert chosen is not None
    return Sizing(
        model=model.name, gpu=gpu.name, quant=quant, tp=tp, fits=True,
        weights_gb=weights_bytes(model, quant) / GB,
        kv_bytes_per_token=kv_bytes_per_token(model, kv_quant, tp),
        kv_memory_gb=kv_memory_bytes(model, gpu, quant, tp) / GB,
        max_concurrency=cap, concurrency_used=chosen.concurrency,
        requests_per_s_per_replica=chosen.requests_per_s,
        requests_per_s_per_gpu=chosen.requests_per_s / tp,
        ttft_ms=chosen.ttft_ms, latency_ms=chosen.latency_ms,
        single_stream_tokens_per_s=single_stream_tokens_per_s(model, gpu, quant, tp, shape, efficiency, kv_quant),
        bound=_bound(chosen, previous, rejected or not targets.met(chosen.ttft_ms, chosen.latency_ms),
                     kv_capacity(model, gpu, quant, tp, p95_shape, kv_quant), engine_max_batch(gpu)),
        meets_targets=targets.met(chosen.ttft_ms, chosen.latency_ms),
        shape=shape, p95_shape=p95_shape,
        constants=_constants(model, gpu, quant, kv_quant, tp, efficiency))
