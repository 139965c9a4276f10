"""`make bench`: full flows under load against the production shape, printed as one table.

    python -m bench [--servers granian] [--workers 1,2] [--concurrency 16,64]
                    [--variants poll,longpoll,ws,webhook] [--runs 3] [--duration 10] [--idle-sockets 10000]
                    [--json var/bench/results.json]

For every uvicorn worker count, concurrency and way of learning the outcome, `--runs` runs of
`--duration` seconds; the table shows the median of the runs for each figure (errors are summed).
CPU is utime+stime from /proc, per completed flow, for: the uvicorn processes, the Celery worker and
beat, the PostgreSQL backends connected to the benchmark database, the own redis-server, and this
load generator (which also hosts the webhook receiver).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs
from bench.loadgen import VARIANTS, DeviceSocket, LoadGenerator, WebhookReceiver, endpoint_costs, load_phones, open_sockets
from bench.pgcount import StatementCounter
from bench.reference.stack import ReferenceStack
from bench.reference_django.stack import DjangoReferenceStack
from bench.stack import ROOT, WSGI_SERVERS, Stack, cpu_deltas, exit_on_sigterm, free_port, raise_fd_limit

GROUPS = ("server", "worker", "postgres", "redis", "loadgen")
SERVER_PARTS = ("api", "realtime", "devices")  # the server's processes: REST API, RP sockets and long polls, device sockets
# --references: the application's name in the tables, and its stack.
REFERENCES: dict[str, tuple[str, type[ReferenceStack]]] = {
    "bare": ("reference", ReferenceStack),
    "django": ("reference-django", DjangoReferenceStack),
}


def median(values: list[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


@dataclass
class Target:
    """One application under load: the product, or a reference (bench/reference/, bench/reference_django/),
    with its own load generator and device sockets. The references have no webhooks."""

    app: str
    stack: Stack
    gen: LoadGenerator
    devices: list[DeviceSocket]

    def serves(self, variant: str) -> bool:
        return self.app == "product" or variant != "webhook"


async def open_target(app: str, stack: Stack, args: argparse.Namespace, receiver: WebhookReceiver | None) -> Target:
    gen = LoadGenerator(
        stack.base_url,
        stack.seed_data["api_key"],
        receiver,
        poll_interval=args.poll_interval,
        long_poll_wait=args.wait,
        realtime_url=stack.realtime_url if stack.realtime_port else "",
        device_url=stack.device_url if stack.device_port else "",
    )
    phones = load_phones(stack.seed_data)[: max(args.concurrency)]
    return Target(app, stack, gen, await open_sockets(phones, gen.ws_url))


async def measure_topology(stacks: list[tuple[str, Stack]], args: argparse.Namespace, receiver_port: int) -> list[dict[str, Any]]:
    """Every cell for each application; the runs of a cell alternate between the applications (a shared
    machine drifts: turns spread the drift over both)."""
    product = stacks[0][1]
    receiver = WebhookReceiver(product.seed_data["webhook_secret"], receiver_port)
    await receiver.start()
    targets: list[Target] = []
    results: list[dict[str, Any]] = []
    try:
        for app, stack in stacks:
            targets.append(await open_target(app, stack, args, receiver if app == "product" else None))
        # Warm up every path once (signing key creation, connection pools, imports).
        for target in targets:
            for variant in filter(target.serves, args.variants):
                await target.gen.run(target.devices[: min(4, len(target.devices))], variant, args.warmup)
        if args.endpoint_costs:
            costs = await endpoint_costs(targets[0].gen, targets[0].devices, product.cpu_sample)
            results.append({"workers": product.topology, "endpoint_costs": costs})
            print(endpoint_table(costs), flush=True)
        for concurrency in args.concurrency:
            for variant in args.variants:
                serving = [t for t in targets if t.serves(variant)]
                runs: dict[str, list[dict[str, Any]]] = {t.app: [] for t in serving}
                for run in range(args.runs):
                    for target in serving if run % 2 == 0 else serving[::-1]:
                        summary = await measure_run(target, args, concurrency, variant, run)
                        runs[target.app].append(summary)
                results.extend(aggregate(r) for r in runs.values())
        if args.push_probe:
            # Push latency without queueing: one citizen, flows back to back (nothing else in flight).
            for target in targets:
                rec, elapsed = await target.gen.run(target.devices[:1], "ws", args.push_probe)
                push = rec.summary().get("push", {})
                results.append(
                    {
                        "app": target.app,
                        "workers": target.stack.topology,
                        "push_probe": push,
                        "flows": rec.flows,
                        "elapsed": elapsed,
                    }
                )
                print(
                    f"  {target.app} {target.stack.topology} push at low load (1 citizen, {rec.flows} flows): "
                    f"p50 {push.get('p50', float('nan')):.2f} ms, p99 {push.get('p99', float('nan')):.2f} ms",
                    flush=True,
                )
    finally:
        for target in targets:
            await close_all(target.devices)
            await target.gen.aclose()
        await receiver.stop()
    return results


async def measure_run(target: Target, args: argparse.Namespace, concurrency: int, variant: str, run: int) -> dict[str, Any]:
    stack = target.stack
    profilers = []
    if run == 0 and target.app == "product":
        profilers = start_profiler(stack, args, f"w{stack.topology.replace(' ', '-')}-c{concurrency}-{variant}")
    before = stack.cpu_sample()
    rec, elapsed = await target.gen.run(target.devices[:concurrency], variant, args.duration)
    after = stack.cpu_sample()
    for profiler in profilers:
        profiler.wait()
    cpu = cpu_deltas(before, after)
    summary = rec.summary()
    summary.update(
        app=target.app,
        workers=stack.topology,
        concurrency=concurrency,
        variant=variant,
        run=run,
        elapsed=elapsed,
        flows_per_s=rec.flows / elapsed,
        cpu_s=cpu,
        cpu_ms_per_flow={g: 1000 * cpu[g] / rec.flows if rec.flows else float("nan") for g in cpu},
    )
    print(
        f"  {target.app:<16} {stack.topology} c={concurrency:<3} {variant:<8} run {run + 1}: {summary['flows_per_s']:7.1f} flows/s, "
        f"p99 {summary.get('flow', {}).get('p99', float('nan')):7.1f} ms, errors {summary['errors']} {summary['error_kinds'] or ''}",
        flush=True,
    )
    return summary


async def count_pass(
    target: Target, variants: list[str], concurrency: int, duration: float, counter: StatementCounter
) -> dict[str, Any]:
    """Flows of each variant for `duration` seconds with the application's processes connected through `counter`."""
    out: dict[str, Any] = {}
    for variant in filter(target.serves, variants):
        await target.gen.run(target.devices[:concurrency], variant, 1.0)  # the new connections' first statements
        before, texts_before = counter.snapshot()
        rec, _ = await target.gen.run(target.devices[:concurrency], variant, duration)
        after, texts_after = counter.snapshot()
        counted, texts = after - before, texts_after - texts_before
        flows = max(1, rec.flows)
        out[variant] = {
            "flows": rec.flows,
            "statements_per_flow": (counted["execute"] + counted["query"]) / flows,
            "transactions_per_flow": counted["transaction"] / flows,
            "statements": {text: n / flows for text, n in texts.most_common()},
        }
        print(
            f"  {target.app:<16} statements ({variant}, {concurrency} citizens, {rec.flows} flows): "
            f"{out[variant]['statements_per_flow']:.1f} per flow, {out[variant]['transactions_per_flow']:.1f} BEGIN per flow",
            flush=True,
        )
        for text, per_flow in out[variant]["statements"].items():
            if per_flow >= 0.05:
                print(f"    {per_flow:5.2f}  {text}", flush=True)
    return out


def count_statements(stacks: list[tuple[str, Stack]], args: argparse.Namespace, topology: tuple[int, int, int]) -> dict[str, Any]:
    """Restart each application's processes connected through a counting proxy, run the counting pass, and
    restart them connected directly again (the figures of the measured runs never go through the proxy)."""
    counts: dict[str, Any] = {}
    for app, stack in stacks:
        counter = StatementCounter()
        counter.start()
        direct = stack.pg_url
        background = ["worker", "beat"] if app == "product" else []
        try:
            stack.stop_server()
            for name in background:
                stack.stop(name)
            stack.pg_url = counter.url
            restart(stack, background, topology)

            async def one(app: str = app, stack: Stack = stack, counter: StatementCounter = counter) -> dict[str, Any]:
                target = await open_target(app, stack, args, None)
                variants = [v for v in args.variants if v != "webhook"]  # no receiver in this pass
                try:
                    return await count_pass(
                        target, variants, min(args.count_concurrency, max(args.concurrency)), args.count_duration, counter
                    )
                finally:
                    await close_all(target.devices)
                    await target.gen.aclose()

            counts[app] = asyncio.run(one())
        finally:
            stack.stop_server()
            for name in background:
                stack.stop(name)
            stack.pg_url = direct
            restart(stack, background, None)
            counter.stop()
    return counts


def restart(stack: Stack, background: list[str], topology: tuple[int, int, int] | None) -> None:
    if "worker" in background:
        stack.start_worker()
    if "beat" in background:
        stack.start_beat()
    if topology is not None:
        stack.start_server(*topology)


def start_profiler(stack: Stack, args: argparse.Namespace, name: str) -> list[subprocess.Popen[bytes]]:
    """py-spy (if installed) on every serving process (WSGI workers, realtime, devices) for the first run:
    raw collapsed stacks in --profile, one file per process."""
    if not args.profile:
        return []
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("--profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return []
    Path(args.profile).mkdir(parents=True, exist_ok=True)
    profilers = []
    for label, pid in stack.serving_pids():
        out = Path(args.profile) / f"{name}-{label}.txt"
        argv = [py_spy, "record", "--pid", str(pid), "--duration", str(int(args.duration)), "--format", "raw"]
        argv += ["--rate", "100", "--gil", "-o", str(out)]
        profilers.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return profilers


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = runs[0]
    out: dict[str, Any] = {k: first[k] for k in ("app", "workers", "concurrency", "variant")}
    out["runs"] = len(runs)
    out["flows_per_s"] = median([r["flows_per_s"] for r in runs])
    out["errors"] = sum(r["errors"] for r in runs)
    out["error_kinds"] = {k: v for r in runs for k, v in r["error_kinds"].items()}
    for step in ("flow", "create", "push", "decide", "observe"):
        out[step] = {q: median([r.get(step, {}).get(q, float("nan")) for r in runs]) for q in ("p50", "p95", "p99")}
    out["cpu_ms_per_flow"] = {
        g: median([r["cpu_ms_per_flow"].get(g, float("nan")) for r in runs]) for g in (*GROUPS, *SERVER_PARTS)
    }
    out["raw"] = runs
    return out


async def close_all(sockets: list[DeviceSocket], parallel: int = 500) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(sock: DeviceSocket) -> None:
        async with gate:
            await sock.close()

    await asyncio.gather(*(one(sock) for sock in sockets))


async def idle_sockets(stack: Stack, count: int, compression: str | None, step: int = 2000) -> dict[str, Any]:
    """Open `count` device sockets to one server process in steps, hold them idle, read its RSS after each step."""
    phones = load_phones(stack.seed_data)[:count]
    (pid,) = stack.server_pids()
    rss_before = procs.rss_bytes(pid)
    failures: Counter[str] = Counter()
    sockets: list[DeviceSocket] = []
    curve: list[tuple[int, float]] = []
    started = time.perf_counter()
    ws_url = stack.base_url.replace("http://", "ws://")
    for offset in range(0, len(phones), step):
        sockets += await open_sockets(
            phones[offset : offset + step], ws_url, parallel=50, compression=compression, failures=failures
        )
        curve.append((len(sockets), procs.rss_bytes(pid) / 2**20))
        print(
            f"  idle sockets: {len(sockets)} open, server RSS {curve[-1][1]:.0f} MB, {sum(failures.values())} failed", flush=True
        )
    opened_in = time.perf_counter() - started
    await asyncio.sleep(5)
    rss_after = procs.rss_bytes(pid)
    still_open = sum(1 for sock in sockets if sock.is_open)
    # A few of them must still answer: idle does not mean dead.
    answered = 0
    for sock in sockets[:: max(1, len(sockets) // 20)]:
        with contextlib.suppress(Exception):
            assert sock.ws is not None
            await asyncio.wait_for(await sock.ws.ping(), 10)
            answered += 1
    await close_all(sockets)
    return {
        "sockets": count,
        "opened": len(sockets),
        "failed": dict(failures.most_common(5)),
        "open_after_5s": still_open,
        "pinged": answered,
        "opened_in_s": opened_in,
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "kb_per_socket": (rss_after - rss_before) / 1024 / max(1, len(sockets)),
        "rss_curve": curve,
        "compression": compression or "none",
    }


def endpoint_table(costs: dict[str, dict[str, float]]) -> str:
    lines = [
        "| request (sequential, one client) | n | status | wall ms | server CPU ms | PostgreSQL CPU ms | Redis CPU ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in costs.items():
        lines.append(
            f"| {name} | {c.get('n', 0):.0f} | {c['status']:.0f} | {c['wall_ms']:.2f} | {c['server']:.2f} | {c['postgres']:.2f} | {c['redis']:.2f} |"
        )
    return "\n".join(lines)


def pick_topology(results: list[dict[str, Any]]) -> str | None:
    """The topology ("2", "1+1") with the most flows/s at the highest concurrency (median over the variants)."""
    rows = [r for r in results if "cpu_ms_per_flow" in r and r["app"] == "product"]
    if not rows:
        return None
    top = max(r["concurrency"] for r in rows)
    by_workers: dict[str, list[float]] = {}
    for r in rows:
        if r["concurrency"] == top:
            by_workers.setdefault(r["workers"], []).append(r["flows_per_s"])
    return max(by_workers, key=lambda w: median(by_workers[w]))


def capacity_table(results: list[dict[str, Any]], workers: str, variant: str, utilisation: float = 0.6) -> str:
    """Flows/s per core and cores per tier for 100 / 1,000 / 10,000 flows/s from the measured CPU per flow, at `utilisation`."""
    rows = [
        r
        for r in results
        if r.get("app") == "product" and r.get("workers") == workers and r.get("variant") == variant and "cpu_ms_per_flow" in r
    ]
    if not rows:
        return ""
    row = max(rows, key=lambda r: r["concurrency"])
    cpu = row["cpu_ms_per_flow"]
    lines = [
        f"Capacity from {variant} flows at {row['concurrency']} citizens, {workers} worker(s): cores busy at {utilisation:.0%}",
        "| tier | CPU ms per flow | flows/s per core (100 % busy) | 100 flows/s | 1,000 flows/s | 10,000 flows/s |",
        "|---|---|---|---|---|---|",
    ]
    for group, label in [
        ("api", "API nodes (REST API: granian, or gunicorn)"),
        ("realtime", "realtime nodes (uvicorn: RP sockets, long polls)"),
        ("devices", "device-socket nodes (uvicorn)"),
        ("server", "all of the above (or uvicorn alone)"),
        ("worker", "Celery workers"),
        ("postgres", "PostgreSQL primary"),
        ("redis", "Redis"),
    ]:
        ms = cpu.get(group, float("nan"))
        if math.isnan(ms) or (group in SERVER_PARTS and not ms):
            continue
        cores = [rate * ms / 1000 / utilisation for rate in (100, 1000, 10000)]
        per_core = 1000 / ms if ms else float("nan")
        lines.append(f"| {label} | {fmt(ms, 2)} | {fmt(per_core, 0)} | " + " | ".join(fmt(c, 1) for c in cores) + " |")
    return "\n".join(lines)


def fmt(value: float, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| app | workers | citizens | outcome via | flows/s | flow p50 / p95 / p99 ms | create p50/p99 | push p50/p99 | "
        "decide p50/p99 | observe p50/p99 | errors | CPU ms/flow: server | worker | postgres | redis | loadgen |"
    )
    lines = [head, "|" + "---|" * 16]
    for r in results:
        if "cpu_ms_per_flow" not in r:
            continue
        cpu = r["cpu_ms_per_flow"]
        lines.append(
            f"| {r['app']} | {r['workers']} | {r['concurrency']} | {r['variant']} | {fmt(r['flows_per_s'])} | "
            f"{fmt(r['flow']['p50'])} / {fmt(r['flow']['p95'])} / {fmt(r['flow']['p99'])} | "
            f"{fmt(r['create']['p50'])}/{fmt(r['create']['p99'])} | {fmt(r['push']['p50'], 2)}/{fmt(r['push']['p99'], 2)} | "
            f"{fmt(r['decide']['p50'])}/{fmt(r['decide']['p99'])} | {fmt(r['observe']['p50'])}/{fmt(r['observe']['p99'])} | "
            f"{r['errors']} | {fmt(cpu['server'], 2)} | {fmt(cpu['worker'], 2)} | {fmt(cpu['postgres'], 2)} | {fmt(cpu['redis'], 2)} | {fmt(cpu['loadgen'], 2)} |"
        )
    return "\n".join(lines)


SERVER_SIDE = ("server", "worker", "postgres", "redis")  # everything but the load generator


def ratios_table(results: list[dict[str, Any]], counts: dict[str, Any], app: str = "product", ref: str = "reference") -> str:
    """`app` against `ref` (by default the product against the bare reference), cell by cell: flows/s,
    server-side and PostgreSQL CPU per flow, statements per flow (the counting pass), push p99 under
    the load; the issue's targets where they apply (the product against the bare reference)."""
    rows = {(r["app"], r["workers"].split(" ")[-1], r["concurrency"], r["variant"]): r for r in results if "cpu_ms_per_flow" in r}
    targets = app == "product" and ref == "reference"
    flows_target, cpu_target, push_target = (" (target ≥ 0.6)", " (target ≤ 1.6)", " (target < 5)") if targets else ("", "", "")
    lines = [
        f"| topology | citizens | outcome via | flows/s {app} / {ref} | ratio{flows_target} | server-side CPU ms/flow "
        f"{app} / {ref} | ratio{cpu_target} | PostgreSQL CPU ms/flow {app} / {ref} | ratio | "
        f"statements/flow {app} / {ref} | push p99 ms {app}{push_target} / {ref} |",
        "|" + "---|" * 11,
    ]
    for (name, workers, concurrency, variant), p in rows.items():
        base = rows.get((ref, workers, concurrency, variant))
        if name != app or base is None:
            continue
        side_p = sum(p["cpu_ms_per_flow"][g] for g in SERVER_SIDE)
        side_r = sum(base["cpu_ms_per_flow"][g] for g in SERVER_SIDE)
        pg_p, pg_r = p["cpu_ms_per_flow"]["postgres"], base["cpu_ms_per_flow"]["postgres"]
        st_p = counts.get(app, {}).get(variant, {}).get("statements_per_flow", float("nan"))
        st_r = counts.get(ref, {}).get(variant, {}).get("statements_per_flow", float("nan"))
        lines.append(
            f"| {p['workers']} | {concurrency} | {variant} | {fmt(p['flows_per_s'])} / {fmt(base['flows_per_s'])} | "
            f"**{ratio(p['flows_per_s'], base['flows_per_s'])}** | {fmt(side_p, 2)} / {fmt(side_r, 2)} | **{ratio(side_p, side_r)}** | "
            f"{fmt(pg_p, 2)} / {fmt(pg_r, 2)} | {ratio(pg_p, pg_r)} | {fmt(st_p)} / {fmt(st_r)} | "
            f"**{fmt(p['push']['p99'], 2)}** / {fmt(base['push']['p99'], 2)} |"
        )
    return "\n".join(lines)


def ratio(a: float, b: float) -> str:
    return "—" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}×"  # noqa: RUF001


def topologies(value: str) -> list[tuple[int, int, int]]:
    """ "2,2+1,2+0+1" -> [(2, 0, 0), (2, 1, 0), (2, 0, 1)]: REST workers, RP-socket/long-poll workers, device-socket workers."""
    out = []
    for item in value.split(","):
        parts = [int(part) for part in item.strip().split("+")]
        if not 1 <= len(parts) <= 3 or parts[0] < 1 or any(part < 0 for part in parts):
            raise argparse.ArgumentTypeError(f"not a topology: {item!r} (N, N+M or N+M+K)")
        out.append([*parts, 0, 0][:3])
    return [(http, realtime, devices) for http, realtime, devices in out]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument(
        "--workers",
        type=topologies,
        default=[(2, 0, 1)],
        help="topologies to compare: N workers for everything (for a WSGI server: N+1); N+M: M more in a second "
        "uvicorn for RP sockets, long polls and device sockets; N+M+K: device sockets in a third uvicorn of K workers "
        "(N+0+K: RP sockets and long polls stay with the REST API); default 2+0+1 (with granian: the production "
        "shape, granian 2 + uvicorn 1 for RP sockets and long polls + uvicorn 1 for device sockets)",
    )
    parser.add_argument(
        "--servers",
        type=lambda s: [v for v in s.split(",") if v],
        default=["granian"],
        help="what serves the REST API, one or more of: a WSGI server (" + ",".join(WSGI_SERVERS) + ") beside uvicorn for "
        "sockets and long polls (README's production shape: granian), or uvicorn for everything; default granian",
    )
    parser.add_argument("--wsgi-threads", type=int, default=4, help="threads per WSGI worker (gthread, granian; default 4)")
    parser.add_argument("--concurrency", type=ints, default=[16], help="concurrent citizens (default 16)")
    parser.add_argument(
        "--variants",
        type=lambda s: [v for v in s.split(",") if v],
        default=["longpoll", "ws"],
        help="how the RP learns the outcome, of " + ",".join(VARIANTS) + " (default longpoll,ws)",
    )
    parser.add_argument(
        "--references",
        type=lambda s: [v for v in s.split(",") if v],
        default=["bare", "django"],
        help="the references to measure beside the product and divide it by, of " + ",".join(REFERENCES) + " (bare: "
        "bench/reference/, no framework; django: bench/reference_django/, the same flow on Django, Channels and "
        "the product's channel layer with none of the product's own work); default bare,django",
    )
    parser.add_argument(
        "--no-reference",
        dest="references",
        action="store_const",
        const=[],
        help="measure the product alone, without references and ratios (--references '')",
    )
    parser.add_argument(
        "--count-duration",
        type=float,
        default=5.0,
        help="seconds per variant of the statement-counting pass (bench/pgcount.py; 0 skips it; default 5)",
    )
    parser.add_argument("--count-concurrency", type=int, default=4, help="citizens in the counting pass (default 4)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--poll-interval", type=float, default=0.05, help="GET polling interval in seconds (default 0.05)")
    parser.add_argument("--wait", type=int, default=10, help="long-poll ?wait=N (default 10)")
    parser.add_argument("--idle-sockets", type=int, default=10000, help="device sockets for the memory test; 0 skips it")
    parser.add_argument(
        "--ws-impl", default="websockets-sansio", help="uvicorn --ws implementation (websockets, websockets-sansio, wsproto)"
    )
    parser.add_argument(
        "--push-probe",
        type=float,
        default=5.0,
        help="seconds of one citizen's flows to measure push latency at low load; 0 skips",
    )
    parser.add_argument("--ws-deflate", action="store_true", help="offer permessage-deflate on the idle device sockets")
    parser.add_argument("--celery-concurrency", type=int, default=8, help="Celery worker threads (default 8)")
    parser.add_argument("--json", default=str(ROOT / "var" / "bench" / "results.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the process logs")
    parser.add_argument(
        "--settings", default="nemid_app_backend.settings", help="DJANGO_SETTINGS_MODULE of the stack (experiments)"
    )
    parser.add_argument(
        "--no-endpoint-costs", dest="endpoint_costs", action="store_false", help="skip the per-request cost table"
    )
    parser.add_argument("--profile", default="", help="directory for py-spy profiles of the server (first run of each cell)")
    args = parser.parse_args(argv)
    if set(args.servers) - {"uvicorn", *WSGI_SERVERS}:
        parser.error(f"unknown servers {sorted(set(args.servers) - {'uvicorn', *WSGI_SERVERS})}")
    if set(args.references) - set(REFERENCES):
        parser.error(f"unknown references {sorted(set(args.references) - set(REFERENCES))}; choose from {','.join(REFERENCES)}")
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {','.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    fd_limit = raise_fd_limit()
    if args.idle_sockets and fd_limit < args.idle_sockets + 1000:
        print(f"open-file limit {fd_limit} is too low for {args.idle_sockets} sockets; using {fd_limit - 1000}", file=sys.stderr)
        args.idle_sockets = max(0, fd_limit - 1000)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    options = {"ws_impl": args.ws_impl, "wsgi_threads": args.wsgi_threads}
    stack = Stack(worker_concurrency=args.celery_concurrency, settings_module=args.settings, **options)  # type: ignore[arg-type]
    stacks: list[tuple[str, Stack]] = [("product", stack)]
    for reference in args.references:
        app, stack_class = REFERENCES[reference]
        stacks.append((app, stack_class(**options)))  # type: ignore[arg-type]
    for app, each in stacks:
        print(f"bench: {app}: database {each.db_name}, redis :{each.redis_port}, logs {each.tmp}", flush=True)
    results: list[dict[str, Any]] = []
    counts: dict[str, Any] = {}
    sockets: dict[str, Any] = {}
    started = time.time()
    try:
        for _, each in stacks:
            each.start_redis()
            each.create_database()
        stack.seed(max(args.idle_sockets, *args.concurrency))
        for _, each in stacks:
            if isinstance(each, ReferenceStack):
                each.seed_from(stack.seed_data, max(args.concurrency))
        stack.start_worker()
        stack.start_beat()
        receiver_port = free_port()
        for server in args.servers:
            for _, each in stacks:
                # The reference's REST endpoints are on the product's WSGI server, or on granian when uvicorn serves the product's.
                each.wsgi = "" if server == "uvicorn" and each is stack else (server if server != "uvicorn" else "granian")
            for topology in args.workers:
                for _, each in stacks:
                    each.start_server(*topology)
                describe(stacks, server)
                results.extend(asyncio.run(measure_topology(stacks, args, receiver_port)))
                if args.count_duration and not counts:
                    counts = count_statements(stacks, args, topology)
                for _, each in stacks:
                    each.stop_server()
        for _, each in stacks[1:]:
            each.close(keep_tmp=args.keep)
        if args.idle_sockets:
            stack.wsgi = ""
            stack.start_server(1)
            try:
                sockets = asyncio.run(idle_sockets(stack, args.idle_sockets, "deflate" if args.ws_deflate else None))
            except Exception as exc:  # keep the flow figures even if the socket test breaks
                print(f"idle socket test failed: {exc!r}; server log: {stack.tmp / 'server.log'}", file=sys.stderr)
                args.keep = True
            stack.stop("server")
    finally:
        for _, each in stacks:
            each.close(keep_tmp=args.keep)
    print()
    print(
        f"{time.strftime('%d %b %Y %H:%M', time.gmtime(started))}-{time.strftime('%H:%M', time.gmtime())} UTC, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores at the end"
    )
    print(f"Medians of {args.runs} run(s) of {args.duration:.0f} s each; CPU in milliseconds per completed flow.")
    print(table(results))
    for r in results:
        if "push_probe" in r:
            push = r["push_probe"]
            print(
                f"Push latency at low load, {r['app']} {r['workers']}, 1 citizen ({r['flows']} flows; RP's 201 -> approval.created "
                f"on the device socket): p50 {fmt(push.get('p50', float('nan')), 2)} ms, p99 {fmt(push.get('p99', float('nan')), 2)} ms"
            )
    apps = [app for app, _ in stacks]
    for app, ref, where in [
        ("product", "reference", "bench/reference/"),
        ("product", "reference-django", "bench/reference_django/"),
        ("reference-django", "reference", "the stack's floor against no framework"),
    ]:
        if app in apps and ref in apps:
            print()
            print(
                f"{app.capitalize()} / {ref} ({where}), same load generator, same run; server-side CPU: everything but the "
                "load generator; statements: counted on the wire in a separate pass (bench/pgcount.py)"
            )
            print(ratios_table(results, counts, app, ref))
    if sockets:
        print()
        print(
            f"Idle device sockets: {sockets['open_after_5s']}/{sockets['sockets']} open ({sockets['failed'] or 'no failures'}), "
            f"{sockets['pinged']} of the sampled answered a ping; one server process RSS "
            f"{sockets['rss_before_mb']:.0f} MB -> {sockets['rss_after_mb']:.0f} MB ({sockets['kb_per_socket']:.1f} KB/socket, "
            f"opened in {sockets['opened_in_s']:.1f} s, deflate: {sockets['compression']})"
        )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"args": {k: v for k, v in vars(args).items()}, "results": results, "statements": counts, "idle_sockets": sockets},
            indent=1,
            default=str,
        )
    )
    chosen = pick_topology(results)
    if chosen is not None:
        print(f"\nChosen topology: {chosen} worker(s) per node (most flows/s at the highest concurrency; N+M: a split).")
        for variant in args.variants:
            print(capacity_table(results, chosen, variant))
    print(f"\nraw figures: {out}")
    for r in results:
        if "endpoint_costs" in r:
            print(f"\nPer-request costs, {r['workers']} worker(s):")
            print(endpoint_table(r["endpoint_costs"]))
    # A stray connection error under overload is reported, not fatal; more than 1 % of flows failing is.
    failed = sum(r.get("errors", 0) for r in results)
    total = sum(r.get("flows_per_s", 0) * args.duration * args.runs for r in results)
    return 1 if failed > 0.01 * max(total, 1) else 0


def describe(stacks: list[tuple[str, Stack]], server: str) -> None:
    for app, each in stacks:
        where = (
            f" + {each.realtime_workers} uvicorn for RP sockets and long polls on :{each.realtime_port}"
            if each.realtime_port
            else ""
        )
        where += f" + {each.device_workers} uvicorn for device sockets on :{each.device_port}" if each.device_port else ""
        print(f"{app}: {each.server_workers} {each.wsgi or 'uvicorn'} worker(s) on :{each.server_port}{where}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
