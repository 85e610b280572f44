"""analysis.economics.sizing: the roofline capacity model, by hand on GPUs and model cards built
here (independent of the catalogues), and its calibration against data/benchmarks.json."""

from __future__ import annotations

import math
import re
import statistics
import time

import pytest

from analysis.economics import benchmarks, sizing
from analysis.economics.catalogue import Gpu, PriceSource, gpu
from analysis.economics.models import ModelCard, model_card
from analysis.economics.sizing import (
    CALIBRATED,
    NO_TARGETS,
    DoesNotFit,
    LatencyTargets,
    TokenShape,
    UnknownQuantisation,
    size,
)
from analysis.errors import UserError

GB = 1e9
EFF = CALIBRATED


def card(name: str, params_b: float, layers: int, hidden: int, heads: int, kv_heads: int, head_dim: int = 128,
         active_b: float | None = None, experts: tuple[int, int] | None = None) -> ModelCard:
    return ModelCard(
        name=name, display_name=name, aliases=(), family="test", params_total_b=params_b,
        params_active_b=active_b if active_b is not None else params_b, layers=layers, hidden_size=hidden,
        attention_heads=heads, kv_heads=kv_heads, head_dim=head_dim, context_window=131072, licence="test",
        native_quant="bf16", source="built by hand in tests", as_of="2025-01",
        experts_total=experts[0] if experts else None, experts_active=experts[1] if experts else None)


def card_gpu(name: str, memory_gb: float, bandwidth_gbs: float, bf16_tflops: float, fp8_tflops: float | None = None,
             interconnect_gbs: float = 64) -> Gpu:
    return Gpu(name=name, memory_gb=memory_gb, hourly_usd=1.0,
               price_source=PriceSource(provider="test", citation="test", as_listed="2025-01"),
               memory_bandwidth_gbs=bandwidth_gbs,
               bf16_tflops=bf16_tflops, fp8_tflops=fp8_tflops, int8_tops=fp8_tflops,
               interconnect="test link", interconnect_gbs=interconnect_gbs)


DENSE_8B = card("dense-8b", 8.0, layers=32, hidden=4096, heads=32, kv_heads=8)
DENSE_32B = card("dense-32b", 32.8, layers=64, hidden=5120, heads=64, kv_heads=8)
DENSE_70B = card("dense-70b", 70.6, layers=80, hidden=8192, heads=64, kv_heads=8)
DENSE_405B = card("dense-405b", 405.0, layers=126, hidden=16384, heads=128, kv_heads=8)
MOE_30B_A3B = card("moe-30b-a3b", 30.5, layers=48, hidden=2048, heads=32, kv_heads=4, active_b=3.3, experts=(128, 8))
H100_SXM = card_gpu("H100 SXM", 80, bandwidth_gbs=3350, bf16_tflops=989, fp8_tflops=1979, interconnect_gbs=900)
L4_LIKE = card_gpu("L4-like", 24, bandwidth_gbs=300, bf16_tflops=121, fp8_tflops=242.5)
T4_LIKE = card_gpu("T4-like", 16, bandwidth_gbs=320, bf16_tflops=65, interconnect_gbs=32)


def test_memory_bound_decode_by_hand():
    # 8B bf16 on an H100: 16 GB of weights read per token at 3350 GB/s x the bandwidth efficiency.
    shape = TokenShape(input_tokens=0, output_tokens=2)  # decode context 1 token: KV reads negligible
    kv_per_token = 2 * 32 * 8 * 128 * 2  # K and V x layers x kv_heads x head_dim x bf16
    assert sizing.kv_bytes_per_token(DENSE_8B) == kv_per_token == 131_072
    step = (16e9 + kv_per_token * 1) / (3350e9 * EFF.bandwidth)
    compute = (2 * 8e9 + 4 * 32 * 4096 * 1) / (989e12 * EFF.decode_compute)
    assert compute < step  # memory-bound at batch 1
    tokens_per_s = sizing.single_stream_tokens_per_s(DENSE_8B, H100_SXM, "bf16", 1, shape)
    assert tokens_per_s == pytest.approx(1 / step, rel=1e-9)
    assert 3350 / 16 * 0.4 < tokens_per_s < 3350 / 16  # a sane share of the 209 tokens/s roofline


def test_single_stream_never_beats_the_bandwidth_limit():
    """tokens/s <= tp x bandwidth / bytes read per token, for every card, model, quant and tp."""
    shape = TokenShape(input_tokens=2000, output_tokens=500)
    for model in (DENSE_8B, DENSE_70B, MOE_30B_A3B):
        for entry in (H100_SXM, L4_LIKE, T4_LIKE):
            for quant in ("bf16", "fp8", "int4", "mxfp4"):
                for tp in (1, 2, 8):
                    read = (sizing.weights_read_bytes(model, quant, 1)
                            + shape.decode_context * sizing.kv_bytes_per_token(model, "bf16", tp))
                    limit = tp * entry.memory_bandwidth_gbs * GB / read
                    assert sizing.single_stream_tokens_per_s(model, entry, quant, tp, shape) <= limit


def test_compute_bound_prefill_by_hand():
    shape = TokenShape(input_tokens=4000, output_tokens=100)
    flops = 2 * 8e9 * 4000 + 2 * 32 * (32 * 128) * 4000**2  # linear layers + causal attention
    compute = flops / (989e12 * EFF.prefill_compute)
    weights_read = 16e9 / (3350e9 * EFF.bandwidth)
    assert compute > 10 * weights_read  # compute-bound
    assert sizing.prefill_seconds(DENSE_8B, H100_SXM, "bf16", 1, shape) == pytest.approx(compute, rel=1e-9)
    # cached prefix tokens skip prefill compute
    cached = TokenShape(input_tokens=4000, output_tokens=100, cached_share=0.75)
    assert sizing.prefill_seconds(DENSE_8B, H100_SXM, "bf16", 1, cached) < compute / 3


def test_kv_limited_batch_by_hand():
    # 8B bf16 on a 24 GB card: 24 x 0.9 - 16 - 1.5 = 4.1 GB of KV; a 1000 + 1000 token request
    # needs 2000 x 131,072 B = 262.1 MB, so 15 requests fit.
    shape = TokenShape(input_tokens=1000, output_tokens=1000)
    room = 24 * 0.9 * GB - 16 * GB - 1.5 * GB
    assert sizing.kv_memory_bytes(DENSE_8B, L4_LIKE, "bf16", 1) == pytest.approx(room)
    assert math.floor(room / (2000 * 131_072)) == 15
    result = size(DENSE_8B, L4_LIKE, "bf16", shape=shape, targets=NO_TARGETS)
    assert (result.tp, result.max_concurrency, result.concurrency_used) == (1, 15, 15)
    assert result.bound == "KV-cache memory"
    assert result.kv_memory_gb == pytest.approx(4.1)


def test_p95_shape_sizes_the_kv_and_the_tail_latency():
    mean = TokenShape(input_tokens=500, output_tokens=200)
    p95 = TokenShape(input_tokens=2000, output_tokens=800)
    with_tail = size(DENSE_8B, L4_LIKE, "bf16", shape=mean, p95_shape=p95, targets=NO_TARGETS)
    mean_only = size(DENSE_8B, L4_LIKE, "bf16", shape=mean, targets=NO_TARGETS)
    assert with_tail.max_concurrency == math.floor(4.1e9 / (2800 * 131_072))
    assert with_tail.max_concurrency < mean_only.max_concurrency
    at_one = sizing.performance(DENSE_8B, L4_LIKE, "bf16", 1, mean, 1, p95_shape=p95)
    assert at_one.ttft_ms == pytest.approx(sizing.prefill_seconds(DENSE_8B, L4_LIKE, "bf16", 1, p95) * 1000)
    assert at_one.latency_ms > sizing.performance(DENSE_8B, L4_LIKE, "bf16", 1, mean, 1).latency_ms


def test_moe_memory_by_total_compute_by_active():
    shape = TokenShape(input_tokens=500, output_tokens=200)
    moe = size(MOE_30B_A3B, H100_SXM, "bf16", shape=shape, targets=NO_TARGETS)
    dense = size(DENSE_32B, H100_SXM, "bf16", shape=shape, targets=NO_TARGETS)
    assert moe.weights_gb == pytest.approx(61.0)  # all 30.5B parameters sit in memory
    assert dense.weights_gb == pytest.approx(65.6)
    # one token reads the shared weights and 8 of 128 experts: about the 3.3B active parameters
    assert sizing.weights_read_bytes(MOE_30B_A3B, "bf16", 1) == pytest.approx(3.3e9 * 2)
    # ... a full batch touches nearly all of them
    assert sizing.weights_read_bytes(MOE_30B_A3B, "bf16", 512) == pytest.approx(61e9, rel=0.01)
    assert moe.single_stream_tokens_per_s > 5 * dense.single_stream_tokens_per_s
    assert moe.requests_per_s_per_gpu > 3 * dense.requests_per_s_per_gpu
    prefill = TokenShape(input_tokens=100, output_tokens=1)
    assert (sizing.prefill_compute_seconds(MOE_30B_A3B, H100_SXM, "bf16", 1, prefill, EFF)
            < sizing.prefill_compute_seconds(DENSE_32B, H100_SXM, "bf16", 1, prefill, EFF) / 5)


def test_tensor_parallel_choice_by_hand():
    shape = TokenShape(input_tokens=500, output_tokens=200)
    # 70B bf16 = 141.2 GB. On 24 GB cards: tp 4 gives 96 x 0.9 - 141.2 < 0; tp 8 gives
    # 8 x 24 x 0.9 - 141.2 - 8 x 1.5 = 19.6 GB of KV: fits.
    on_l4 = size(DENSE_70B, L4_LIKE, "bf16", shape=shape)
    assert on_l4.tp == 8
    assert on_l4.kv_memory_gb == pytest.approx(8 * 24 * 0.9 - 141.2 - 8 * 1.5)
    assert on_l4.requests_per_s_per_gpu == pytest.approx(on_l4.requests_per_s_per_replica / 8)
    # On 80 GB cards: tp 2 leaves 2 x 80 x 0.9 - 141.2 - 3 = -0.2 GB (read as decimal GB, no room),
    # tp 4 leaves 140.8 GB; at fp8 (70.6 GB) tp 2 leaves 70.4 GB.
    assert size(DENSE_70B, H100_SXM, "bf16", shape=shape).tp == 4
    at_fp8 = size(DENSE_70B, H100_SXM, "fp8", shape=shape)
    assert (at_fp8.tp, at_fp8.kv_memory_gb) == (2, pytest.approx(70.4))
    with pytest.raises(DoesNotFit, match=r"needs 160\.\d GB .* 2 x 80 GB = 160 GB"):
        size(DENSE_70B, H100_SXM, "bf16", tp=2, shape=shape)


def test_refused_beyond_eight_gpus_with_the_reason():
    with pytest.raises(DoesNotFit) as refused:
        size(DENSE_405B, T4_LIKE, "bf16", shape=TokenShape(input_tokens=500, output_tokens=200))
    assert isinstance(refused.value, UserError)
    message = str(refused.value)
    assert "8 x 16 GB = 128 GB" in message
    assert float(re.search(r"needs ([\d,.]+) GB", message).group(1).replace(",", "")) > 810  # 405B x 2 bytes


def test_tensor_parallel_all_reduce_by_hand():
    # tp 2 on a 900 GB/s (bidirectional) link: per layer 2 all-reduces of B x hidden x 2 bytes.
    tokens = 64
    volume = 2 * (2 - 1) / 2 * tokens * 8192 * 2
    expected = 80 * 2 * (sizing.ALLREDUCE_LATENCY_S + volume / 450e9)
    assert sizing.allreduce_seconds(DENSE_70B, H100_SXM, 2, tokens) == pytest.approx(expected)
    assert sizing.allreduce_seconds(DENSE_70B, H100_SXM, 1, tokens) == 0
    memory, compute = sizing.decode_step_parts(DENSE_70B, H100_SXM, "bf16", 4, tokens, 700)
    assert sizing.decode_step_seconds(DENSE_70B, H100_SXM, "bf16", 4, tokens, 700) == pytest.approx(
        max(memory, compute) + sizing.allreduce_seconds(DENSE_70B, H100_SXM, 4, tokens))


def test_decode_turns_compute_bound_past_the_ridge_point():
    memory_1, compute_1 = sizing.decode_step_parts(DENSE_8B, H100_SXM, "bf16", 1, 1, 500)
    memory_big, compute_big = sizing.decode_step_parts(DENSE_8B, H100_SXM, "bf16", 1, 1024, 100)
    assert memory_1 > compute_1
    assert compute_big > memory_big


def test_short_answers_serve_far_more_requests_than_long_ones():
    short = size(DENSE_8B, H100_SXM, "bf16", shape=TokenShape(input_tokens=500, output_tokens=5))
    long = size(DENSE_8B, H100_SXM, "bf16", shape=TokenShape(input_tokens=500, output_tokens=1000))
    assert short.requests_per_s_per_gpu > 5 * long.requests_per_s_per_gpu


def test_latency_target_caps_concurrency():
    shape = TokenShape(input_tokens=500, output_tokens=200)
    free = size(DENSE_8B, H100_SXM, "bf16", shape=shape, targets=NO_TARGETS)
    tight = size(DENSE_8B, H100_SXM, "bf16", shape=shape, targets=LatencyTargets(ttft_p95_ms=None, latency_p95_ms=2000))
    assert tight.concurrency_used < free.concurrency_used
    assert tight.bound == "latency target" and tight.meets_targets
    assert tight.latency_ms <= 2000
    assert tight.requests_per_s_per_replica < free.requests_per_s_per_replica
    impossible = size(DENSE_8B, L4_LIKE, "bf16", shape=shape, targets=LatencyTargets(ttft_p95_ms=1, latency_p95_ms=None))
    assert (impossible.concurrency_used, impossible.meets_targets, impossible.bound) == (1, False, "latency target")


def test_every_constant_is_cited_and_the_shape_is_returned():
    shape = TokenShape(input_tokens=500, output_tokens=200)
    result = size(DENSE_70B, H100_SXM, "fp8", shape=shape)
    names = [name for name, _, _ in result.constants]
    assert {"usable memory fraction", "runtime reserve GB per GPU", "engine max batch", "bandwidth efficiency",
            "prefill compute efficiency", "decode compute efficiency", "all-reduce latency s"} <= set(names)
    assert all(source for _, _, source in result.constants)
    assert dict((n, v) for n, v, _ in result.constants)["peak TFLOP/s per GPU"] == 1979  # fp8 tensor cores
    assert result.shape == result.p95_shape == shape


def test_mistakes_are_user_errors():
    shape = TokenShape(input_tokens=10, output_tokens=10)
    with pytest.raises(UnknownQuantisation, match="unknown quantisation 'q3'"):
        size(DENSE_8B, H100_SXM, "q3", shape=shape)
    with pytest.raises(UnknownQuantisation):
        size(DENSE_8B, H100_SXM, "bf16", shape=shape, kv_quant="int2")
    with pytest.raises(UserError):
        TokenShape(input_tokens=10, output_tokens=0)
    with pytest.raises(UserError):
        TokenShape(input_tokens=10, output_tokens=10, cached_share=1.5)
    with pytest.raises(UserError, match="no memory bandwidth"):
        size(DENSE_8B, Gpu(name="blank", memory_gb=80, hourly_usd=1.0,
                           price_source=PriceSource(provider="t", citation="t", as_listed="2025-01")),
             "bf16", shape=shape)


def test_size_is_fast_enough_for_many_scenarios():
    start = time.perf_counter()
    for index in range(200):  # distinct shapes: no cache hits
        size(DENSE_70B, L4_LIKE, "bf16", shape=TokenShape(input_tokens=300 + index, output_tokens=150))
    assert (time.perf_counter() - start) / 200 < 0.005


def test_catalogue_names_are_accepted():
    result = size("llama-3.1-8b-instruct", "H100 80GB", "bf16", shape=TokenShape(input_tokens=500, output_tokens=200))
    assert (result.model, result.gpu, result.tp) == ("llama-3.1-8b-instruct", "H100 80GB", 1)


# --- published benchmarks -------------------------------------------------------------------------

def test_benchmark_points_are_published_and_resolvable():
    points = benchmarks.benchmark_points()
    assert len(points) >= 12
    assert len({p.id for p in points}) == len(points)
    assert {p.regime for p in points} == {"single stream", "prefill-heavy", "batched decode"}
    assert {p.engine for p in points} <= {"vLLM", "SGLang", "TensorRT-LLM", "TGI", "llama.cpp"}
    for p in points:
        assert p.source.startswith("https://") and re.fullmatch(r"20\d\d-\d\d", p.published)
        assert p.metric in benchmarks.METRICS and p.value > 0 and p.note
        assert model_card(p.model).name == p.model and gpu(p.gpu).name == p.gpu
        assert p.tp in (1, 2, 4, 8) and p.quant in sizing.BYTES_PER_PARAMETER
        assert not p.gpu_overrides or p.gpu_overrides_source


def test_calibrated_constants_are_the_fit():
    """sizing.CALIBRATED must stay what the stated method fits on data/benchmarks.json."""
    assert benchmarks.fit_efficiency() == CALIBRATED


TOLERANCE_FACTOR = 2.5
MEDIAN_LOG_ERROR = 0.3


def test_predictions_against_published_points():
    """Every point within a factor 2.5, and the median |log(measured / predicted)| under 0.3 (a
    factor 1.35). Why these bounds: with one efficiency per regime for every engine, GPU and model,
    the spread left is the engines' own (llama.cpp reaches 42% of an A100's bandwidth and 87% of an
    RTX 4090's; vLLM prefill reaches about half the A100 peak but a quarter of the H100's); a
    factor 2.5 contains it, the median says the typical point is much closer."""
    rows, log_errors = [], []
    for point in benchmarks.benchmark_points():
        estimate = benchmarks.predicted(point)
        ratio = point.value / estimate
        log_errors.append(abs(math.log(ratio)))
        rows.append(f"{point.id:44s} {point.metric:27s} {point.value:9.2f} {estimate:9.2f} {ratio:6.2f}")
    print("\npoint" + " " * 40 + "metric" + " " * 22 + "measured predicted  ratio\n" + "\n".join(rows))
    print(f"median |log ratio| {statistics.median(log_errors):.3f}, worst factor {math.exp(max(log_errors)):.2f}")
    assert max(log_errors) < math.log(TOLERANCE_FACTOR)
    assert statistics.median(log_errors) < MEDIAN_LOG_ERROR
