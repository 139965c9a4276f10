"""Fault tolerance on real services: Redis stopped under a running flow, and a Celery worker killed
with SIGKILL in the middle of a webhook delivery. Each test runs its own redis-server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from approvals.models import ApprovalRequest
from nemid_app_backend.celery import app as celery_app
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.realtime.helpers import Receiver, Reply, make_approval
from tests.realtime.redis_server import RedisServer
from webhooks.models import WebhookEvent
from webhooks.services import webhook_event_create
from webhooks.tasks import deliver_due_webhooks, deliver_webhook

ROOT = Path(__file__).resolve().parents[2]


def _point_celery_at(url: str) -> None:
    celery_app.conf.broker_url = url
    celery_app.conf.broker_connection_retry = False
    celery_app._pool = None  # connection and producer pools are cached per broker
    celery_app.amqp._producer_pool = None


@pytest.fixture
def own_redis(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Cache, channel layer and Celery broker of this test on a private redis-server."""
    server = RedisServer(tmp_path)
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1, "retry_on_timeout": False},
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "nemid_app_backend.channel_layer.GroupPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": server.url, "socket_connect_timeout": 1}]},
        }
    }
    previous = celery_app.conf.broker_url, celery_app.conf.task_always_eager, celery_app.conf.broker_connection_retry
    _point_celery_at(server.url)
    celery_app.conf.task_always_eager = False
    yield server
    server.stop()
    _point_celery_at(previous[0])
    celery_app.conf.broker_connection_retry = previous[2]
    celery_app.conf.task_always_eager = previous[1]


@pytest.mark.redis
@pytest.mark.django_db
def test_approvals_keep_working_with_redis_down_and_the_webhook_follows_later(
    own_redis, caplog, django_capture_on_commit_callbacks
):
    with Receiver(Reply(200)) as receiver:
        rp: Any = RelyingPartyFactory(callback_url=receiver.url + "/hooks")
        citizen = CitizenFactory()
        device: Any = DeviceFactory(citizen=citizen, push_provider="fcm", push_token="t")
        rp_api = APIClient()
        rp_api.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")

        own_redis.stop()
        with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
            created = rp_api.post(
                "/api/v1/approvals",
                {
                    "type": "payment",
                    "login_hint": citizen.user_id,
                    "binding_message": "Order 10023 at Webshop ApS",
                    "payment": {"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"},
                },
                format="json",
            )
            assert created.status_code == 201, created.content
            listing = APIClient().get("/api/v1/device/approvals", **device.phone.auth("GET", "/api/v1/device/approvals"))
            assert listing.status_code == 200, listing.content
            view = listing.json()["approvals"][0]
            path = f"/api/v1/device/approvals/{view['id']}/decision"
            decided = APIClient().post(
                path, {"signed_decision": device.phone.sign_decision(view)}, format="json", **device.phone.auth("POST", path)
            )
            assert decided.status_code == 200, decided.content
        # No stall: every Redis failure was an immediate refusal, logged and dropped; nothing waited
        # out a timeout or went round a reconnect loop.
        failures = [record.getMessage() for record in caplog.records if record.name == "nemid_app_backend.transport"]
        assert failures and all("Error 111" in failure for failure in failures)  # ECONNREFUSED, at once
        assert "Timeout" not in caplog.text
        assert ApprovalRequest.objects.get(id=view["id"]).status == "approved"
        assert "channel-layer broadcast" in caplog.text  # logged, not raised
        assert "could not enqueue" in caplog.text
        event = WebhookEvent.objects.get(object_id=view["id"])
        assert event.status == "pending" and receiver.received == []

        own_redis.start()  # Redis is back: the beat's sweep delivers the outbox row
        celery_app.conf.task_always_eager = True
        assert deliver_due_webhooks() == 1
    event.refresh_from_db()
    assert event.status == "delivered"
    payload = Webhook(rp.webhook_secret).verify(receiver.received[0].body, receiver.received[0].headers)
    assert payload["type"] == "approval.approved" and payload["data"]["status"] == "approved"


def _worker(tmp_path: Path, redis_url: str, name: str) -> subprocess.Popen[bytes]:
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.realtime.worker_settings",
        "DATABASE_URL": f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}",
        "REDIS_URL": redis_url,
        "NEMID_TESTING": "1",
    }
    log = open(tmp_path / f"{name}.log", "wb")
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "nemid_app_backend",
            "worker",
            "--beat",
            "--schedule",
            str(tmp_path / f"{name}-beat"),
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--loglevel",
            "INFO",
            "--hostname",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: SIGKILL reaches the pool child too
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def _wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_delivery_then_restarted_delivers_the_event(own_redis, tmp_path):
    # The first POST hangs (the worker dies while waiting for it); the next is answered at once.
    with Receiver(Reply(200, delay=30), Reply(200)) as receiver:
        rp: Any = RelyingPartyFactory()
        approval = make_approval(rp=rp, citizen=CitizenFactory(), status="approved")
        event = webhook_event_create(
            relying_party=rp,
            event_type="approval.approved",
            url=receiver.url + "/hooks",
            data={"id": str(approval.id)},
            object_id=str(approval.id),
        )
        deliver_webhook.apply_async(args=(event.pk,))

        first = _worker(tmp_path, own_redis.url, "first")
        try:
            assert _wait_for(lambda: len(receiver.received) == 1, 20), (tmp_path / "first.log").read_text()
        finally:
            _kill(first)  # SIGKILL, mid-delivery
        event.refresh_from_db()
        assert event.status == "pending"

        second = _worker(tmp_path, own_redis.url, "second")
        try:
            delivered = _wait_for(lambda: WebhookEvent.objects.get(pk=event.pk).status == "delivered", 20)
        finally:
            _kill(second)
        assert delivered, (tmp_path / "second.log").read_text()
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.msg_id, event.msg_id]
    Webhook(rp.webhook_secret).verify(receiver.received[1].body, receiver.received[1].headers)
    assert WebhookEvent.objects.get(pk=event.pk).delivery_attempts.get().status_code == 200


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_websocket_is_refused_cleanly_while_redis_is_down(own_redis):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from nemid_app_backend.asgi import application

    device: Any = await database_sync_to_async(DeviceFactory)()
    own_redis.stop()
    token = device.phone.token("GET", "/ws/v1/device")
    ws = WebsocketCommunicator(application, "/ws/v1/device", headers=[(b"authorization", f"Device {token}".encode())])
    connected, _ = await ws.connect(timeout=5)
    assert not connected  # the app falls back to polling GET /api/v1/device/approvals
