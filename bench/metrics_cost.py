"""What the metrics cost per flow, in server CPU.

Runs full flows in this process (the RP creates a payment, the phone lists it and approves it, the
RP reads the outcome) through Django's test client on a throwaway SQLite database, with every
metric call of the service (prometheus-client's inc/dec/observe, the request-id and route work of
the middleware, the scrape-time collectors excluded) wrapped by a timer of this thread's CPU time.
The table gives the calls per flow and their CPU per flow, in prometheus-client's single-process
mode and in its multiprocess mode (values in memory-mapped files, as with several server
processes), beside the whole flow's CPU in this process for scale. The timer's own cost is
included, so the figure is an upper bound.

A second measurement, A/B, times no single call: the same flows run with the metrics on and off by
turns (off: prometheus-client's inc/dec/observe, the middleware's `_record` and its request-id
making skipped, the same work the timed table counts; both arms go through the same switch, so its
own cost falls on both), in a fresh process per mode, and the process's CPU time
(time.process_time) of each flow is read. Flows go in pairs, on-off and off-on by turns (a drift,
such as the growing database, falls on both sides alike); the cost is the median of the pairs'
differences, with the 95 % confidence interval of that median (from the order statistics) beside
it. It has no timer inside the flows, but a flow's CPU varies by far more than the metrics cost:
on a busy machine the interval is wide, and as the load comes in bursts the pairs are not
independent: runs then differ by more than their intervals say. In the on arm, the metric calls
made inside `_record` also pass the switch once more (a small overstatement).

The timed table's last column subtracts the wrapper's cost measured in place: a second run of the
same flows in which the wrapper times a call of a no-op function at each metric call (and makes the
metric call untimed after it).

    .venv/bin/python -m bench.metrics_cost [--flows 300] [--pairs 150]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHM = "/dev/shm"  # a tmpfs on Linux


def setup() -> Any:
    """A migrated throwaway database, an RP, a citizen with a device, and the flow to run."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from rest_framework.test import APIClient

    from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory

    rp: Any = RelyingPartyFactory()
    citizen = CitizenFactory()
    device: Any = DeviceFactory(citizen=citizen)
    rp_api = APIClient()
    rp_api.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    phone = APIClient()
    body = {
        "type": "payment",
        "login_hint": citizen.user_id,
        "binding_message": "Order 10023",
        "payment": {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"},
    }

    def flow() -> None:
        created = rp_api.post("/api/v1/approvals", body, format="json").json()
        listing = phone.get("/api/v1/device/approvals", **device.phone.auth("GET", "/api/v1/device/approvals")).json()
        view = next(item for item in listing["approvals"] if item["id"] == created["id"])
        path = f"/api/v1/device/approvals/{created['id']}/decision"
        signed = device.phone.sign_decision(view, "approve")
        answer = phone.post(path, {"signed_decision": signed}, format="json", **device.phone.auth("POST", path))
        assert answer.status_code == 200, answer.content
        assert rp_api.get(f"/api/v1/approvals/{created['id']}").json()["status"] == "approved"

    return flow


def child(flows: int, in_place: bool = False) -> dict[str, float]:
    """The timed table's run; `in_place`: the same flows, with the wrapper timing a call of a no-op
    function at each metric call instead (the metric call made untimed after it), which measures
    the wrapper's own cost where it runs, among the flow's cold caches."""
    flow = setup()
    from prometheus_client.metrics import Counter, Gauge, Histogram

    from nemid_app_backend import observability

    spent = {"seconds": 0.0, "calls": 0}
    depth = [0]

    def timed(function):  # type: ignore[no-untyped-def]
        """Time the outermost metric call only (a call made inside a timed one is counted in it)."""

        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent["seconds"] += time.thread_time() - started
                spent["calls"] += 1
                depth[0] -= 1

        def nothing(*args, **kwargs):  # type: ignore[no-untyped-def]
            return None

        def wrapper_in_place(*args, **kwargs):  # type: ignore[no-untyped-def]
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            started = time.thread_time()
            try:
                nothing(*args, **kwargs)
            finally:
                spent["seconds"] += time.thread_time() - started
                spent["calls"] += 1
            try:
                return function(*args, **kwargs)
            finally:
                depth[0] -= 1

        return wrapper_in_place if in_place else wrapper

    for cls, names in ((Counter, ("inc", "labels")), (Gauge, ("inc", "dec", "labels")), (Histogram, ("observe", "labels"))):
        for name in names:
            setattr(cls, name, timed(getattr(cls, name)))
    for name in ("_record", "request_id_from"):
        setattr(observability, name, timed(getattr(observability, name)))

    for _ in range(20):  # warm-up: imports, caches, prepared statements
        flow()
    spent.update(seconds=0.0, calls=0)
    started = time.thread_time()
    for _ in range(flows):
        flow()
    total = time.thread_time() - started
    seconds, calls = spent["seconds"], spent["calls"]
    # The timer's own cost per timed call (two clock reads and the wrapper), measured here.
    rounds = 20000
    calibrate = timed(lambda: None)
    started = time.thread_time()
    for _ in range(rounds):
        calibrate()
    timer_s = (time.thread_time() - started) / rounds
    return {
        "flow_ms": total / flows * 1000,
        "metrics_ms": seconds / flows * 1000,
        "timer_ms": timer_s * calls / flows * 1000,
        "calls": calls / flows,
    }


def child_ab(pairs: int) -> dict[str, float]:
    """Flows with the metrics on and off by turns; the process's CPU time of each flow."""
    flow = setup()
    from prometheus_client.metrics import Counter, Gauge, Histogram

    from nemid_app_backend import observability

    on = [True]
    fixed_id = "0" * 32

    def switched(function: Any, instead: Any = None) -> Any:
        """The same wrapper in both arms (its own cost falls on both alike): the call, or not."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if on[0]:
                return function(*args, **kwargs)
            return instead

        return wrapper

    for cls, names in ((Counter, ("inc",)), (Gauge, ("inc", "dec")), (Histogram, ("observe",))):
        for name in names:
            setattr(cls, name, switched(getattr(cls, name)))
    observability._record = switched(observability._record)  # type: ignore[attr-defined]
    observability.request_id_from = switched(observability.request_id_from, fixed_id)  # type: ignore[attr-defined]

    def one(metrics_on: bool) -> float:
        on[0] = metrics_on
        started = time.process_time()
        flow()
        return time.process_time() - started

    for _ in range(20):  # warm-up: imports, caches, prepared statements
        flow()
    gc.collect()
    gc.freeze()  # the objects of the warm-up are not scanned again by every collection
    with_metrics, without, differences = [], [], []
    for pair in range(pairs):
        if pair % 2:
            b = one(False)
            a = one(True)
        else:
            a = one(True)
            b = one(False)
        with_metrics.append(a)
        without.append(b)
        differences.append(a - b)
    differences.sort()
    # 95 % confidence interval of the median: the order statistics n/2 -+ 1.96 sqrt(n)/2.
    half = 1.96 * math.sqrt(pairs) / 2
    low, high = max(0, math.floor(pairs / 2 - half)), min(pairs - 1, math.ceil(pairs / 2 + half) - 1)
    return {
        "on_ms": statistics.median(with_metrics) * 1000,
        "off_ms": statistics.median(without) * 1000,
        "cost_ms": statistics.median(differences) * 1000,
        "low_ms": differences[low] * 1000,
        "high_ms": differences[high] * 1000,
    }


def run(flows: int, multiprocess: bool, ab_pairs: int = 0, in_place: bool = False) -> dict[str, float]:
    # The metric files on a tmpfs where there is one, as docs/operations.md deploys them (/run).
    shm = SHM if os.path.isdir(SHM) else None
    with (
        tempfile.TemporaryDirectory(prefix="nemid-metrics-bench-") as var,
        tempfile.TemporaryDirectory(prefix="nemid-metrics-", dir=shm) as metrics_dir,
    ):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")}
        env.update(DJANGO_SETTINGS_MODULE="tests.settings", NEMID_VAR_DIR=var, NEMID_TEST_DB_SUFFIX="metrics-bench")
        # One citizen is prompted hundreds of times in a minute: the per-citizen prompt limits
        # (docs/contract/07-limits.md) would refuse after ten, as bench/stack.py's load would.
        env.update(
            NEMID_PROMPT_LIMITS_PER_CITIZEN="1000000/600,1000000/86400",
            NEMID_PROMPT_DENIAL_THRESHOLD="0",
            NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE="0",
        )
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        command = [sys.executable, "-m", "bench.metrics_cost", "--child", "--flows", str(flows)]
        if ab_pairs:
            command += ["--ab", "--pairs", str(ab_pairs)]
        if in_place:
            command.append("--in-place")
        out = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=150, help="A/B: pairs of flows, one with the metrics on, one off")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ab", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-place", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_ab(args.pairs) if args.ab else child(args.flows, args.in_place)))
        return
    print(f"Metrics cost per flow ({args.flows} flows in one process; create, list, approve, read)")
    print(
        f"{'prometheus-client mode':<24} {'metric calls/flow':>18} {'metrics CPU/flow':>17} {'less the timer':>15}"
        f" {'flow CPU':>10} {'share':>7} {'less the timer in place':>24}"
    )
    for label, multiprocess in (("single process", False), ("multiprocess (files)", True)):
        figures = run(args.flows, multiprocess)
        in_place = run(args.flows, multiprocess, in_place=True)
        net = figures["metrics_ms"] - figures["timer_ms"]
        share = net / figures["flow_ms"] * 100
        print(
            f"{label:<24} {figures['calls']:>18.1f} {figures['metrics_ms']:>14.3f} ms {net:>12.3f} ms"
            f" {figures['flow_ms']:>7.2f} ms {share:>6.1f}% {figures['metrics_ms'] - in_place['metrics_ms']:>21.3f} ms"
        )
    print("'less the timer': without the timing wrapper's own measured cost (two clock reads and a call per")
    print("timed metric call, measured in a tight loop); still an upper bound, as the wrapper also costs the")
    print("metric calls their warm caches. 'less the timer in place': without the wrapper's cost measured")
    print("where it runs (a second run of the flows timing a no-op call at each metric call, among the")
    print("flow's cold caches); a difference of two runs, so noisier.")
    print()
    print(f"A/B: {args.pairs} pairs of flows, metrics on and off by turns, process CPU (time.process_time), medians")
    print(f"{'prometheus-client mode':<24} {'flow CPU, on':>13} {'flow CPU, off':>14} {'metrics CPU/flow':>17} {'95% CI':>20}")
    for label, multiprocess in (("single process", False), ("multiprocess (files)", True)):
        figures = run(args.flows, multiprocess, ab_pairs=args.pairs)
        print(
            f"{label:<24} {figures['on_ms']:>10.2f} ms {figures['off_ms']:>11.2f} ms {figures['cost_ms']:>14.3f} ms"
            f"  {figures['low_ms']:>6.3f} to {figures['high_ms']:.3f} ms"
        )
    print("Target: under 0.2 ms of server CPU per flow.")


if __name__ == "__main__":
    main()
