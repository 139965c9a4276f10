"""The asyncio load generator: relying parties, phones and a webhook receiver in one event loop.

One flow is what a citizen does once: the RP creates a request (POST /api/v1/approvals), the phone
receives `approval.created` on its device WebSocket, signs the decision with its private key (the
scheme of tests/phone.py, which is the app's) and POSTs it, and the RP learns the outcome in one of
four ways: GET polling, long poll (`?wait=N`), the RP WebSocket, or the webhook reaching the receiver.

Times are `time.perf_counter()` in this one process, so they compare across the steps:
- create:  the RP's POST, request to response;
- push:    the RP's 201 response arriving -> `approval.created` arriving on the device socket. The server
           broadcasts on commit, before it writes the response, so this is "commit -> device socket"
           minus the response's own trip; it can be negative when the event wins the race;
- decide:  `approval.created` arriving -> the decision POST answered (includes the phone's signing);
- observe: the decision answered -> the RP knows the final status (may be negative for webhooks);
- flow:    the RP's POST sent -> the RP knows the final status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import websockets
from cryptography.hazmat.primitives import serialization
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from websockets.asyncio.client import ClientConnection, connect

from tests.phone import Phone

VARIANTS = ("poll", "longpoll", "ws", "webhook")
FINAL = {"approved", "denied", "expired", "cancelled", "failed"}
now = time.perf_counter
# What httpx's `json=` sent: compact, UTF-8, no NaN. One encoder, not one per request.
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def load_phones(seed: dict[str, Any]) -> list[tuple[str, Phone]]:
    phones = []
    for row in seed["citizens"]:
        key = serialization.load_pem_private_key(row["key_pem"].encode(), password=None)
        phones.append((row["user_id"], Phone(private_key=key, device_id=row["device_id"])))  # type: ignore[arg-type]
    return phones


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel a child task and wait for it to end, without swallowing a cancellation of the caller
    (Ctrl-C or SIGTERM cancels the main task while it waits here)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:  # the child's own failure: it is being discarded
        pass


# --- HTTP: aiohttp, which costs the load generator far less CPU per request than httpx ----------

HTTP_ERRORS = (aiohttp.ClientError, TimeoutError)  # what a request can fail with (httpx.HTTPError before)
JSON_HEADERS = {"Content-Type": "application/json"}


class HTTPStatusError(Exception):
    """A 4xx/5xx answer to `raise_for_status()`; named as httpx's was, so the error counts read the same."""


@dataclass(slots=True)
class Response:
    """A response whose body has been read: `HttpClient` returns when the whole answer is in, as httpx did."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise HTTPStatusError(f"{self.status_code} {self.text[:80]}")


class HttpClient:
    """An aiohttp session with a keep-alive pool of up to 1000 connections, no proxies from the environment.

    `timeout` bounds connecting (including the wait for a pooled connection) and each read, like
    httpx.Timeout(timeout) did; there is no total limit, so a long poll is only bounded by its reads.
    Idle connections are dropped after 4 s, before uvicorn's 5 s keep-alive closes them: aiohttp does
    not retry a POST on a connection that the server closed while it was being reused."""

    def __init__(self, base_url: str, *, timeout: float, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=4.0),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout),
            trust_env=False,
        )

    async def request(self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None) -> Response:
        data = None
        if json is not None:
            data = encode_json(json).encode()
            headers = {**headers, "Content-Type": "application/json"} if headers else JSON_HEADERS
        async with self.session.request(method, self.base_url + path, data=data, headers=headers) as response:
            return Response(response.status, await response.read())

    def get(self, path: str, *, headers: dict[str, str] | None = None) -> Awaitable[Response]:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, *, json: Any = None, headers: dict[str, str] | None = None) -> Awaitable[Response]:
        return self.request("POST", path, json=json, headers=headers)

    async def aclose(self) -> None:
        await self.session.close()


# --- the webhook receiver --------------------------------------------------------------------


class WebhookReceiver:
    """A minimal HTTP/1.1 server that verifies Standard Webhooks signatures and counts deliveries."""

    def __init__(self, secret: str, port: int) -> None:
        self.verifier = Webhook(secret)
        self.port = port
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()
        self.deliveries: Counter[str] = Counter()  # webhook-id -> times received
        self.events: dict[str, tuple[str, str]] = {}  # webhook-id -> (approval id, event type)
        self.first_arrival: dict[str, float] = {}  # approval id -> perf_counter of the first delivery
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.bad_signatures = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/nemid"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True, backlog=1024)

    async def stop(self) -> None:
        """Go down hard: stop listening and drop every open connection."""
        if self.server is not None:
            self.server.close()
            for writer in list(self.connections):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    def wait(self, approval_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if approval_id in self.first_arrival:
            future.set_result(self.first_arrival[approval_id])
        else:
            self.waiters[approval_id] = future
        return future

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = now()
                self._record(body, headers, arrived)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a client that went away, or the receiver going down on purpose
        finally:
            self.connections.discard(writer)
            writer.close()

    def _record(self, body: bytes, headers: dict[str, str], arrived: float) -> None:
        try:
            self.verifier.verify(body, headers)
        except WebhookVerificationError:
            self.bad_signatures += 1
            return
        msg_id = headers["webhook-id"]
        self.deliveries[msg_id] += 1
        event = json.loads(body)
        data = event.get("data") or {}
        approval_id = str(data.get("id") or data.get("acsTransID") or "")
        self.events[msg_id] = (approval_id, str(event.get("type")))
        if approval_id not in self.first_arrival:
            self.first_arrival[approval_id] = arrived
            waiter = self.waiters.pop(approval_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(arrived)


# --- phones: one device WebSocket each ---------------------------------------------------------


@dataclass
class DeviceSocket:
    user_id: str
    phone: Phone
    ws_url: str
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    arrived: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    waiters: dict[str, asyncio.Future[tuple[float, dict[str, Any]]]] = field(default_factory=dict)
    closed_events: int = 0

    async def connect(self, *, compression: str | None = None) -> None:
        token = self.phone.token("GET", "/ws/v1/device")
        self.ws = await connect(
            f"{self.ws_url}/ws/v1/device",
            additional_headers={"Authorization": f"Device {token}"},
            compression=compression,
            proxy=None,
            ping_interval=None,
            open_timeout=60,
            max_queue=64,
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                arrived = now()
                message = json.loads(raw)
                if message.get("type") == "approval.created":
                    view = message["approval"]
                    waiter = self.waiters.pop(view["id"], None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result((arrived, view))
                    else:
                        self.arrived[view["id"]] = (arrived, view)
                elif message.get("type") == "approval.closed":
                    self.closed_events += 1
                    self.arrived.pop(message.get("id"), None)

    def created(self, approval_id: str) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        future: asyncio.Future[tuple[float, dict[str, Any]]] = asyncio.get_running_loop().create_future()
        if approval_id in self.arrived:
            future.set_result(self.arrived.pop(approval_id))
        else:
            self.waiters[approval_id] = future
        return future

    @property
    def is_open(self) -> bool:
        return self.ws is not None and self.reader is not None and not self.reader.done()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            await cancel_and_wait(self.reader)


# --- recording -------------------------------------------------------------------------------


@dataclass
class Recorder:
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    flows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def add(self, step: str, seconds: float) -> None:
        self.steps[step].append(seconds * 1000)

    def error(self, step: str, what: object) -> None:
        self.errors[f"{step}:{what}"] += 1

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flows": self.flows,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors.most_common(8)),
        }
        for step, values in self.steps.items():
            out[step] = {
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "p99": percentile(values, 99),
                "mean": statistics.fmean(values) if values else float("nan"),
                "n": len(values),
            }
        return out


# --- the flow --------------------------------------------------------------------------------


@dataclass
class LoadGenerator:
    base_url: str
    api_key: str
    receiver: WebhookReceiver | None
    poll_interval: float = 0.05
    long_poll_wait: int = 10
    number_matching_share: float = 0.25
    deny_share: float = 0.1
    flow_timeout: float = 30.0
    realtime_url: str = ""  # where RP WebSockets and long polls go when the server is split (else base_url)
    device_url: str = ""  # where device WebSockets go when the server is split (else realtime_url)
    rp: HttpClient = field(init=False)
    rp_realtime: HttpClient = field(init=False)
    device_http: HttpClient = field(init=False)
    created_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Needs a running event loop (aiohttp's connector binds to it)."""
        timeout = self.long_poll_wait + 20.0
        self.rp = HttpClient(self.base_url, timeout=timeout, headers={"Authorization": f"Bearer {self.api_key}"})
        self.device_http = HttpClient(self.base_url, timeout=timeout)
        realtime = self.realtime_url or self.base_url
        self.rp_realtime = (
            HttpClient(realtime, timeout=timeout, headers={"Authorization": f"Bearer {self.api_key}"})
            if realtime != self.base_url
            else self.rp
        )
        self._rp_ws_url = realtime.replace("http://", "ws://", 1)
        self._ws_url = (self.device_url or realtime).replace("http://", "ws://", 1)
        self._rp_ws_headers = {"Authorization": f"Bearer {self.api_key}"}

    @property
    def ws_url(self) -> str:
        """The device sockets' server."""
        return self._ws_url

    async def aclose(self) -> None:
        await self.rp.aclose()
        await self.device_http.aclose()
        if self.rp_realtime is not self.rp:
            await self.rp_realtime.aclose()

    def request_body(self, user_id: str, variant: str, n: int) -> dict[str, Any]:
        body: dict[str, Any]
        if random.random() < self.number_matching_share:
            body = {
                "type": "login",
                "login_hint": user_id,
                "binding_message": f"Log in to Bench Webshop #{n}",
                "number_matching": True,
            }
        else:
            body = {
                "type": "payment",
                "login_hint": user_id,
                "binding_message": f"Order {n} at Bench Webshop ApS",
                "payment": {"amount": f"{random.randint(1, 99999) / 100:.2f}", "currency": "DKK", "payee": "Bench Webshop ApS"},
                "number_matching": False,
            }
        if variant == "webhook" and self.receiver is not None:
            body["callback_url"] = self.receiver.url
        return body

    async def observe(self, variant: str, approval_id: str) -> tuple[float, str]:
        if variant in ("poll", "longpoll"):
            # GET every poll_interval, or a long poll that the server holds until the status changes.
            client, path, pause = (
                (self.rp, f"/api/v1/approvals/{approval_id}", self.poll_interval)
                if variant == "poll"
                else (self.rp_realtime, f"/api/v1/approvals/{approval_id}?wait={self.long_poll_wait}", 0.0)
            )
            while True:
                response = await client.get(path)
                response.raise_for_status()
                status = response.json()["status"]
                if status != "pending":
                    return now(), status
                if pause:
                    await asyncio.sleep(pause)
        if variant == "ws":
            async with connect(
                f"{self._rp_ws_url}/ws/v1/approvals/{approval_id}",
                additional_headers=self._rp_ws_headers,
                compression=None,
                proxy=None,
                ping_interval=None,
            ) as ws:
                async for raw in ws:
                    message = json.loads(raw)
                    status = message.get("status")
                    if status in FINAL:
                        return now(), status
            raise RuntimeError("the approval socket closed before a final status")
        if variant == "webhook":
            assert self.receiver is not None
            arrived = await self.receiver.wait(approval_id)
            return arrived, "webhook"
        raise ValueError(variant)

    async def flow(self, device: DeviceSocket, variant: str, n: int, rec: Recorder) -> bool:
        t0 = now()
        try:
            response = await self.rp.post("/api/v1/approvals", json=self.request_body(device.user_id, variant, n))
        except HTTP_ERRORS as exc:
            rec.error("create", type(exc).__name__)
            return False
        t1 = now()
        if response.status_code != 201:
            rec.error("create", f"{response.status_code} {response.text[:80]}")
            return False
        approval = response.json()
        approval_id = approval["id"]
        self.created_ids.append(approval_id)
        rec.add("create", t1 - t0)
        observer = asyncio.create_task(self.observe(variant, approval_id))
        try:
            try:
                t2, view = await asyncio.wait_for(device.created(approval_id), self.flow_timeout)
            except TimeoutError:
                device.waiters.pop(approval_id, None)
                rec.error("push", "timeout")
                await self.cancel(approval_id)
                return False
            rec.add("push", t2 - t1)
            decision = "deny" if random.random() < self.deny_share else "approve"
            code = approval.get("verification_code") if view.get("verification_code_required") and decision == "approve" else None
            signed = device.phone.sign_decision(view, decision, verification_code=code)
            path = f"/api/v1/device/approvals/{approval_id}/decision"
            headers = {"Authorization": f"Device {device.phone.token('POST', path)}"}
            try:
                response = await self.device_http.post(path, json={"signed_decision": signed}, headers=headers)
            except HTTP_ERRORS as exc:
                rec.error("decide", type(exc).__name__)
                return False
            t3 = now()
            if response.status_code != 200:
                rec.error("decide", f"{response.status_code} {response.text[:80]}")
                return False
            rec.add("decide", t3 - t2)
            try:
                t4, status = await asyncio.wait_for(asyncio.shield(observer), self.flow_timeout)
            except TimeoutError:
                rec.error("observe", "timeout")
                return False
            except Exception as exc:
                rec.error("observe", type(exc).__name__)
                return False
            expected = "approved" if decision == "approve" else "denied"
            if status not in (expected, "webhook"):
                rec.error("observe", f"status {status}")
                return False
            rec.add("observe", t4 - t3)
            rec.add("flow", t4 - t0)
            rec.flows += 1
            return True
        finally:
            if not observer.done():
                await cancel_and_wait(observer)

    async def cancel(self, approval_id: str) -> None:
        with contextlib.suppress(*HTTP_ERRORS):
            await self.rp.post(f"/api/v1/approvals/{approval_id}/cancel")

    async def run(self, devices: list[DeviceSocket], variant: str, duration: float) -> tuple[Recorder, float]:
        """Each device's citizen runs flows back to back until `duration` has passed; returns the recorder and the wall time."""
        rec = Recorder()
        deadline = now() + duration
        counter = iter(range(10**9))

        async def citizen(device: DeviceSocket) -> None:
            while now() < deadline:
                try:
                    if not await self.flow(device, variant, next(counter), rec):
                        await asyncio.sleep(0.05)  # a failed flow is not retried in a hot loop
                except Exception as exc:
                    rec.error("flow", type(exc).__name__)
                    await asyncio.sleep(0.1)

        started = now()
        await asyncio.gather(*(citizen(device) for device in devices))
        return rec, now() - started


async def open_sockets(
    phones: list[tuple[str, Phone]],
    ws_url: str,
    *,
    parallel: int = 100,
    compression: str | None = None,
    failures: Counter[str] | None = None,
) -> list[DeviceSocket]:
    """Open one device socket per phone. Without `failures` any failure raises; with it, failures
    are counted there (by exception) and only the open sockets are returned."""
    sockets = [DeviceSocket(user_id, phone, ws_url) for user_id, phone in phones]
    gate = asyncio.Semaphore(parallel)

    async def one(sock: DeviceSocket) -> None:
        async with gate:
            await sock.connect(compression=compression)

    results = await asyncio.gather(*(one(sock) for sock in sockets), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed and failures is None:
        raise RuntimeError(f"{len(failed)} of {len(sockets)} device sockets failed to open; first: {failed[0]!r}")
    if failures is not None:
        failures.update(f"{type(r).__name__}: {r}"[:120] for r in failed)
    return [sock for sock, r in zip(sockets, results, strict=True) if not isinstance(r, BaseException)]


async def endpoint_costs(
    gen: LoadGenerator, devices: list[DeviceSocket], sample: Any, per_phase: int = 160
) -> dict[str, dict[str, float]]:
    """Sequential requests of one kind at a time (one client, no contention): server, PostgreSQL and
    Redis CPU per request, and the wall time of each. `sample()` returns {group: {pid: cpu seconds}}.
    Requests are made in rounds of two per citizen (the pending limit is 3), about `per_phase` of each."""
    from bench.procs import cpu_delta

    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    codes: dict[str, Counter[int]] = defaultdict(Counter)

    async def phase(name: str, calls: list[Any]) -> list[Response]:
        before = sample()
        started = now()
        responses = [await call() for call in calls]
        wall = now() - started
        after = sample()
        for group in ("server", "postgres", "redis"):
            totals[name][group] += cpu_delta(before[group], after[group])
        totals[name]["wall"] += wall
        totals[name]["n"] += len(calls)
        codes[name].update(r.status_code for r in responses)
        return responses

    def listing(device: DeviceSocket) -> Any:
        path = "/api/v1/device/approvals"
        return lambda: gen.device_http.get(path, headers={"Authorization": f"Device {device.phone.token('GET', path)}"})

    def decide(approval_id: str, device: DeviceSocket, view: dict[str, Any]) -> Any:
        path = f"/api/v1/device/approvals/{approval_id}/decision"
        signed = device.phone.sign_decision(view, "approve")
        headers = {"Authorization": f"Device {device.phone.token('POST', path)}"}
        return lambda: gen.device_http.post(path, json={"signed_decision": signed}, headers=headers)

    await phase("GET /healthz (baseline)", [lambda: gen.rp.get("/healthz")] * per_phase)
    await phase("GET /.well-known/jwks.json", [lambda: gen.rp.get("/.well-known/jwks.json")] * per_phase)
    payment = {"amount": "10.00", "currency": "DKK", "payee": "Bench Webshop ApS"}
    counter = 0
    while totals["POST /api/v1/approvals"]["n"] < per_phase:
        owners = [d for d in devices for _ in range(2)][: per_phase - int(totals["POST /api/v1/approvals"]["n"])]
        bodies = []
        for device in owners:
            counter += 1
            body = {
                "type": "payment",
                "login_hint": device.user_id,
                "binding_message": f"Cost {counter}",
                "payment": payment,
                "number_matching": False,
            }
            bodies.append(lambda body=body: gen.rp.post("/api/v1/approvals", json=body))
        created = await phase("POST /api/v1/approvals", bodies)
        ids = [r.json()["id"] for r in created if r.status_code == 201]
        await phase("GET /api/v1/approvals/{id} (pending)", [lambda i=i: gen.rp.get(f"/api/v1/approvals/{i}") for i in ids])
        listed = await phase("GET /api/v1/device/approvals", [listing(d) for d in owners[::2]])
        views: dict[str, tuple[DeviceSocket, dict[str, Any]]] = {}
        for device, response in zip(owners[::2], listed, strict=True):
            if response.status_code == 200:
                for view in response.json()["approvals"]:
                    views[view["id"]] = (device, view)
        # Signed before the phase, so that the load generator's signing is not in the wall time.
        await phase("POST /api/v1/device/approvals/{id}/decision", [decide(i, *views[i]) for i in ids if i in views])
        await phase("GET /api/v1/approvals/{id} (final)", [lambda i=i: gen.rp.get(f"/api/v1/approvals/{i}") for i in ids])
        for device in devices:
            device.arrived.clear()
        if not ids:
            break
    results: dict[str, dict[str, float]] = {}
    for name, total in totals.items():
        n = max(1, total["n"])
        results[name] = {group: 1000 * total[group] / n for group in ("server", "postgres", "redis")}
        results[name]["wall_ms"] = 1000 * total["wall"] / n
        results[name]["status"] = float(codes[name].most_common(1)[0][0]) if codes[name] else 0.0
        results[name]["n"] = float(total["n"])
    return results
