"""Concurrent writers on the embedded database (SQLite): real threads against the live ASGI app
(the first test runs on PostgreSQL too).

Sixteen decisions from two devices on one request at once: one 200, the rest 409
approval_not_pending, never a 5xx. Also while a long read is open on the same database (an
operator walking the audit log with verify_audit_log, an admin list): in SQLite's default
rollback-journal mode a reader blocks every writer's commit until it ends, so the decisions would
wait out the busy timeout and fail with "database is locked"; in WAL mode readers and writers do
not block each other."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import httpx
import pytest
from django.db import connection

from approvals.models import ApprovalRequest
from tests.approvals.conftest import create, decision_path, device_view_of, payment_body
from tests.factories import DeviceFactory
from tests.live import live_asgi_server

pytestmark = pytest.mark.django_db(transaction=True)
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded database's own settings")

THREADS = 16


@pytest.fixture
def live_url() -> Iterator[str]:
    with live_asgi_server() as url:
        yield url


@contextmanager
def open_read_transaction() -> Iterator[None]:
    """A reader on its own connection holding a read transaction (a snapshot) until the block ends."""
    reader = sqlite3.connect(connection.settings_dict["NAME"], timeout=1, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM audit_auditentry").fetchone()[0] > 0
        yield
    finally:
        reader.execute("COMMIT")
        reader.close()


def race_decisions(live_url: str, rp_api: Any, citizen: Any, device: Any, *, while_reading: bool) -> list[Any]:
    other: Any = DeviceFactory(citizen=citizen)
    approval = create(rp_api, payment_body(citizen)).json()
    path = decision_path(approval["id"])
    signed = {
        device.id: device.phone.sign_decision(device_view_of(device, approval["id"]), "approve"),
        other.id: other.phone.sign_decision(device_view_of(other, approval["id"]), "deny"),
    }
    requests = []
    for index in range(THREADS):
        phone_device = device if index % 2 else other
        headers = {"Authorization": f"Device {phone_device.phone.token('POST', path)}"}
        requests.append((headers, {"signed_decision": signed[phone_device.id]}))
    barrier = threading.Barrier(THREADS)
    answers: list[Any] = [None] * THREADS

    def post(index: int) -> None:
        headers, body = requests[index]
        with httpx.Client(base_url=live_url, timeout=60) as client:
            barrier.wait()
            try:
                answers[index] = client.post(path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                answers[index] = exc

    threads = [threading.Thread(target=post, args=(index,)) for index in range(THREADS)]
    with open_read_transaction() if while_reading else nullcontext():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    statuses = Counter(getattr(answer, "status_code", repr(answer)) for answer in answers)
    failures = [answer.text for answer in answers if getattr(answer, "status_code", 0) >= 500]
    assert statuses == {200: 1, 409: THREADS - 1}, (statuses, failures[:1])
    winner = next(answer for answer in answers if answer.status_code == 200).json()["status"]
    assert ApprovalRequest.objects.get(id=approval["id"]).status == winner
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "approval_not_pending"
            assert answer.json()["approval_status"] == winner
    return answers


def test_sixteen_concurrent_decisions_one_wins_the_rest_409(live_url, rp_api, citizen, device):
    race_decisions(live_url, rp_api, citizen, device, while_reading=False)


@sqlite_only
def test_concurrent_decisions_while_a_long_read_is_open(live_url, rp_api, citizen, device):
    race_decisions(live_url, rp_api, citizen, device, while_reading=True)


@sqlite_only
def test_every_connection_is_wal_with_a_busy_timeout_and_immediate_transactions():
    """Also for a connection a worker thread opens (the ASGI app's threads make their own)."""
    seen: dict[str, Any] = {}

    def probe() -> None:
        try:
            with connection.cursor() as cursor:
                seen["journal_mode"] = cursor.execute("PRAGMA journal_mode").fetchone()[0]
                seen["busy_timeout"] = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
            seen["transaction_mode"] = getattr(connection, "transaction_mode", None)
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(10)
    assert seen == {"journal_mode": "wal", "busy_timeout": 20000, "transaction_mode": "IMMEDIATE"}
