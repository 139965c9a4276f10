"""The ASGI lifespan (nemid_app_backend.lifespan): started and stopped with the server; in embedded
mode it runs the periodic jobs of the beat schedule in-process, with a broker it leaves them to beat."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from rest_framework.test import APIClient

from nemid_app_backend import lifespan
from nemid_app_backend.asgi import application
from nemid_app_backend.celery import app as celery_app
from tests.approvals.conftest import create, decide, payment_body
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.realtime.helpers import Receiver, Reply

pytestmark = pytest.mark.django_db(transaction=True)


class LifespanExchange:
    """What uvicorn does with an application's lifespan: startup, then shutdown, each awaited."""

    def __init__(self, app: Any) -> None:
        self.inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.sent: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}}, self.inbox.get, self.sent.put))

    async def _exchange(self, message: str) -> str:
        await self.inbox.put({"type": message})
        return (await asyncio.wait_for(self.sent.get(), timeout=30))["type"]

    async def startup(self) -> None:
        assert await self._exchange("lifespan.startup") == "lifespan.startup.complete"

    async def shutdown(self) -> None:
        assert await self._exchange("lifespan.shutdown") == "lifespan.shutdown.complete"
        await asyncio.wait_for(self.task, timeout=30)


@pytest.fixture
def celery_eager_as():  # type: ignore[no-untyped-def]
    """celery_eager_as(flag): Celery eager (embedded mode, no REDIS_URL) or not (a broker), whatever
    the suite runs on; restored after the test."""
    previous = celery_app.conf.task_always_eager

    def set_eager(flag: bool) -> None:
        celery_app.conf.task_always_eager = flag

    yield set_eager
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def eager(celery_eager_as):  # type: ignore[no-untyped-def]
    celery_eager_as(True)


def _decided_payment_with_webhook(url: str) -> str:
    rp: Any = RelyingPartyFactory(callback_url=url)
    citizen: Any = CitizenFactory()
    device = DeviceFactory(citizen=citizen)
    rp_api = APIClient()
    rp_api.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    approval = create(rp_api, payment_body(citizen)).json()
    assert decide(device, approval).status_code == 200  # the webhook goes out on commit, and fails
    connection.close()  # this worker thread's connection goes back to the pool
    return str(approval["id"])


async def test_embedded_mode_delivers_again_a_webhook_that_failed_once(eager, settings):
    settings.NEMID_WEBHOOK_BACKOFF_BASE = 0.2  # the retry falls due at once instead of after 5 s
    settings.CELERY_BEAT_SCHEDULE = {
        "deliver-due-webhooks": {"task": "webhooks.tasks.deliver_due_webhooks", "schedule": 0.05},
        "expire-overdue-approvals": {"task": "approvals.tasks.expire_overdue_approvals", "schedule": 0.05},
    }
    with Receiver(Reply(500), Reply(204)) as receiver:
        approval_id = await sync_to_async(_decided_payment_with_webhook, thread_sensitive=False)(receiver.url + "/hooks")
        assert [r.body for r in receiver.received] and len(receiver.received) == 1
        receiver.arrived.clear()
        exchange = LifespanExchange(application)
        await exchange.startup()
        try:
            assert await asyncio.to_thread(receiver.arrived.wait, 30), "the webhook was not delivered again"
        finally:
            await exchange.shutdown()
    assert len(receiver.received) == 2
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    assert approval_id.encode() in receiver.received[1].body
    assert not [task for task in asyncio.all_tasks() if "run_periodic_jobs" in repr(task.get_coro())]


async def test_with_a_broker_the_lifespan_starts_no_jobs(celery_eager_as, monkeypatch):
    celery_eager_as(False)
    started: list[Any] = []
    monkeypatch.setattr(lifespan, "run_periodic_jobs", lambda jobs: started.append(jobs))
    exchange = LifespanExchange(application)
    await exchange.startup()
    await exchange.shutdown()
    assert started == []


async def test_embedded_mode_runs_each_job_of_the_beat_schedule_and_stops_with_the_server(eager, settings, monkeypatch):
    settings.CELERY_BEAT_SCHEDULE = {
        "sweep": {"task": "approvals.tasks.expire_overdue_approvals", "schedule": 0.01},
        "redrive": {"task": "webhooks.tasks.deliver_due_webhooks", "schedule": 0.01},
    }
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    both_ran_twice = asyncio.Event()
    run_job = lifespan.run_job

    def counting(task_name: str) -> None:
        run_job(task_name)
        ran.append(task_name)
        if all(
            ran.count(name) >= 2 for name in ("approvals.tasks.expire_overdue_approvals", "webhooks.tasks.deliver_due_webhooks")
        ):
            loop.call_soon_threadsafe(both_ran_twice.set)

    monkeypatch.setattr(lifespan, "run_job", counting)
    exchange = LifespanExchange(application)
    await exchange.startup()
    await asyncio.wait_for(both_ran_twice.wait(), timeout=30)
    await exchange.shutdown()
    after_shutdown = len(ran)
    assert not [task for task in asyncio.all_tasks() if "run_periodic_jobs" in repr(task.get_coro())]
    await asyncio.sleep(0)  # nothing left to run another job
    assert len(ran) == after_shutdown


def test_the_beat_schedule_reads_as_intervals():
    import datetime

    from celery.schedules import crontab, schedule

    jobs = lifespan.periodic_jobs(
        {
            "a": {"task": "t.a", "schedule": 5.0},
            "b": {"task": "t.b", "schedule": datetime.timedelta(minutes=1)},
            "c": {"task": "t.c", "schedule": schedule(run_every=datetime.timedelta(seconds=7))},
            "d": {"task": "t.d", "schedule": crontab(minute="*/5")},
        }
    )
    assert jobs == {"t.a": 5.0, "t.b": 60.0, "t.c": 7.0}


async def test_uvicorn_runs_the_lifespan_without_a_warning(eager, settings, capfd):
    """What uvicorn does at start and stop with lifespan "auto" (its default): no "ASGI 'lifespan'
    protocol appears unsupported", startup and shutdown completed."""
    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn

    settings.CELERY_BEAT_SCHEDULE = {}
    config = Config(app=application, lifespan="auto")
    config.load()  # uvicorn's own logging set-up: its messages go to stderr
    lifespan_on = LifespanOn(config)
    await lifespan_on.startup()
    assert not lifespan_on.should_exit
    await lifespan_on.shutdown()
    logged = capfd.readouterr().err
    assert "Application startup complete" in logged and "Application shutdown complete" in logged
    assert "unsupported" not in logged and "failed" not in logged.lower()
