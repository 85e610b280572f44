"""`breakeven size` and the sizing behind `breakeven economics`: the capacity of a model on a GPU
from the sizing model, the workspace's token shape by default, refusals in one line."""

from __future__ import annotations

import json

from analysis.cli import main
from analysis.economics.token_shape import workload_shape
from analysis.store.database import open_db


def _json(capsys, *args: str) -> dict:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_size_prints_fit_replicas_capacity_bound_and_sources(capsys):
    sized = _json(capsys, "size", "--model", "llama-3.3-70b-instruct", "--gpu", "L4", "--json")
    assert (sized["tp"], sized["fits"]) == (8, True)  # 141 GB of weights: never one 24 GB card
    assert sized["requests_per_s_per_gpu"] == sized["requests_per_s_per_replica"] / 8
    assert sized["bound"] and all(c["source"] for c in sized["constants"])
    short = _json(capsys, "size", "--model", "llama-3.1-8b-instruct", "--gpu", "H100 80GB", "--output-tokens", "5",
                  "--json")
    long = _json(capsys, "size", "--model", "llama-3.1-8b-instruct", "--gpu", "H100 80GB", "--output-tokens",
                 "1000", "--json")
    assert short["requests_per_s_per_gpu"] > 10 * long["requests_per_s_per_gpu"]
    assert main(["size", "--model", "llama-3.1-8b-instruct", "--gpu", "H100 80GB"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Llama 3.1 8B Instruct at bf16 on 1 H100 80GB per replica") and "bound by" in text


def test_size_refuses_in_one_line(capsys):
    assert main(["size", "--model", "llama-3.3-70b-instruct", "--gpu", "T4"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit 8 x T4: needs" in err[0]
    assert main(["size", "--model", "no-such-model", "--gpu", "L4"]) == 1
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_size_takes_the_workspaces_token_shape(shared_dir, capsys):
    batch = shared_dir / "samples" / "openai-batch"
    main(["ingest", str(batch / "genai_navirag_batch_output.jsonl"), str(batch / "genai_navirag_batch_input.jsonl")])
    capsys.readouterr()
    con = open_db(None)
    shape = workload_shape(con)
    con.close()
    sized = _json(capsys, "size", "--model", "qwen3-8b", "--gpu", "L40S", "--json")
    assert sized["shape"]["input_tokens"] == shape.input_tokens_mean
    assert sized["p95_shape"]["output_tokens"] == shape.output_tokens_p95
    economics = _json(capsys, "economics", "--json")
    capacity = economics["capacity"]
    assert capacity["source"] == "sizing" and capacity["sizing"]["gpu"] == economics["scenario"]["gpu"]
    assert capacity["rps_per_gpu"] == capacity["sizing"]["requests_per_s_per_gpu"]
    assert capacity["sizing"]["model"] == economics["scenario"]["candidate_model"]
    for region in economics["regions"]:
        assert region["from_requests_per_day"] <= (region["to_requests_per_day"] or float("inf"))
    assert economics["headline"].startswith("At today's")
