"""Reference device client: what a NemID-style code app does, in one readable file.

    python -m devices.client enroll --server http://127.0.0.1:8000 --activation-code ABCD-EFGH-...
    python -m devices.client listen      # WebSocket, falls back to polling
    python -m devices.client list
    python -m devices.client approve <approval id> [--code 42]
    python -m devices.client deny <approval id> [--report-fraud]

Every command prints JSON on stdout (one object; `listen` one object per line), and on failure exits 1
with one JSON object `{"error": "<problem code or client_error>", "status", "detail"}` on stderr.
`listen` asks approve/deny/skip for each request when it runs in a terminal; without one (a pipe, a
service manager) it only prints the events as JSON lines, so another program can act on them.

What an app developer should take from it (docs/contract §1, §4, §6):
- The device's identity is a P-256 private key that never leaves the device. Here it is a PEM file
  created with permissions 0600; a phone keeps it in the Secure Enclave / StrongBox instead.
- Every request carries a fresh *device token*: a compact JWS (ES256, raw r||s signature) with
  `htm`/`htu` naming that very request, a unique `jti` and a short `exp`. Tokens cannot be replayed.
- A decision is a second JWS over exactly what was shown to the person (the device view), so that
  the server can prove what was approved ("dynamic linking"). Never sign fields you did not show.

It depends only on cryptography, httpx and websockets; the server's code is not imported.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

DEFAULT_KEY_FILE = Path.home() / ".nemid" / "device.pem"
TOKEN_LIFETIME = 60  # seconds; the server accepts at most 300
POLL_INTERVAL = 3.0
PING_INTERVAL = 20.0


class ClientError(Exception):
    """A problem+json answer from the server, or a local problem, shown to the user as one JSON line."""

    def __init__(self, detail: str, *, code: str = "client_error", status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.status = status

    def as_json(self) -> dict[str, Any]:
        return {"error": self.code, "status": self.status, "detail": self.detail}


def emit(event: dict[str, Any]) -> None:
    """One JSON object on its own line, flushed at once (another program may be reading)."""
    print(json.dumps(event), flush=True)


# --- JOSE, by hand: the two things an app must get exactly right ------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sign_jws(private_key: ec.EllipticCurvePrivateKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Compact JWS with ES256. ECDSA libraries return DER signatures; JWS wants raw r||s (RFC 7518
    §3.4), 32 bytes each for P-256. A DER signature is rejected by the server, and so is a high-S
    one: s is replaced by n - s when above n/2 (both verify; only the low one is accepted)."""
    signing_input = f"{b64url(json.dumps({'alg': 'ES256', **header}, separators=(',', ':')).encode())}.{b64url(json.dumps(payload, separators=(',', ':')).encode())}"
    r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    if s > P256_ORDER // 2:  # the server accepts only the low-S form of an ECDSA signature
        s = P256_ORDER - s
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def public_jwk(private_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = private_key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}


# --- the device's state: key file plus a small JSON next to it --------------------------------


@dataclass
class Device:
    server: str
    device_id: str
    user_id: str
    private_key: ec.EllipticCurvePrivateKey

    @staticmethod
    def state_file(key_file: Path) -> Path:
        return key_file.with_suffix(key_file.suffix + ".json")

    @classmethod
    def load(cls, key_file: Path) -> Device:
        try:
            state = json.loads(cls.state_file(key_file).read_text())
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ClientError(f"no enrolled device at {key_file}: run `enroll` first ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ClientError(f"{key_file} is not an EC private key")
        return cls(state["server"], state["device_id"], state["user_id"], key)

    def token(self, method: str, path: str) -> str:
        """A device token for one request: bound to its method and path, used once, short-lived."""
        now = int(time.time())
        payload = {"iat": now, "exp": now + TOKEN_LIFETIME, "jti": secrets.token_urlsafe(24), "htm": method, "htu": path}
        return sign_jws(self.private_key, {"typ": "device+jwt", "kid": self.device_id}, payload)

    def sign_decision(
        self, view: dict[str, Any], decision: str, *, verification_code: str | None = None, report_fraud: bool = False
    ) -> str:
        """Sign exactly the fields of the device view that were shown (docs/contract §6)."""
        payload: dict[str, Any] = {
            "approval_id": view["id"],
            "nonce": view["nonce"],
            "decision": decision,
            "type": view["type"],
            "rp_name": view["rp_name"],
            "binding_message": view["binding_message"],
            "payment": view["payment"],
            "verification_code": verification_code,
            "iat": int(time.time()),
        }
        if report_fraud:
            payload["report_fraud"] = True
        return sign_jws(self.private_key, {"typ": "approval-decision+jwt", "kid": self.device_id}, payload)


def write_private_key(key_file: Path, private_key: ec.EllipticCurvePrivateKey) -> None:
    """Create the PEM with 0600 from the start (never world-readable, not even for a moment), and
    never overwrite an existing key: losing it means re-enrolling."""
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ClientError(f"{key_file} exists; choose another --key-file") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


# --- HTTP ---------------------------------------------------------------------------------------


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            problem = response.json()
            code, detail = str(problem.get("code") or "http_error"), str(problem.get("detail") or "")
        except ValueError:
            code, detail = "http_error", response.text[:200]
        raise ClientError(detail, code=code, status=response.status_code)
    return response.json() if response.content else None


class Api:
    """The device endpoints. `http` may be any httpx.Client (tests pass one bound to the app)."""

    def __init__(self, server: str, http: httpx.Client | None = None) -> None:
        self.server = server.rstrip("/")
        self.http = http or httpx.Client(base_url=self.server, timeout=15)

    def enroll(self, *, activation_code: str, key_file: Path, name: str, platform: str) -> Device:
        private_key = ec.generate_private_key(ec.SECP256R1())
        proof = sign_jws(
            private_key, {"typ": "device-registration+jwt"}, {"activation_code": activation_code, "iat": int(time.time())}
        )
        body = {
            "activation_code": activation_code,
            "public_key": public_jwk(private_key),
            "name": name,
            "platform": platform,
            "proof": proof,
        }
        registered = _check(self.http.post("/api/v1/devices", json=body))
        # Keep the key only once the server has accepted it.
        write_private_key(key_file, private_key)
        Device.state_file(key_file).write_text(
            json.dumps({"server": self.server, "device_id": registered["device_id"], "user_id": registered["user_id"]})
        )
        return Device(self.server, registered["device_id"], registered["user_id"], private_key)

    def pending(self, device: Device) -> list[dict[str, Any]]:
        path = "/api/v1/device/approvals"
        return list(_check(self.http.get(path, headers={"authorization": f"Device {device.token('GET', path)}"}))["approvals"])

    def decide(self, device: Device, view: dict[str, Any], decision: str, **kwargs: Any) -> dict[str, Any]:
        path = f"/api/v1/device/approvals/{view['id']}/decision"
        body = {"signed_decision": device.sign_decision(view, decision, **kwargs)}
        return dict(_check(self.http.post(path, json=body, headers={"authorization": f"Device {device.token('POST', path)}"})))

    def find(self, device: Device, approval_id: str) -> dict[str, Any]:
        """The device view to sign comes from the server's list, never from the command line."""
        for view in self.pending(device):
            if view["id"] == approval_id:
                return view
        raise ClientError(f"no pending request {approval_id}")


# --- presentation -----------------------------------------------------------------------------


def describe(view: dict[str, Any]) -> str:
    lines = [f"[{view['id']}] {view['type']} request from {view['rp_name']}"]
    if view.get("payment"):
        payment = view["payment"]
        lines.append(f"    pay {payment['amount']} {payment['currency']} to {payment['payee']}")
    if view.get("binding_message"):
        lines.append(f"    message: {view['binding_message']}")
    if view.get("verification_code_required"):
        lines.append("    you will be asked for the 2-digit number shown by the service")
    lines.append(f"    expires at {view['expires_at']}")
    return "\n".join(lines)


def ask(api: Api, device: Device, view: dict[str, Any], read: Any = None) -> None:
    """Show a request and let the person approve, deny or skip it; the outcome is printed as JSON."""
    read = read or input
    print(describe(view), flush=True)
    answer = read("approve / deny / skip? ").strip().lower()
    try:
        if answer in ("a", "approve"):
            code = read("number shown by the service: ").strip() if view.get("verification_code_required") else None
            emit({"type": "decision", **api.decide(device, view, "approve", verification_code=code)})
        elif answer in ("d", "deny"):
            fraud = read("report as fraud? [y/N] ").strip().lower() in ("y", "yes")
            emit({"type": "decision", **api.decide(device, view, "deny", report_fraud=fraud)})
        else:
            emit({"type": "skipped", "id": view["id"]})
    except ClientError as exc:
        emit({"type": "not_accepted", "id": view["id"], **exc.as_json()})


def report(api: Api, device: Device, view: dict[str, Any]) -> None:
    """Without a terminal: print the request as an event for another program to act on."""
    emit({"type": "approval.created", "approval": view})


# --- listen: WebSocket first, polling when it is unavailable ----------------------------------


def ws_url(server: str) -> str:
    parts = urlsplit(server)
    return urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc, "/ws/v1/device", "", ""))


async def listen_websocket(api: Api, device: Device, handle: Any = ask) -> None:
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Device {device.token('GET', '/ws/v1/device')}"}
    async with connect(ws_url(device.server), additional_headers=headers, ping_interval=PING_INTERVAL) as ws:
        emit({"type": "connected", "transport": "websocket"})
        # Requests made before we connected are not pushed again: fetch them once.
        for view in await asyncio.to_thread(api.pending, device):
            await asyncio.to_thread(handle, api, device, view)
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "approval.created":
                await asyncio.to_thread(handle, api, device, message["approval"])
            elif message.get("type") == "approval.closed":
                emit(message)


def listen_polling(api: Api, device: Device, *, rounds: int | None = None, handle: Any = ask) -> None:
    """Handle each new pending request every POLL_INTERVAL; `rounds` limits the loop (tests)."""
    seen: set[str] = set()
    while True:
        for view in api.pending(device):
            if view["id"] not in seen:
                seen.add(view["id"])
                handle(api, device, view)
        if rounds is not None:
            rounds -= 1
            if rounds <= 0:
                return
        time.sleep(POLL_INTERVAL)


def listen(api: Api, device: Device, *, interactive: bool | None = None) -> None:
    """Ask in a terminal; without one, print events as JSON lines (no prompt could be answered)."""
    if interactive is None:
        interactive = sys.stdin.isatty()
    handle = ask if interactive else report
    try:
        asyncio.run(listen_websocket(api, device, handle))
    except Exception as exc:  # OSError, a missing websockets, its handshake and connection errors
        emit({"type": "polling", "interval": POLL_INTERVAL, "reason": f"{type(exc).__name__}: {exc}"})
        listen_polling(api, device, handle=handle)


# --- command line -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devices.client", description="Reference NemID-style device client.")
    parser.add_argument("--key-file", type=Path, default=DEFAULT_KEY_FILE, help=f"private key PEM (default {DEFAULT_KEY_FILE})")
    commands = parser.add_subparsers(dest="command", required=True)
    enroll = commands.add_parser("enroll", help="register this device with an activation code")
    enroll.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8000")
    enroll.add_argument("--activation-code", required=True)
    enroll.add_argument("--name", default="Reference client")
    enroll.add_argument("--platform", default="other", choices=["android", "ios", "web", "other"])
    commands.add_parser("listen", help="wait for requests over the WebSocket (polling as fallback)")
    commands.add_parser("list", help="print the pending requests")
    approve = commands.add_parser("approve", help="approve one pending request")
    approve.add_argument("approval_id")
    approve.add_argument("--code", help="the 2-digit number when number matching is on")
    deny = commands.add_parser("deny", help="deny one pending request")
    deny.add_argument("approval_id")
    deny.add_argument("--report-fraud", action="store_true")
    return parser


def main(argv: list[str] | None = None, *, http: httpx.Client | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "enroll":
            device = Api(args.server, http).enroll(
                activation_code=args.activation_code, key_file=args.key_file, name=args.name, platform=args.platform
            )
            print(json.dumps({"device_id": device.device_id, "user_id": device.user_id, "key_file": str(args.key_file)}))
            return 0
        device = Device.load(args.key_file)
        api = Api(device.server, http)
        if args.command == "list":
            print(json.dumps({"approvals": api.pending(device)}))
        elif args.command == "approve":
            view = api.find(device, args.approval_id)
            if view.get("verification_code_required") and not args.code:
                raise ClientError("this request needs --code, the number shown by the service")
            print(json.dumps(api.decide(device, view, "approve", verification_code=args.code)))
        elif args.command == "deny":
            print(json.dumps(api.decide(device, api.find(device, args.approval_id), "deny", report_fraud=args.report_fraud)))
        elif args.command == "listen":
            listen(api, device)
    except ClientError as exc:
        print(json.dumps(exc.as_json()), file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:  # the server could not be reached, or did not answer
        print(json.dumps(ClientError(f"{type(exc).__name__}: {exc}", code="unreachable").as_json()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
