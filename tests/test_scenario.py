"""analysis.economics.scenario: validation, JSON and URL round trips, conversion to economics inputs."""

from __future__ import annotations

import json

import pytest

from analysis.economics import catalogue
from analysis.economics.comparison import breakeven, evaluate
from analysis.economics.scenario import QUERY_KEYS, SCHEMA_VERSION, Scenario, ScenarioError, TaskCost
from analysis.economics.sizing import size
from analysis.errors import UserError


def custom() -> Scenario:
    return Scenario(
        requests_per_day=25_000, growth_per_month=0.05, peak_to_average=3.0,
        api_cost_per_request=0.0013,
        api_cost_by_task={"classify": TaskCost(share=0.7, cost_per_request=0.001),
                          "extract": TaskCost(share=0.3, cost_per_request=0.002)},
        batch_discount=True, candidate_model="qwen3-8b", gpu="H100 80GB",
        gpu_count=3, mode="scheduled", capacity_rps_per_gpu=17.5, capacity_source="probe",
        target_utilisation=0.6, ops_usd_per_month=250.0, fine_tuning_usd=4_000.0,
        amortisation_months=6, quality_target=0.92, noninferiority_margin=0.03,
        cold_starts_per_day=5.0, cold_start_seconds=12.5,
    )


# --- defaults and validation ----------------------------------------------------------------


def test_defaults_come_from_the_catalogue_and_the_sizing_model():
    s = Scenario()
    entry = catalogue.gpu(s.gpu)
    assert s.gpu_hourly_usd == entry.hourly_usd
    assert s.capacity_rps_per_gpu == size(s.candidate_model, s.gpu, "bf16", None, s.token_shape,
                                          s.latency_targets, s.token_shape_p95).requests_per_s_per_gpu
    assert s.capacity_source == "sizing"
    assert s.noninferiority_margin == 0.02
    assert s.gpu_count is None


def test_gpu_choice_sets_price_and_capacity_and_user_capacity_is_marked():
    s = Scenario(gpu="a100 80gb")
    assert s.gpu == "A100 80GB"
    assert s.gpu_hourly_usd == catalogue.gpu("A100 80GB").hourly_usd
    assert Scenario(capacity_rps_per_gpu=4.0).capacity_source == "user"


def test_no_field_could_hold_a_key_or_a_prompt():
    for name in Scenario.model_fields:
        assert not any(word in name for word in ("key", "secret", "token", "password", "prompt"))
    with pytest.raises(ScenarioError, match="api_key: unknown field"):
        Scenario.from_json('{"api_key": "sk-123"}')


@pytest.mark.parametrize("fields, where", [
    ({"target_utilisation": 0}, "target_utilisation"),
    ({"target_utilisation": 1.5}, "target_utilisation"),
    ({"requests_per_day": -5}, "requests_per_day"),
    ({"peak_to_average": 0.5}, "peak_to_average"),
    ({"api_cost_per_request": -0.001}, "api_cost_per_request"),
    ({"gpu_count": 0}, "gpu_count"),
    ({"amortisation_months": 0}, "amortisation_months"),
    ({"noninferiority_margin": 0.9}, "noninferiority_margin"),
    ({"mode": "spot"}, "mode"),
    ({"capacity_rps_per_gpu": 0}, "capacity_rps_per_gpu"),
    ({"api_cost_by_task": {"a": {"share": 0, "cost_per_request": 0.1}}}, "api_cost_by_task"),
])
def test_out_of_range_values_name_the_field(fields, where):
    with pytest.raises(ScenarioError) as info:
        Scenario.from_json(json.dumps(fields))
    message = str(info.value)
    assert message.startswith("invalid scenario: ")
    assert f"{where}:" in message or f"{where}." in message


def test_error_shows_value_and_meaning():
    expected = r"target_utilisation: .*less than or equal to 1 \(got 1.5\) — share"
    with pytest.raises(ScenarioError, match=expected):
        Scenario.from_json('{"target_utilisation": 1.5}')


def test_unknown_gpu_lists_the_catalogue():
    with pytest.raises(ScenarioError, match="unknown GPU 'Z80'.*H100 80GB"):
        Scenario.from_json('{"gpu": "Z80"}')


def test_probe_source_needs_a_capacity():
    with pytest.raises(ScenarioError, match="needs capacity_rps_per_gpu"):
        Scenario.from_json('{"capacity_source": "probe"}')


def test_scenario_error_is_a_user_error():
    assert issubclass(ScenarioError, UserError)


# --- JSON -----------------------------------------------------------------------------------


def test_json_round_trip():
    s = custom()
    text = s.to_json()
    assert text == json.dumps(json.loads(text), separators=(",", ":"))  # compact
    assert json.loads(text)["v"] == SCHEMA_VERSION == 2
    assert Scenario.from_json(text) == s
    assert Scenario.from_json(Scenario().to_json()) == Scenario()


def test_partial_json_takes_the_given_defaults():
    base = custom()
    s = Scenario.from_json('{"requests_per_day": 5}', defaults=base)
    assert s.requests_per_day == 5
    assert s.model_dump(exclude={"requests_per_day"}) == base.model_dump(exclude={"requests_per_day"})
    assert Scenario.from_json("{}") == Scenario()  # no defaults: the model's


def test_partial_json_naming_another_gpu_rereads_its_price_and_capacity():
    base = custom()  # H100 with a probed capacity
    s = Scenario.from_json('{"gpu": "A10G"}', defaults=base)
    assert s.gpu_hourly_usd == catalogue.gpu("A10G").hourly_usd
    assert s.capacity_source == "sizing"  # the probe measured the H100: never the A10G's capacity
    assert s.capacity_rps_per_gpu == s.sizing().requests_per_s_per_gpu and s.sizing().gpu == "A10G"
    same = Scenario.from_json('{"gpu": "H100 80GB"}', defaults=base)
    assert (same.capacity_rps_per_gpu, same.capacity_source) == (17.5, "probe")
    mine = Scenario.from_json('{"capacity_rps_per_gpu": 9}', defaults=base)
    assert mine.capacity_source == "user"


@pytest.mark.parametrize("text, match", [
    ('{"v": 3}', "unsupported scenario version 3"),
    ('{"v": "1"}', "unsupported scenario version '1'"),
    ('{"v": true}', "unsupported scenario version True"),
    ("{bad", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "JSON object, got list"),
])
def test_bad_json_and_versions(text, match):
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_json(text)


# --- URL state ------------------------------------------------------------------------------


def test_query_params_round_trip():
    for s in (Scenario(), custom()):
        params = s.to_query_params()
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
        assert Scenario.from_query_params(params) == s


def test_query_params_use_short_keys_for_every_field():
    assert set(QUERY_KEYS) == set(Scenario.model_fields)
    params = Scenario().to_query_params()
    assert set(params) == set(QUERY_KEYS.values()) | {"v"}
    assert all(len(k) <= 3 for k in params)
    assert params["rpd"] == "10000" and params["gc"] == "" and params["bd"] == "0"


def test_query_params_auto_count_overrides_a_fixed_default():
    params = Scenario().to_query_params()
    assert Scenario.from_query_params(params, defaults=custom()).gpu_count is None


def test_query_params_partial_unknown_and_bad():
    s = Scenario.from_query_params({"rpd": "2500", "page": "economics"}, defaults=custom())
    assert s.requests_per_day == 2500 and s.gpu_count == 3
    with pytest.raises(ScenarioError, match="target_utilisation"):
        Scenario.from_query_params({"u": "2"})
    with pytest.raises(ScenarioError, match="version"):
        Scenario.from_query_params({"v": "9"})
    with pytest.raises(ScenarioError, match="api_cost_by_task"):
        Scenario.from_query_params({"tt": "not json"})


# --- economics inputs -----------------------------------------------------------------------


def test_issue_example_through_the_scenario():
    s = Scenario(requests_per_day=10_000, api_cost_per_request=0.0013, gpu_hourly_usd=1.0,
                 gpu_count=None, capacity_rps_per_gpu=1_000.0, peak_to_average=1.0,
                 target_utilisation=1.0)
    e = evaluate(s.to_cost_inputs())
    assert round(e.api_monthly_usd) == 395
    assert e.self_host.monthly_usd == pytest.approx(730)
    assert e.breakeven.requests_per_day == pytest.approx(18_461.5, abs=0.1)


def test_cost_inputs_apply_batch_discount_and_task_mix():
    x = custom().to_cost_inputs()
    assert x.api_mix == ((0.7, 0.0005), (0.3, 0.001))  # sorted by task, halved by the batch rate
    assert x.api_cost_per_request == pytest.approx(0.7 * 0.0005 + 0.3 * 0.001)
    assert (x.mode, x.gpu_count, x.amortisation_months) == ("scheduled", 3, 6)
    flat = Scenario(api_cost_per_request=0.002, batch_discount=True, batch_price_ratio=0.6).to_cost_inputs()
    assert flat.api_mix == ((1.0, 0.002 * 0.6),)
    assert breakeven(flat).status in ("at", "never", "always")


# --- capacity from the sizing model (schema 2) ----------------------------------------------


def test_a_70b_model_on_24gb_cards_is_never_priced_as_one_gpu():
    small = Scenario(gpu="L4")
    large = Scenario.from_dict({"candidate_model": "llama-3.3-70b-instruct"}, small)
    assert small.gpus_per_replica() == 1
    assert large.gpus_per_replica() == 8 and large.to_cost_inputs().gpus_per_replica == 8
    assert large.capacity_rps_per_gpu < small.capacity_rps_per_gpu
    with pytest.raises(ScenarioError, match="does not fit 8 x T4: needs"):
        Scenario.from_dict({"gpu": "T4"}, large)


def test_short_answers_get_a_markedly_higher_capacity_than_long_ones():
    short = Scenario(gpu="H100 80GB", output_length=5)
    long = Scenario(gpu="H100 80GB", output_length=1000)
    assert short.capacity_rps_per_gpu > 10 * long.capacity_rps_per_gpu


def test_capacity_follows_its_inputs_unless_measured_or_typed():
    base = Scenario(gpu="H100 80GB")
    assert Scenario.from_dict({"quantisation": "fp8"}, base).capacity_rps_per_gpu > base.capacity_rps_per_gpu
    typed = Scenario.from_dict({"capacity_rps_per_gpu": 3.0}, base)
    assert (typed.capacity_source, typed.capacity_rps_per_gpu) == ("user", 3.0)
    assert Scenario.from_dict({"output_length": 20}, typed).capacity_rps_per_gpu == 3.0
    resized = Scenario.from_dict({"candidate_model": "qwen3-8b"}, typed)  # another model: sized again
    assert resized.capacity_source == "sizing" and resized.capacity_rps_per_gpu != 3.0


def test_old_links_open_migrated():
    """A version-1 link's catalogue capacity (one figure per GPU) becomes the sizing model's; a
    probed capacity and every other field are kept."""
    old = {"v": "1", "rpd": "20000", "g": "H100 80GB", "cap": "20", "cs": "catalogue", "md": "dedicated",
           "cm": "llama-3.1-8b-instruct"}
    migrated = Scenario.from_query_params(old)
    assert migrated.requests_per_day == 20_000 and migrated.gpu == "H100 80GB"
    assert migrated.capacity_source == "sizing" and migrated.capacity_rps_per_gpu != 20
    probed = Scenario.from_json('{"v": 1, "capacity_rps_per_gpu": 7.5, "capacity_source": "probe"}')
    assert (probed.capacity_source, probed.capacity_rps_per_gpu) == ("probe", 7.5)


def test_owned_mode_prices_the_cited_hardware_with_overrides():
    owned = Scenario(mode="owned", gpu="H100 80GB", owned_pue=1.2)
    hardware = owned.to_cost_inputs().owned
    assert hardware.pue == 1.2 and hardware.server_price_usd > 0
    assert Scenario(mode="dedicated").to_cost_inputs().owned is None


def test_unknown_model_is_refused_with_the_closest_names():
    with pytest.raises(ScenarioError, match="unknown model 'llama-9-8b'"):
        Scenario.from_json('{"candidate_model": "llama-9-8b"}')
    assert Scenario.from_json('{"candidate_model": "llama-9-8b", "capacity_rps_per_gpu": 2}').capacity_source == "user"


# --- serverless prices ------------------------------------------------------------------------


def test_serverless_price_and_idle_timeout_default_to_the_cited_offer():
    from analysis.reference import read_json

    cited = {g["gpu"]: g for g in read_json("serverless_prices.json")["gpus"]}
    h100 = Scenario(gpu="H100 80GB", mode="serverless").to_cost_inputs()
    assert h100.serverless_usd_per_second == cited["H100 80GB"]["usd_per_second"] == 0.001097  # Modal
    assert h100.serverless_usd_per_second != h100.gpu_hourly_usd / 3600  # not the on-demand rate
    assert h100.serverless_idle_timeout_s == 60  # Modal's default
    rtx = Scenario(gpu="RTX 4090", mode="serverless").to_cost_inputs()
    assert (rtx.serverless_usd_per_second, rtx.serverless_idle_timeout_s) == (0.00031, 5)  # RunPod
    # The cost model bills that price: busy seconds + idle tail at $0.001097/s, not $2.49/h / 3600.
    assert "on-demand" not in evaluate(h100).self_host.note


def test_typed_serverless_price_and_idle_timeout_win_and_travel_in_links():
    s = Scenario(gpu="L4", mode="serverless", serverless_usd_per_second=0.0003, serverless_idle_timeout_s=0)
    x = s.to_cost_inputs()
    assert (x.serverless_usd_per_second, x.serverless_idle_timeout_s) == (0.0003, 0)
    params = s.to_query_params()
    assert (params["sps"], params["sit"]) == ("0.0003", "0")
    assert Scenario.from_query_params(params) == s
    assert all(len(QUERY_KEYS[k]) <= 3 for k in ("serverless_usd_per_second", "serverless_idle_timeout_s"))
    # Another GPU: the typed price was for the old card, so the new card's cited price applies.
    moved = Scenario.from_dict({"gpu": "H100 80GB"}, s)
    assert moved.serverless_usd_per_second is None and moved.to_cost_inputs().serverless_usd_per_second == 0.001097
    with pytest.raises(ScenarioError, match="serverless_usd_per_second"):
        Scenario.from_dict({"serverless_usd_per_second": -1})


def test_serverless_on_a_gpu_without_an_offer_is_refused_unless_priced():
    """Decision: no cited serverless offer (MI300X) means mode 'serverless' is refused with what to
    do, rather than falling back to the on-demand hourly rate / 3600, which would understate it; a
    typed price is accepted, with the default provider's idle timeout (Modal, 60 s)."""
    with pytest.raises(UserError, match=r"mode 'serverless' on MI300X: no serverless offer .* set "
                                        r"serverless_usd_per_second"):
        Scenario(gpu="MI300X", mode="serverless").to_cost_inputs()
    priced = Scenario(gpu="MI300X", mode="serverless", serverless_usd_per_second=0.001).to_cost_inputs()
    assert (priced.serverless_usd_per_second, priced.serverless_idle_timeout_s) == (0.001, 60)
    assert Scenario(gpu="MI300X").to_cost_inputs().serverless_usd_per_second is None  # other modes: fine


# --- Issue #15 item 11: every number and size bounded, one-line errors ------------------------------

def test_hostile_scenario_json_is_refused_in_one_line_before_any_work():
    import time

    from analysis.economics.scenario import MAX_JSON_CHARS

    cases = {
        "[" * 2000 + "]" * 2000: "nests 2000 levels deep",
        '{"a": ' * 2000 + "1" + "}" * 2000: "nests 2000 levels deep",
        '{"api_cost_by_task": {"x": {"share": 1, "cost_per_request": NaN}}}': "NaN is not a number",
        '{"requests_per_day": Infinity}': "Infinity is not a number",
        " " * (MAX_JSON_CHARS + 1): "at most 100,000 are read",
        "": "not valid JSON",
    }
    for text, expected in cases.items():
        start = time.monotonic()
        with pytest.raises(ScenarioError) as caught:
            Scenario.from_json(text)
        assert expected in str(caught.value) and "\n" not in str(caught.value), (text[:40], caught.value)
        assert time.monotonic() - start < 1


def test_absurd_numbers_are_refused():
    for data, field in [
        ({"api_cost_by_task": {"a": {"share": 1, "cost_per_request": 1e308},
                               "b": {"share": 1e308, "cost_per_request": 0.001}}}, "api_cost_by_task.a.cost_per_request"),
        ({"capacity_rps_per_gpu": 1e-300}, "capacity_rps_per_gpu"),
        ({"requests_per_day": float("nan")}, "requests_per_day"),
        ({"gpu_hourly_usd": float("inf")}, "gpu_hourly_usd"),
    ]:
        with pytest.raises(ScenarioError, match=field.replace(".", r"\.")) as caught:
            Scenario.from_dict(data)
        assert len(str(caught.value)) < 400


def test_a_million_task_types_are_refused_at_once():
    import time

    mix = {f"task{i}": {"share": 1, "cost_per_request": 0.001} for i in range(1_000_000)}
    start = time.monotonic()
    with pytest.raises(ScenarioError, match="1,000,000 task types; at most 1,000"):
        Scenario.from_dict({"api_cost_by_task": mix})
    assert time.monotonic() - start < 2


def test_a_link_with_absurd_values_is_refused():
    for params in ({"tt": '{"a": [1, 1e308]}'}, {"tt": "[" * 2000}, {"cap": "1e-300"}, {"api": "nan"},
                   {"rpd": "inf"}, {"v": "9" * 5000}):
        with pytest.raises(ScenarioError):
            Scenario.from_query_params(params)
