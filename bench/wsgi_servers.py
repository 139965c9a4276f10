"""Which WSGI server for the REST API: gunicorn sync, gunicorn gthread or granian, measured in rounds.

    python -m bench.wsgi_servers [--servers gunicorn-sync,gunicorn-gthread,granian,uvicorn] [--rounds 4]
                                 [--duration 8] [--concurrency 16] [--workers 2] [--threads 4]

Each server in turn serves the REST API (create, the phone's decision, the RP's reads every 50 ms: the
"poll" flow of bench/loadgen.py) with uvicorn beside it for the device sockets, as README's
production shape; "uvicorn" is the ASGI application alone, for comparison. The servers take turns
within every round, so that a shared machine's drift falls on all of them alike; the table shows the
median over the rounds of flows/s and of the CPU each tier spent per flow.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from typing import Any

from bench.loadgen import LoadGenerator, load_phones, open_sockets
from bench.run import close_all
from bench.stack import WSGI_SERVERS, Stack, cpu_deltas, exit_on_sigterm, raise_fd_limit

GROUPS = ("server", "postgres", "worker", "redis")


async def one_round(stack: Stack, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    seed = stack.seed_data
    gen = LoadGenerator(stack.base_url, seed["api_key"], None, device_url=stack.device_url)
    devices = await open_sockets(load_phones(seed)[:concurrency], gen.ws_url)
    try:
        await gen.run(devices[:4], "poll", warmup)
        before = stack.cpu_sample()
        rec, elapsed = await gen.run(devices, "poll", duration)
        cpu = cpu_deltas(before, stack.cpu_sample())
    finally:
        await close_all(devices)
        await gen.aclose()
    summary = rec.summary()
    return {
        "flows_per_s": rec.flows / elapsed,
        "errors": summary["errors"],
        "cpu_ms_per_flow": {group: 1000 * cpu[group] / rec.flows if rec.flows else float("nan") for group in GROUPS},
        "create_p99": summary.get("create", {}).get("p99", float("nan")),
        "decide_p99": summary.get("decide", {}).get("p99", float("nan")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wsgi_servers", description=__doc__)
    parser.add_argument("--servers", default="gunicorn-sync,gunicorn-gthread,granian,uvicorn")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="processes of the REST API's server (default 2: one per core)")
    parser.add_argument("--threads", type=int, default=4, help="threads per process: gthread, granian (default 4)")
    parser.add_argument("--sync-workers", type=int, default=0, help="gunicorn sync processes (default: 2 x --workers)")
    args = parser.parse_args(argv)
    servers = [server for server in args.servers.split(",") if server]
    if set(servers) - {"uvicorn", *WSGI_SERVERS}:
        parser.error(f"unknown servers: {sorted(set(servers) - {'uvicorn', *WSGI_SERVERS})}")
    exit_on_sigterm()
    raise_fd_limit()
    stack = Stack(wsgi_threads=args.threads)
    print(f"bench.wsgi_servers: database {stack.db_name}, logs {stack.tmp}", flush=True)
    figures: dict[str, list[dict[str, Any]]] = {server: [] for server in servers}
    try:
        stack.start_redis()
        stack.create_database()
        stack.seed(args.concurrency)
        stack.start_worker()
        for round_no in range(args.rounds):
            for server in servers:
                stack.wsgi = "" if server == "uvicorn" else server
                workers = (args.sync_workers or 2 * args.workers) if server == "gunicorn-sync" else args.workers
                # Device sockets on their own uvicorn in every case, so that only the REST API's server differs.
                stack.start_server(workers, 0, 1)
                try:
                    result = asyncio.run(one_round(stack, args.concurrency, args.duration, args.warmup))
                finally:
                    stack.stop_server()
                result["label"] = f"{server} x{workers}" + (
                    f" ({args.threads} threads)" if server in ("gunicorn-gthread", "granian") else ""
                )
                figures[server].append(result)
                print(
                    f"  round {round_no + 1} {result['label']:<32} {result['flows_per_s']:6.1f} flows/s, "
                    f"server {result['cpu_ms_per_flow']['server']:5.1f} ms/flow, errors {result['errors']}",
                    flush=True,
                )
    finally:
        stack.close()
    print()
    print(f"Medians of {args.rounds} rounds of {args.duration:.0f} s, {args.concurrency} citizens, poll flows; CPU ms per flow.")
    print("| REST API on | flows/s | create p99 ms | decide p99 ms | CPU: servers | PostgreSQL | Celery | Redis | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rounds in figures.values():
        if not rounds:
            continue

        def med(values: list[float]) -> float:
            return statistics.median(values)

        cpu = {group: med([r["cpu_ms_per_flow"][group] for r in rounds]) for group in GROUPS}
        print(
            f"| {rounds[0]['label']} | {med([r['flows_per_s'] for r in rounds]):.1f} | {med([r['create_p99'] for r in rounds]):.0f} | "
            f"{med([r['decide_p99'] for r in rounds]):.0f} | {cpu['server']:.1f} | {cpu['postgres']:.1f} | {cpu['worker']:.1f} | "
            f"{cpu['redis']:.1f} | {sum(r['errors'] for r in rounds)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
