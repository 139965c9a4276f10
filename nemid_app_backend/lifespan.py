"""The ASGI lifespan: what starts and stops with a uvicorn process.

Channels' ProtocolTypeRouter has no "lifespan" route, so uvicorn used to warn that the protocol
was unsupported. `Lifespan` wraps the application and answers it. In embedded mode (no REDIS_URL:
Celery runs tasks eagerly and there is no beat) it also runs the periodic jobs of
CELERY_BEAT_SCHEDULE (the overdue sweep, the webhook re-drive) in the server process: an asyncio
task started at startup, cancelled at shutdown, which runs each job in a worker thread when it is
due. With a broker configured it starts nothing: Celery beat does that job.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from nemid_app_backend.celery import app as celery_app

logger = logging.getLogger(__name__)


def periodic_jobs(beat_schedule: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Task name -> interval in seconds, from a Celery beat schedule. Entries that are not a fixed
    interval (a crontab) are left out, with a warning."""
    jobs: dict[str, float] = {}
    for name, entry in beat_schedule.items():
        every = entry["schedule"]
        every = getattr(every, "run_every", every)  # celery.schedules.schedule
        if isinstance(every, datetime.timedelta):
            every = every.total_seconds()
        if not isinstance(every, (int, float)) or every <= 0:
            logger.warning("periodic job %s: only fixed intervals run in-process; skipped", name)
            continue
        jobs[entry["task"]] = float(every)
    return jobs


def run_job(task_name: str) -> None:
    """Run one periodic task here, as a worker would (Celery's local `apply`), then give back this
    thread's database connections."""
    try:
        celery_app.tasks[task_name].apply()
    except Exception:
        logger.exception("periodic job %s failed", task_name)
    finally:
        connections.close_all()


async def run_periodic_jobs(jobs: Mapping[str, float]) -> None:
    """Each job at startup and then every interval after its previous run ended, until cancelled."""
    if not jobs:
        return
    await sync_to_async(celery_app.loader.import_default_modules, thread_sensitive=False)()  # autodiscovery, as a worker does
    loop = asyncio.get_running_loop()
    due = dict.fromkeys(jobs, loop.time())
    while True:
        name = min(due, key=due.__getitem__)
        delay = due[name] - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        job = asyncio.ensure_future(sync_to_async(run_job, thread_sensitive=False)(name))
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            await job  # stopping: let the job in hand finish (its thread would run on anyway)
            raise
        due[name] = loop.time() + jobs[name]


def embedded() -> bool:
    """Whether nothing else runs the periodic jobs: Celery runs tasks eagerly (no broker, no beat)."""
    return bool(celery_app.conf.task_always_eager)


class Lifespan:
    """ASGI middleware: answers the lifespan protocol, passes everything else to `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        jobs: asyncio.Task[None] | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if embedded():
                        jobs = asyncio.create_task(run_periodic_jobs(periodic_jobs(settings.CELERY_BEAT_SCHEDULE)))
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await _stop(jobs)
                    jobs = None
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        finally:
            await _stop(jobs)


async def _stop(jobs: asyncio.Task[None] | None) -> None:
    """Cancel the jobs task and wait for it to end (after the job in hand, if any)."""
    if jobs is None:
        return
    jobs.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await jobs
