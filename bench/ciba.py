"""Server CPU of one login: CIBA (poll mode) beside the §5 API, in the production shape.

    python -m bench.ciba [--flows 300] [--rounds 3]

Both logins end with the relying party holding a server-signed token that carries the phone's
signed decision. §5: POST /api/v1/approvals (login, number matching on), the phone lists its
requests and posts its decision, the relying party reads the approval (the result token). CIBA:
POST /oidc/backchannel, the same phone steps, then one token request (grant_type ...:ciba: access
token and ID token); a second CIBA row adds one `authorization_pending` poll before the answer.

Each step runs for all `--flows` logins in a row (one client, one request at a time), between two
samples of the processes' CPU time (utime+stime from /proc), so the table shows CPU per request of
each step and per whole login: uvicorn (one worker), the PostgreSQL backends of the bench database,
and the own redis-server. The median of `--rounds` rounds is shown. The stack (database, Redis,
uvicorn, a Celery worker) is bench/stack.py's, started and removed by this command.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives import serialization

from bench.stack import PG_URL, Stack, cpu_deltas, exit_on_sigterm
from devices.client import Api, Device

GROUPS = ("server", "postgres", "redis")
CIBA = "urn:openid:params:grant-type:ciba"


def _phones(stack: Stack) -> list[Device]:
    phones = []
    for row in stack.seed_data["citizens"]:
        key = serialization.load_pem_private_key(row["key_pem"].encode(), password=None)
        phones.append(Device(stack.base_url, row["device_id"], row["user_id"], key))  # type: ignore[arg-type]
    return phones


def _check(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}")
    return dict(response.json())


class Bench:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        seed = stack.seed_data
        self.http = httpx.Client(base_url=stack.base_url, timeout=30)
        self.rp = httpx.Client(base_url=stack.base_url, timeout=30, headers={"authorization": f"Bearer {seed['api_key']}"})
        self.oauth = httpx.Client(base_url=stack.base_url, timeout=30, auth=(seed["client_id"], seed["client_secret"]))
        self.api = Api(stack.base_url, self.http)
        self.phones = _phones(stack)

    def step(
        self, fn: Callable[[Device, dict[str, Any]], None], phones: list[Device], state: dict[str, dict[str, Any]]
    ) -> dict[str, float]:
        """Run `fn` for every phone, and return the CPU milliseconds per call for each group."""
        before = self.stack.cpu_sample()
        for phone in phones:
            fn(phone, state.setdefault(phone.device_id, {}))
        deltas = cpu_deltas(before, self.stack.cpu_sample())
        return {group: 1000 * deltas[group] / len(phones) for group in GROUPS}

    # --- the steps ------------------------------------------------------------------------------
    def api_create(self, phone: Device, flow: dict[str, Any]) -> None:
        body = {"type": "login", "login_hint": phone.user_id, "binding_message": "Log in to Bench Webshop ApS"}
        created = _check(self.rp.post("/api/v1/approvals", json=body), 201)
        flow.update(id=created["id"], code=created["verification_code"])

    def api_read(self, phone: Device, flow: dict[str, Any]) -> None:
        read = _check(self.rp.get(f"/api/v1/approvals/{flow['id']}"), 200)
        assert read["status"] == "approved" and read["result"]["token"]

    def ciba_request(self, phone: Device, flow: dict[str, Any]) -> None:
        body = {"scope": "openid", "login_hint": phone.user_id, "binding_message": "Log in to Bench Webshop ApS"}
        flow["auth_req_id"] = _check(self.oauth.post("/oidc/backchannel", data=body), 200)["auth_req_id"]

    def ciba_pending(self, phone: Device, flow: dict[str, Any]) -> None:
        answer = _check(self.oauth.post("/oidc/token", data={"grant_type": CIBA, "auth_req_id": flow["auth_req_id"]}), 400)
        assert answer["error"] == "authorization_pending"

    def ciba_token(self, phone: Device, flow: dict[str, Any]) -> None:
        tokens = _check(self.oauth.post("/oidc/token", data={"grant_type": CIBA, "auth_req_id": flow["auth_req_id"]}), 200)
        assert tokens["id_token"] and tokens["access_token"]

    def phone_answers(self, phone: Device, flow: dict[str, Any]) -> None:
        (view,) = self.api.pending(phone)
        self.api.decide(phone, view, "approve", verification_code=flow.get("code"))

    # --- the logins -----------------------------------------------------------------------------
    def api_login(self, phones: list[Device]) -> dict[str, dict[str, float]]:
        state: dict[str, dict[str, Any]] = {}
        return {
            "POST /api/v1/approvals": self.step(self.api_create, phones, state),
            "phone: list + decision": self.step(self.phone_answers, phones, state),
            "GET /api/v1/approvals/{id}": self.step(self.api_read, phones, state),
        }

    def ciba_login(self, phones: list[Device], *, pending_poll: bool) -> dict[str, dict[str, float]]:
        state: dict[str, dict[str, Any]] = {}
        steps = {"POST /oidc/backchannel": self.step(self.ciba_request, phones, state)}
        if pending_poll:
            steps["POST /oidc/token (pending)"] = self.step(self.ciba_pending, phones, state)
        steps["phone: list + decision"] = self.step(self.phone_answers, phones, state)
        if pending_poll:
            # the token request after a poll: the client waited its interval (the bench does not wait)
            self.stack_reset_polls()
        steps["POST /oidc/token (tokens)"] = self.step(self.ciba_token, phones, state)
        return steps

    def stack_reset_polls(self) -> None:
        with psycopg.connect(f"{PG_URL}/{self.stack.db_name}", autocommit=True) as conn:
            conn.execute("UPDATE oidc_backchannelrequest SET last_polled_at = NULL")


def total(steps: dict[str, dict[str, float]]) -> dict[str, float]:
    return {group: sum(step[group] for step in steps.values()) for group in GROUPS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=300, help="logins per kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    exit_on_sigterm()
    stack = Stack(beat=False)
    kinds = ("§5 API login", "CIBA login", "CIBA login, one pending poll")
    runs: dict[str, list[dict[str, dict[str, float]]]] = {kind: [] for kind in kinds}
    try:
        print("starting the stack (PostgreSQL database, Redis, uvicorn, a Celery worker)...", file=sys.stderr)
        stack.start(citizens=3 * args.flows + 12, workers=1)
        bench = Bench(stack)
        phones = bench.phones
        groups = [phones[i * args.flows : (i + 1) * args.flows] for i in range(3)]
        warm = phones[3 * args.flows :]
        bench.api_login(warm[:4])
        bench.ciba_login(warm[4:8], pending_poll=False)
        bench.ciba_login(warm[8:12], pending_poll=True)
        for round_ in range(args.rounds):
            print(f"round {round_ + 1} of {args.rounds}...", file=sys.stderr)
            runs[kinds[0]].append(bench.api_login(groups[0]))
            runs[kinds[1]].append(bench.ciba_login(groups[1], pending_poll=False))
            runs[kinds[2]].append(bench.ciba_login(groups[2], pending_poll=True))
    finally:
        stack.close()
    print(
        f"\nServer CPU per request, ms (median of {args.rounds} rounds of {args.flows} logins; one client, one request at a time)\n"
    )
    print("| login | request | uvicorn | PostgreSQL | Redis | all three |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in kinds:
        steps = list(runs[kind][0])
        for step in [*steps, "whole login"]:
            values = {}
            for group in GROUPS:
                if step == "whole login":
                    values[group] = statistics.median(total(run)[group] for run in runs[kind])
                else:
                    values[group] = statistics.median(run[step][group] for run in runs[kind])
            name = f"**{step}**" if step == "whole login" else step
            cells = " | ".join(f"{values[group]:.2f}" for group in GROUPS)
            print(f"| {kind} | {name} | {cells} | {sum(values.values()):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
