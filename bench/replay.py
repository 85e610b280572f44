"""Replay engine throughput against a bare asyncio + httpx client, same server, same requests.

    .venv/bin/python bench/replay.py [--requests 200] [--concurrency 4] [--max-tokens 16] [--rounds 2]

Starts the embedded llama.cpp engine (its own data dir, a free port, 4 slots), builds a workspace
from the Bitext customer-support dataset in ../shared/datasets (labelled import: real customer
queries under the 11-category classification prompt),
then replays the same sampled requests at the same concurrency, through `replay.execute` (threads,
the openai-compat provider, a result row written per call) and through a bare client (asyncio,
one httpx.AsyncClient, POST /v1/chat/completions streamed with usage, the same messages and
max_tokens, one retry when llama-server drops a streamed connection). An untimed warm-up pass sends
every request once; rounds then alternate the order (engine, bare, bare, engine, ...) so the
server's caches favour neither. Throughput =
requests / wall seconds, averaged over rounds. Target: engine >= 95% of the bare client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx

TARGET = 0.95
DATASET = (Path(__file__).resolve().parents[2] / "shared" / "datasets" / "bitext_customer_support"
           / "Bitext_Sample_Customer_Support_Training_Dataset.csv")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def bare_client(url: str, bodies: list[dict], concurrency: int) -> tuple[float, int]:
    """(wall seconds, output tokens) for every body sent by `concurrency` workers."""
    queue = list(reversed(bodies))
    tokens = 0

    async def stream(client: httpx.AsyncClient, body: dict) -> int:
        async with client.stream("POST", url, json=body) as response:
            response.raise_for_status()
            usage = None
            async for line in response.aiter_lines():
                if line.startswith("data:") and (data := line[5:].strip()) != "[DONE]":
                    usage = json.loads(data).get("usage") or usage
            return usage["completion_tokens"]

    async def send(client: httpx.AsyncClient, body: dict) -> int:
        try:
            return await stream(client, body)
        except httpx.TransportError:  # llama-server dropped the connection: once more
            return await stream(client, body)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal tokens
        while queue:
            produced = await send(client, queue.pop())
            tokens += produced  # not `tokens += await ...`: that reads `tokens` before awaiting

    async with httpx.AsyncClient(timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from analysis.ingest.labelled_datasets import ingest_labelled
    from analysis.replay import runs as replay
    from analysis.replay.prompt_adapter import PromptAdapter, build_messages
    from analysis.replay.providers import local_engine
    from analysis.replay.sampling import SampleSpec
    from analysis.settings import Settings
    from analysis.store.database import open_db, rows

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), local_engine_port=free_port(), local_engine_parallel=4)
        engine = local_engine.start(settings)
        try:
            con = open_db(Path(tmp) / "bench.duckdb")
            result = ingest_labelled(con, DATASET, "instruction", "category", limit=args.requests)
            assert result.ok and result.rows_loaded == args.requests, result
            spec = f"openai-compat:{engine.base_url}/v1:{local_engine.MODEL_ALIAS}"
            sample = SampleSpec(size=args.requests)
            params = replay.RunParams(max_tokens=args.max_tokens, concurrency=args.concurrency)
            ids = replay.sampling.draw(con, sample)
            logged = dict(rows(con, "SELECT request_id, input_messages FROM requests"))
            bodies = [{"model": local_engine.MODEL_ALIAS, "max_tokens": args.max_tokens, "temperature": 0.0,
                       "messages": build_messages(PromptAdapter(), json.loads(logged[i]), []),
                       "stream": True, "stream_options": {"include_usage": True}} for i in ids]
            url = f"{engine.base_url}/v1/chat/completions"
            # Untimed warm-up over every request, so that whichever contender goes first does not
            # pay for prompts the server has never seen (llama-server caches prompt prefixes).
            asyncio.run(bare_client(url, bodies, args.concurrency))

            def run_engine() -> tuple[float, int]:
                run_id = replay.create_run(con, [spec], sample, params=params)
                start = time.perf_counter()
                progress = replay.execute(con, run_id)
                seconds = time.perf_counter() - start
                assert progress.status == "done" and progress.failed == 0, progress
                tokens = rows(con, "SELECT sum(output_tokens) FROM results WHERE run_id = ?", [run_id])[0][0]
                return seconds, tokens

            def run_bare() -> tuple[float, int]:
                return asyncio.run(bare_client(url, bodies, args.concurrency))

            timings: dict[str, list[float]] = {"engine": [], "bare": []}
            for i in range(args.rounds):
                order = [("engine", run_engine), ("bare", run_bare)]
                for name, call in order if i % 2 == 0 else order[::-1]:
                    seconds, tokens = call()
                    timings[name].append(args.requests / seconds)
                    print(f"round {i + 1} {name:>6}: {args.requests} requests in {seconds:6.2f} s = "
                          f"{args.requests / seconds:5.2f} req/s ({tokens} output tokens)", flush=True)
            con.close()
        finally:
            local_engine.stop(settings)
    engine_rps, bare_rps = statistics.mean(timings["engine"]), statistics.mean(timings["bare"])
    ratio = engine_rps / bare_rps
    verdict = "OK" if ratio >= TARGET else "UNDER"
    print(f"engine {engine_rps:.2f} req/s, bare asyncio+httpx {bare_rps:.2f} req/s: "
          f"engine / bare = {ratio:.1%} (target >= {TARGET:.0%}: {verdict})")


if __name__ == "__main__":
    main()
