"""`make soak`: steady load while the infrastructure fails under it, then an audit of every request.

    SOAK_SECONDS=600 python -m bench.soak [--citizens 8]

The stack is bench.stack's (own redis-server on SOAK_REDIS_PORT, default 6391; Celery worker and beat).
During the load, in order: Redis is stopped and started again (its data is gone: no persistence),
the Celery worker is killed with SIGKILL and started again, and the webhook receiver goes down and
comes back. Requests are decided by the phone (over its WebSocket, or by polling its pending list
when the socket is down), cancelled by the RP, or left to expire. After the load the soak waits for
the system to settle, then checks every request: one final status, agreeing with everything the RP
and the phone were told; nothing pending past its expiry (plus the beat interval); exactly one
webhook event per final request, delivered to the receiver (counted by webhook-id: duplicates are
reported). Exit status 1 on any loss or disagreement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

from bench.loadgen import FINAL, WebhookReceiver, load_phones
from bench.stack import BIN, ROOT, Stack, exit_on_sigterm, free_port, raise_fd_limit
from tests.phone import Phone

now = time.monotonic


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@dataclass
class SoakPhone:
    """A phone that keeps its device socket open across outages and polls when it is not."""

    user_id: str
    phone: Phone
    base_url: str
    http: httpx.AsyncClient
    arrived: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiters: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    ws: ClientConnection | None = None
    reconnects: int = 0
    stopping: bool = False

    async def keep_connected(self) -> None:
        url = self.base_url.replace("http://", "ws://", 1) + "/ws/v1/device"
        while not self.stopping:
            try:
                token = self.phone.token("GET", "/ws/v1/device")
                async with connect(
                    url,
                    additional_headers={"Authorization": f"Device {token}"},
                    proxy=None,
                    ping_interval=5,
                    ping_timeout=5,
                    open_timeout=5,
                ) as ws:
                    self.ws = ws
                    async for raw in ws:
                        message = json.loads(raw)
                        if message.get("type") == "approval.created":
                            self._arrive(message["approval"])
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            self.ws = None
            if not self.stopping:
                self.reconnects += 1
                await asyncio.sleep(0.5 + random.random())

    def _arrive(self, view: dict[str, Any]) -> None:
        waiter = self.waiters.pop(view["id"], None)
        if waiter is not None and not waiter.done():
            waiter.set_result(view)
        else:
            self.arrived[view["id"]] = view

    def auth(self, method: str, path: str) -> dict[str, str]:
        return {"Authorization": f"Device {self.phone.token(method, path)}"}

    async def view_of(self, approval_id: str, timeout: float) -> tuple[dict[str, Any] | None, str]:
        """The device view, from the socket if it comes within 2 s, else by polling the pending list."""
        if approval_id in self.arrived:
            return self.arrived.pop(approval_id), "socket"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[approval_id] = future
        try:
            return await asyncio.wait_for(asyncio.shield(future), 2.0), "socket"
        except TimeoutError:
            pass
        deadline = now() + timeout
        path = "/api/v1/device/approvals"
        while now() < deadline:
            if future.done():
                return future.result(), "socket"
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await self.http.get(path, headers=self.auth("GET", path))
                if response.status_code == 200:
                    for view in response.json().get("approvals", []):
                        if view["id"] == approval_id:
                            self.waiters.pop(approval_id, None)
                            return view, "poll"
            await asyncio.sleep(1.0)
        self.waiters.pop(approval_id, None)
        return None, "none"


@dataclass
class Soak:
    stack: Stack
    receiver: WebhookReceiver
    api_key: str
    citizens: list[SoakPhone]
    rp: httpx.AsyncClient
    created: dict[str, str] = field(default_factory=dict)  # approval id -> what the load did with it
    observed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # final statuses we were told
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    timeline: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {what}"
        self.timeline.append(line)
        print(f"  {line}", flush=True)

    async def citizen_loop(self, citizen: SoakPhone, deadline: float) -> None:
        n = 0
        while now() < deadline:
            n += 1
            try:
                await self.one_request(citizen, n)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.errors[f"flow:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.1 + random.random() * 0.2)

    async def one_request(self, citizen: SoakPhone, n: int) -> None:
        roll = random.random()
        action = "decide" if roll < 0.8 else ("expire" if roll < 0.9 else "cancel")
        body: dict[str, Any] = {
            "type": "payment",
            "login_hint": citizen.user_id,
            "binding_message": f"Soak order {n}",
            "payment": {"amount": f"{random.randint(100, 99999) / 100:.2f}", "currency": "DKK", "payee": "Soak Webshop ApS"},
            "expires_in": 30 if action == "expire" else 60,
        }
        response = await self.rp.post("/api/v1/approvals", json=body)
        if response.status_code == 429:
            self.counts["throttled (429)"] += 1
            await asyncio.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
            return
        if response.status_code != 201:
            self.errors[f"create:{response.status_code}"] += 1
            await asyncio.sleep(0.5)
            return
        approval = response.json()
        approval_id = approval["id"]
        self.created[approval_id] = action
        self.counts["created"] += 1
        if action == "expire":
            return
        if action == "cancel":
            await asyncio.sleep(0.2)
            response = await self.rp.post(f"/api/v1/approvals/{approval_id}/cancel")
            if response.status_code == 200:
                self.observed[approval_id].add(response.json()["status"])
            elif response.status_code == 409:
                self.observed[approval_id].add(response.json().get("approval_status", "?"))
            else:
                self.errors[f"cancel:{response.status_code}"] += 1
            return
        view, via = await citizen.view_of(approval_id, timeout=20)
        self.counts[f"device view via {via}"] += 1
        if view is None:
            return  # it will expire; the audit checks that it does
        decision = "deny" if random.random() < 0.1 else "approve"
        signed = citizen.phone.sign_decision(view, decision)
        path = f"/api/v1/device/approvals/{approval_id}/decision"
        response = await citizen.http.post(path, json={"signed_decision": signed}, headers=citizen.auth("POST", path))
        if response.status_code == 200:
            self.observed[approval_id].add(response.json()["status"])
            self.counts["decided"] += 1
        elif response.status_code in (409, 410):
            self.observed[approval_id].add(response.json().get("approval_status", "?"))
        else:
            self.errors[f"decide:{response.status_code}"] += 1
        # The RP learns the outcome by long poll (half the time) or by polling.
        for _ in range(10):
            params = {"wait": 5} if n % 2 else {}
            response = await self.rp.get(f"/api/v1/approvals/{approval_id}", params=params)
            if response.status_code == 200 and response.json()["status"] in FINAL:
                self.observed[approval_id].add(response.json()["status"])
                return
            await asyncio.sleep(0.5 if n % 2 == 0 else 0.1)

    async def chaos(self, seconds: float) -> None:
        start = now()

        async def at(fraction: float) -> None:
            await asyncio.sleep(max(0.0, start + fraction * seconds - now()))

        await at(0.15)
        down = clamp(0.05 * seconds, 3, 20)
        self.note(f"redis: stopped for {down:.0f} s (no persistence: its data is lost)")
        await asyncio.to_thread(self.stack.stop_redis)
        await asyncio.sleep(down)
        await asyncio.to_thread(self.stack.start_redis)
        self.note("redis: started again")
        await at(0.35)
        down = clamp(0.02 * seconds, 2, 10)
        self.note(f"celery worker: SIGKILL, restarted after {down:.0f} s")
        await asyncio.to_thread(self.stack.kill, "worker")
        await asyncio.sleep(down)
        await asyncio.to_thread(self.stack.start_worker)
        await at(0.55)
        down = clamp(0.08 * seconds, 3, 45)
        self.note(f"webhook receiver: down for {down:.0f} s")
        await self.receiver.stop()
        await asyncio.sleep(down)
        await self.receiver.start()
        self.note("webhook receiver: up again")

    def check(self, grace: float) -> dict[str, Any]:
        ids_file = self.stack.tmp / "created.json"
        ids_file.write_text(json.dumps(list(self.created)))
        done = subprocess.run(
            [str(BIN / "python"), "-m", "bench.check", "--ids", str(ids_file), "--grace", str(grace)],
            cwd=ROOT,
            env=self.stack.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def settled(self, db: dict[str, Any]) -> bool:
        if db["not_final"]:
            return False
        for events in db["webhook_events"].values():
            for event in events:
                if self.receiver.deliveries[event["msg_id"]] == 0:
                    return False
        return True

    def verdict(self, db: dict[str, Any]) -> tuple[dict[str, int], list[str]]:
        statuses: dict[str, str] = db["statuses"]
        problems: list[str] = []
        counts: dict[str, int] = Counter()
        counts["requests in the database"] = db["requests"]
        counts["201s the load generator got"] = len(self.created)
        counts["lost (201 but no row)"] = len(db["missing"])
        counts["not final"] = len(db["not_final"])
        counts["pending past expiry + grace"] = len(db["pending_past_expiry"])
        for status in statuses.values():
            counts[f"final: {status}"] += 1
        disagreements = [i for i, seen in self.observed.items() if seen - {statuses.get(i)} or len(seen) > 1]
        counts["told a status that is not the final one"] = len(disagreements)
        events_by_request = db["webhook_events"]
        no_event = [i for i, s in statuses.items() if s in FINAL and len(events_by_request.get(i, [])) == 0]
        extra_events = [i for i, evs in events_by_request.items() if len(evs) > 1]
        wrong_type = [i for i, evs in events_by_request.items() for e in evs if e["event_type"] != f"approval.{statuses.get(i)}"]
        msg_ids = [e["msg_id"] for evs in events_by_request.values() for e in evs]
        undelivered = [m for m in msg_ids if self.receiver.deliveries[m] == 0]
        duplicates = [m for m in msg_ids if self.receiver.deliveries[m] > 1]
        unknown = [m for m in self.receiver.deliveries if m not in set(msg_ids)]
        counts["webhook events"] = len(msg_ids)
        counts["final requests without a webhook event"] = len(no_event)
        counts["requests with more than one webhook event"] = len(extra_events)
        counts["webhook events of the wrong type"] = len(wrong_type)
        counts["webhook events never received"] = len(undelivered)
        counts["webhook events received more than once (same webhook-id)"] = len(duplicates)
        counts["webhook deliveries received in all"] = sum(self.receiver.deliveries.values())
        counts["webhooks with a bad signature"] = self.receiver.bad_signatures
        counts["webhook-ids received that the outbox does not hold"] = len(unknown)
        for name, ids in [
            ("lost requests", db["missing"]),
            ("requests not final", db["not_final"]),
            ("requests pending past expiry", db["pending_past_expiry"]),
            ("status disagreements", disagreements),
            ("final requests without a webhook event", no_event),
            ("requests with several webhook events", extra_events),
            ("webhook events of the wrong type", wrong_type),
            ("webhook events never received", undelivered),
            ("unknown webhook-ids", unknown),
        ]:
            if ids:
                problems.append(f"{name}: {len(ids)} (e.g. {', '.join(map(str, ids[:3]))})")
        if self.receiver.bad_signatures:
            problems.append(f"webhooks with a bad signature: {self.receiver.bad_signatures}")
        return dict(counts), problems


async def soak(stack: Stack, seconds: float, citizens: int, settle: float, receiver_port: int) -> int:
    seed = stack.seed_data
    receiver = WebhookReceiver(seed["webhook_secret"], receiver_port)
    await receiver.start()
    limits = httpx.Limits(max_connections=200)
    http = httpx.AsyncClient(base_url=stack.base_url, timeout=30, limits=limits, trust_env=False)
    rp = httpx.AsyncClient(
        base_url=stack.base_url,
        timeout=30,
        limits=limits,
        trust_env=False,
        headers={"Authorization": f"Bearer {seed['api_key']}"},
    )
    phones = [SoakPhone(user_id, phone, stack.base_url, http) for user_id, phone in load_phones(seed)[:citizens]]
    run = Soak(stack, receiver, seed["api_key"], phones, rp)
    sockets = [asyncio.create_task(p.keep_connected()) for p in phones]
    await asyncio.sleep(1)
    run.note(f"load: {citizens} citizens for {seconds:.0f} s")
    deadline = now() + seconds
    await asyncio.gather(run.chaos(seconds), *(run.citizen_loop(p, deadline) for p in phones))
    run.note(f"load stopped: {run.counts['created']} requests created; settling (at most {settle:.0f} s)")
    for phone in phones:
        phone.stopping = True
        if phone.ws is not None:
            await phone.ws.close()
    for task in sockets:
        task.cancel()
    settle_deadline = now() + settle
    grace = 15.0  # the beat runs expire_overdue_approvals every 5 s; 10 s more for a loaded worker
    db = await asyncio.to_thread(run.check, grace)
    while not run.settled(db) and now() < settle_deadline:
        await asyncio.sleep(5)
        db = await asyncio.to_thread(run.check, grace)
    run.note("settled" if run.settled(db) else "did not settle in time")
    counts, problems = run.verdict(db)
    await http.aclose()
    await rp.aclose()
    await receiver.stop()
    print()
    print("Soak timeline:")
    for line in run.timeline:
        print(f"  {line}")
    print("Load:")
    for name, value in sorted(run.counts.items()):
        print(f"  {name:<60} {value}")
    print(f"  {'device socket reconnects':<60} {sum(p.reconnects for p in phones)}")
    for name, value in sorted(run.errors.items()):
        print(f"  error {name:<54} {value}")
    print("Audit of every request:")
    for name, value in counts.items():
        print(f"  {name:<60} {value}")
    if problems:
        print("\nFAILED:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("\nOK: every request has one final status, nothing is left pending, every webhook event arrived.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")))
    parser.add_argument("--citizens", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--settle", type=float, default=float(os.environ.get("SOAK_SETTLE_SECONDS", "300")))
    parser.add_argument("--redis-port", type=int, default=int(os.environ.get("SOAK_REDIS_PORT", "6391")))
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the process logs")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    raise_fd_limit()
    receiver_port = free_port()
    stack = Stack(redis_port=args.redis_port)
    print(f"soak: database {stack.db_name}, redis :{stack.redis_port}, logs {stack.tmp}", flush=True)
    try:
        stack.start(citizens=args.citizens, callback_url=f"http://127.0.0.1:{receiver_port}/hooks/nemid", workers=args.workers)
        return asyncio.run(soak(stack, args.seconds, args.citizens, args.settle, receiver_port))
    finally:
        stack.close(keep_tmp=args.keep)


if __name__ == "__main__":
    sys.exit(main())
