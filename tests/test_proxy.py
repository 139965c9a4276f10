"""The production shape behind deploy/nginx/nemid-app-backend.conf: granian or gunicorn (the REST API) and
uvicorn (sockets and long polls, nemid_app_backend.settings_realtime) on loopback ports, nginx in
front of them with that file (only its addresses changed). A relying party creates a request, the
phone decides, the long poll gets the outcome, each through the proxy and each to the process the
file routes it to. Skipped when nginx is not installed (`.ci/run` installs Debian's nginx-light)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.realtime.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "deploy" / "nginx" / "nemid-app-backend.conf"
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)

pytestmark = [
    pytest.mark.proxy,
    pytest.mark.skipif(NGINX is None, reason="needs nginx (apt-get install nginx-light)"),
]


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    return f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{SITE.name} no longer has {old!r}: update this test with it"
    return text.replace(old, new)


class Processes:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.wsgi = ""

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with open(self.tmp / f"{name}.log", "wb") as log:  # the child keeps its own copy of the descriptor
            self.running[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def wait_healthy(self, name: str, url: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.running[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log(name)[-3000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer {url}:\n{self.log(name)[-3000:]}")

    def stop(self) -> None:
        for proc in self.running.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.running.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _gunicorn(port: int) -> list[str]:
    return [
        str(BIN / "gunicorn"), "nemid_app_backend.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread", "--threads", "4",
        "--forwarded-allow-ips", "127.0.0.1",
        "--access-logfile", "-", "--access-logformat", "%(r)s|%({x-forwarded-for}i)s|%({x-request-id}i)s",
    ]  # fmt: skip


def _granian(port: int) -> list[str]:
    return [
        str(BIN / "granian"), "--interface", "wsgi", "nemid_app_backend.wsgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--blocking-threads", "4",
        "--access-log", "--access-log-fmt", "[%(time)s] %(method)s %(path)s%(query_string)s %(protocol)s|%(addr)s",
    ]  # fmt: skip


WSGI_COMMANDS = {"gunicorn": _gunicorn, "granian": _granian}
WSGI_SERVER = "granian"  # README's production shape


@pytest.fixture
def proxied(request, transactional_db, tmp_path) -> Iterator[tuple[str, Processes]]:  # type: ignore[no-untyped-def]
    """The base URL of nginx in front of the WSGI server and uvicorn, on the test database."""
    api_port, realtime_port, proxy_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "NEMID_TEST_DB_SUFFIX")}
    env.update(
        {
            # The test process's keys, so that the servers find what the factories stored (keyed hashes).
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "NEMID_HMAC_KEY": settings.NEMID_HMAC_KEY,
            "NEMID_ENCRYPTION_KEY": settings.NEMID_ENCRYPTION_KEY,
            "DATABASE_URL": _database_url(),
            "NEMID_TESTING": "1",
            "DJANGO_DEBUG": "0",
            "NEMID_DEMO": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "NEMID_TRUSTED_PROXIES": "127.0.0.1",
            "NEMID_VAR_DIR": str(tmp_path / "var"),
            "NEMID_DB_POOL_MIN": "1",
            "NEMID_DB_POOL_MAX": "4",
        }
    )
    processes = Processes(tmp_path)
    try:
        wsgi = processes.wsgi = getattr(request, "param", WSGI_SERVER)
        processes.start("wsgi", WSGI_COMMANDS[wsgi](api_port), {**env, "DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings"})
        processes.start(
            "uvicorn",
            [
                str(BIN / "uvicorn"), "nemid_app_backend.asgi:application",
                "--host", "127.0.0.1", "--port", str(realtime_port), "--ws", "websockets-sansio",
                "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1", "--access-log",
            ],
            {**env, "DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings_realtime"},
        )  # fmt: skip
        site = SITE.read_text()
        site = _replace_once(site, "listen 80 default_server;", f"listen 127.0.0.1:{proxy_port} default_server;")
        site = _replace_once(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{api_port};")
        site = _replace_once(site, "server 127.0.0.1:8001;", f"server 127.0.0.1:{realtime_port};")
        site = _replace_once(site, "server 127.0.0.1:8002;", f"server 127.0.0.1:{realtime_port};")  # one uvicorn for both
        (tmp_path / "site.conf").write_text(site)
        temp = "\n".join(
            f"  {kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (tmp_path / "nginx.conf").write_text(
            f"{'user root;' if os.geteuid() == 0 else ''}\n"
            f"worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log warn;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n  access_log off;\n{temp}\n  include {tmp_path}/site.conf;\n}}\n"
        )
        processes.start("nginx", [str(NGINX), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"], env)
        processes.wait_healthy("wsgi", f"http://127.0.0.1:{api_port}/healthz")
        processes.wait_healthy("uvicorn", f"http://127.0.0.1:{realtime_port}/healthz")
        processes.wait_healthy("nginx", f"http://127.0.0.1:{proxy_port}/healthz")
        yield f"http://127.0.0.1:{proxy_port}", processes
    finally:
        processes.stop()


@pytest.mark.parametrize("proxied", ["granian", "gunicorn"], indirect=True)
def test_create_decide_and_long_poll_through_the_proxy(proxied):
    url, processes = proxied
    rp: Any = RelyingPartyFactory()
    citizen: Any = CitizenFactory()
    device: Any = DeviceFactory(citizen=citizen)
    rp_headers = {"Authorization": f"Bearer {rp.api_key}"}
    with httpx.Client(base_url=url, timeout=60) as client:
        body = {"type": "payment", "login_hint": citizen.user_id, "binding_message": "Order 10023",
                "payment": {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"}}  # fmt: skip
        created = client.post("/api/v1/approvals", json=body, headers={**rp_headers, "X-Request-ID": "shop-order-10023"})
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"] == "shop-order-10023"
        approval_id = created.json()["id"]

        outcome: dict[str, Any] = {}
        poll_path = f"/api/v1/approvals/{approval_id}?wait=25"

        def long_poll() -> None:
            with httpx.Client(base_url=url, timeout=60) as poller:
                outcome["response"] = poller.get(poll_path, headers=rp_headers)

        poller = threading.Thread(target=long_poll)
        poller.start()

        list_path = "/api/v1/device/approvals"
        listed = client.get(list_path, headers={"Authorization": f"Device {device.phone.token('GET', list_path)}"})
        assert listed.status_code == 200, listed.text
        view = next(item for item in listed.json()["approvals"] if item["id"] == approval_id)
        decision_path = f"/api/v1/device/approvals/{approval_id}/decision"
        decided = client.post(
            decision_path,
            json={"signed_decision": device.phone.sign_decision(view, "approve")},
            headers={"Authorization": f"Device {device.phone.token('POST', decision_path)}"},
        )
        assert decided.status_code == 200, decided.text
        poller.join(timeout=60)
        assert not poller.is_alive()
    polled = outcome["response"]
    assert polled.status_code == 200, polled.text
    assert polled.json()["status"] == "approved" and polled.json()["result"]["token"]
    assert re.fullmatch(r"[0-9a-f]{32}", polled.headers["x-request-id"])  # one the proxy made up

    # Each request went where the file sends it: the long poll to uvicorn, the rest to the WSGI server.
    api_log, realtime_log = processes.log("wsgi"), processes.log("uvicorn")
    read = f"GET /api/v1/approvals/{approval_id}"
    assert f"{read}?wait=25" in realtime_log and read not in api_log
    assert "POST /api/v1/approvals " in api_log and f"POST {decision_path} " in api_log
    assert "POST /api/v1/approvals " not in realtime_log and "/decision" not in realtime_log
    if processes.wsgi == "gunicorn":  # its access log shows request headers: X-Forwarded-For, X-Request-ID
        assert "POST /api/v1/approvals HTTP/1.1|127.0.0.1|shop-order-10023" in api_log


def test_websockets_pass_the_proxy_to_uvicorn(proxied):
    from websockets.sync.client import connect

    url, processes = proxied
    device: Any = DeviceFactory()
    token = device.phone.token("GET", "/ws/v1/device")
    with connect(
        url.replace("http://", "ws://") + "/ws/v1/device", additional_headers={"Authorization": f"Device {token}"}
    ) as ws:
        ws.send('{"type": "ping"}')
        assert ws.recv(timeout=30) == '{"type": "pong"}'
    assert "/ws/v1/device" in processes.log("uvicorn")


def test_the_proxy_refuses_a_body_over_64_kib_with_the_problem(proxied):
    url, processes = proxied
    response = httpx.post(url + "/api/v1/approvals", content=b"x" * (64 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"
    assert "/api/v1/approvals" not in processes.log("wsgi")  # never reached the service
