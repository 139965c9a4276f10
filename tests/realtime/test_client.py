"""The reference device client (`python -m devices.client`): enroll, list, approve and deny through
the real HTTP API (in-process over WSGI), and listen over a real WebSocket against uvicorn."""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import queue
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection
from django.test import Client

from approvals.models import ApprovalRequest
from citizens.services import activation_code_issue
from devices import client
from devices.models import Device
from tests.factories import CitizenFactory, RelyingPartyFactory
from tests.realtime.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wsgi_http() -> httpx.Client:
    """An httpx client whose requests go through Django's test client (same thread, same test transaction)."""
    django_client = Client()

    def handle(request: httpx.Request) -> httpx.Response:
        headers: dict[str, Any] = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in request.headers.items()
            if name.lower() not in ("content-type", "content-length", "host")
        }
        response = django_client.generic(
            request.method,
            request.url.raw_path.decode(),
            data=request.content,
            content_type=request.headers.get("content-type", ""),
            **headers,
        )
        return httpx.Response(response.status_code, headers=dict(response.items()), content=response.content)

    return httpx.Client(transport=httpx.MockTransport(handle), base_url="http://testserver")


def _enroll(tmp_path: Path, citizen: Any, http: httpx.Client, capsys: Any) -> Path:
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    key_file = tmp_path / "keys" / "device.pem"
    argv = [
        "--key-file",
        str(key_file),
        "enroll",
        "--server",
        "http://testserver",
        "--activation-code",
        code,
        "--name",
        "Test phone",
    ]
    assert client.main(argv, http=http) == 0
    capsys.readouterr()
    return key_file


def _request(rp: Any, citizen: Any, **body: Any) -> dict[str, Any]:
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    response = api.post("/api/v1/approvals", {"login_hint": citizen.user_id, **body}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


PAYMENT = {
    "type": "payment",
    "binding_message": "Order 10023",
    "payment": {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"},
}


@pytest.mark.django_db
def test_enroll_keeps_the_key_private_and_registers_the_device(tmp_path, capsys):
    citizen = CitizenFactory()
    key_file = _enroll(tmp_path, citizen, _wsgi_http(), capsys)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    device = Device.objects.get(citizen=citizen)
    assert device.name == "Test phone" and device.platform == "other" and device.status == "active"
    assert client.Device.load(key_file).device_id == str(device.id)
    # a second enrollment never overwrites the key
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    argv = ["--key-file", str(key_file), "enroll", "--server", "http://testserver", "--activation-code", code]
    assert client.main(argv, http=_wsgi_http()) == 1
    assert "exists" in capsys.readouterr().err


@pytest.mark.django_db
def test_list_approve_and_deny(tmp_path, capsys):
    citizen, rp = CitizenFactory(), RelyingPartyFactory()
    http = _wsgi_http()
    key_file = _enroll(tmp_path, citizen, http, capsys)
    payment = _request(rp, citizen, **PAYMENT)
    login = _request(rp, citizen, type="login", binding_message="Log in to Webshop")

    assert client.main(["--key-file", str(key_file), "list"], http=http) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [view["id"] for view in listing["approvals"]] == [login["id"], payment["id"]]
    assert listing["approvals"][1]["payment"] == PAYMENT["payment"]

    assert client.main(["--key-file", str(key_file), "approve", payment["id"]], http=http) == 0
    assert json.loads(capsys.readouterr().out) == {"id": payment["id"], "status": "approved"}
    assert ApprovalRequest.objects.get(id=payment["id"]).status == "approved"

    # number matching: the number the RP shows is required
    assert client.main(["--key-file", str(key_file), "approve", login["id"]], http=http) == 1
    error = json.loads(capsys.readouterr().err)
    assert error["error"] == "client_error" and "--code" in error["detail"]
    assert (
        client.main(["--key-file", str(key_file), "approve", login["id"], "--code", login["verification_code"]], http=http) == 0
    )
    assert ApprovalRequest.objects.get(id=login["id"]).status == "approved"

    denied = _request(rp, citizen, **PAYMENT)
    assert client.main(["--key-file", str(key_file), "deny", denied["id"]], http=http) == 0
    assert ApprovalRequest.objects.get(id=denied["id"]).status == "denied"
    # a decided request is no longer pending
    assert client.main(["--key-file", str(key_file), "deny", denied["id"]], http=http) == 1
    assert "no pending request" in json.loads(capsys.readouterr().err)["detail"]


def test_client_errors_without_enrollment(tmp_path, capsys):
    assert client.main(["--key-file", str(tmp_path / "none.pem"), "list"]) == 1
    assert "enroll" in json.loads(capsys.readouterr().err)["detail"]


def test_an_unreachable_server_is_a_json_error(tmp_path, capsys):
    argv = ["--key-file", str(tmp_path / "k.pem"), "enroll", "--server", f"http://127.0.0.1:{free_port()}"]
    assert client.main([*argv, "--activation-code", "AAAA-BBBB-CCCC-DDDD"]) == 1
    assert json.loads(capsys.readouterr().err)["error"] == "unreachable"


def test_signature_is_raw_r_s_and_verifies():
    from cryptography.hazmat.primitives.asymmetric import ec

    from devices import crypto

    key = ec.generate_private_key(ec.SECP256R1())
    token = client.sign_jws(key, {"typ": "device+jwt", "kid": "x"}, {"hello": "world"})
    assert len(crypto.b64url_decode(token.split(".")[2])) == 64
    header, payload = crypto.verify_jws(token, crypto.load_public_jwk(client.public_jwk(key)), typ="device+jwt")
    assert header["alg"] == "ES256" and payload == {"hello": "world"}


@pytest.fixture
def live_server_process(transactional_db):  # type: ignore[no-untyped-def]
    """uvicorn serving the ASGI app (HTTP + WebSocket) on the test database, with the in-memory
    channel layer: the RP's request and the device's WebSocket meet in that one process."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{settings_dict['NAME']}"
    else:
        database_url = (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
        )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env.update({"DATABASE_URL": database_url, "NEMID_TESTING": "1", "DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings"})
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "nemid_app_backend.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_listen_approves_a_request_pushed_over_the_websocket(live_server_process, tmp_path, capsys, monkeypatch):
    url = live_server_process
    citizen, rp = CitizenFactory(), RelyingPartyFactory()
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    key_file = tmp_path / "device.pem"
    assert client.main(["--key-file", str(key_file), "enroll", "--server", url, "--activation-code", code]) == 0
    device = client.Device.load(key_file)
    api = client.Api(url)
    monkeypatch.setattr(builtins, "input", lambda prompt="": "approve")

    loop = asyncio.new_event_loop()
    listener = loop.create_task(client.listen_websocket(api, device))
    thread = threading.Thread(target=loop.run_until_complete, args=(asyncio.wait([listener], timeout=15),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while "connected" not in capsys.readouterr().out and time.monotonic() < deadline:  # wait for the subscription
        time.sleep(0.05)

    created = httpx.post(
        url + "/api/v1/approvals",
        json={"login_hint": citizen.user_id, **PAYMENT},
        headers={"authorization": f"Bearer {rp.api_key}"},
    )
    assert created.status_code == 201, created.text
    approval_id = created.json()["id"]
    deadline = time.monotonic() + 10
    while ApprovalRequest.objects.get(id=approval_id).status == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    loop.call_soon_threadsafe(listener.cancel)
    thread.join(timeout=5)
    assert ApprovalRequest.objects.get(id=approval_id).status == "approved"


@pytest.mark.django_db
def test_polling_fallback_asks_and_denies_with_a_fraud_report(tmp_path, capsys, monkeypatch):
    citizen, rp = CitizenFactory(), RelyingPartyFactory()
    http = _wsgi_http()
    key_file = _enroll(tmp_path, citizen, http, capsys)
    created = _request(rp, citizen, **PAYMENT)
    answers = iter(["deny", "y"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(answers))
    client.listen_polling(client.Api("http://testserver", http), client.Device.load(key_file), rounds=1)
    approval = ApprovalRequest.objects.get(id=created["id"])
    assert approval.status == "denied" and approval.fraud_reported
    out = capsys.readouterr().out
    assert "pay 149.95 DKK to Webshop ApS" in out  # the prompt, for a person
    assert json.loads(out.splitlines()[-1]) == {"type": "decision", "id": created["id"], "status": "denied"}


def test_listen_without_a_terminal_prints_events_as_json_lines(live_server_process, tmp_path):
    """Run as a service or in a pipe, `listen` cannot prompt: it prints each event as a JSON line."""
    url = live_server_process
    citizen, rp = CitizenFactory(), RelyingPartyFactory()
    code, _ = activation_code_issue(citizen=citizen, actor="test")
    key_file = tmp_path / "device.pem"
    assert client.main(["--key-file", str(key_file), "enroll", "--server", url, "--activation-code", code]) == 0
    listener = subprocess.Popen(
        [sys.executable, "-m", "devices.client", "--key-file", str(key_file), "listen"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in listener.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        assert json.loads(lines.get(timeout=20)) == {"type": "connected", "transport": "websocket"}
        created = httpx.post(
            url + "/api/v1/approvals",
            json={"login_hint": citizen.user_id, **PAYMENT},
            headers={"authorization": f"Bearer {rp.api_key}"},
        )
        assert created.status_code == 201, created.text
        event = json.loads(lines.get(timeout=20))
        assert event["type"] == "approval.created" and event["approval"]["id"] == created.json()["id"]
        assert event["approval"]["payment"] == PAYMENT["payment"]
        httpx.post(url + f"/api/v1/approvals/{created.json()['id']}/cancel", headers={"authorization": f"Bearer {rp.api_key}"})
        closed = json.loads(lines.get(timeout=20))
        assert closed == {"type": "approval.closed", "id": created.json()["id"], "status": "cancelled"}
        assert listener.poll() is None  # still listening, no crash on the missing terminal
    finally:
        listener.terminate()
        listener.wait(timeout=10)
    assert ApprovalRequest.objects.get(id=created.json()["id"]).status == "cancelled"
