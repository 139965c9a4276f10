"""/metrics, request ids and structured logs: the figures move when the flow runs, only operators
can read them, the values of several processes add up, and log lines carry the request id."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from nemid_app_backend import metrics
from nemid_app_backend.observability import RequestIdFilter, request_id_from, request_id_var
from tests.approvals.conftest import create, decide, login_body, payment_body
from tests.realtime.helpers import Receiver, Reply
from webhooks.models import WebhookEvent
from webhooks.services import webhook_deliver

pytestmark = pytest.mark.django_db(transaction=True)  # counts are taken on commit

ROOT = Path(__file__).resolve().parent.parent


def scrape(client: Client | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or Client()).get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_full_flow_moves_the_metrics(rp, rp_api, citizen, device):
    before = scrape()
    created = create(rp_api, payment_body(citizen)).json()
    assert decide(device, created).status_code == 200
    again = create(rp_api, login_body(citizen))
    assert rp_api.post(f"/api/v1/approvals/{again.json()['id']}/cancel").status_code == 200
    assert rp_api.post(f"/api/v1/approvals/{again.json()['id']}/cancel").status_code == 409
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("nemid_approvals_created_total", type="payment", relying_party=rp.client_id) == 1
    assert moved("nemid_approvals_created_total", type="login", relying_party=rp.client_id) == 1
    assert moved("nemid_approvals_finished_total", type="payment", status="approved") == 1
    assert moved("nemid_approvals_finished_total", type="login", status="cancelled") == 1
    assert moved("nemid_approval_decision_seconds_count", type="payment", status="approved") == 1
    assert moved("nemid_approval_decision_seconds_count", type="login", status="cancelled") == 0
    assert moved("nemid_refusals_total", code="approval_not_pending") == 1
    # The request histogram's count is the count of requests answered (no separate counter).
    assert moved("nemid_http_request_seconds_count", method="POST", route="api/v1/approvals", status="2xx") == 2
    assert (
        moved("nemid_http_request_seconds_count", method="POST", route="api/v1/approvals/<str:approval_id>/cancel", status="4xx")
        == 1
    )
    # Labels stay bounded: no request or approval id ever becomes a label value.
    for name, labels in after:
        assert created["id"] not in dict(labels).values(), name


def test_long_polls_are_counted_apart_and_odd_methods_share_one_label(rp, rp_api, citizen, device):
    created = create(rp_api, payment_body(citizen)).json()
    assert decide(device, created).status_code == 200
    before = scrape()
    route = "api/v1/approvals/<str:approval_id>"
    # Decided already: the long poll answers at once; it is counted, not timed.
    assert rp_api.get(f"/api/v1/approvals/{created['id']}?wait=5").status_code == 200
    assert rp_api.get(f"/api/v1/approvals/{created['id']}").status_code == 200
    assert Client().generic("BREW", "/healthz").status_code == 405
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("nemid_long_polls_total", status="2xx") == 1
    assert moved("nemid_http_request_seconds_count", method="GET", route=route, status="2xx") == 1
    assert moved("nemid_http_request_seconds_count", method="other", route="healthz", status="4xx") == 1
    assert not any(dict(labels).get("method") == "BREW" for _, labels in after)


def _sealed_up() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Seal until the scrape shows nothing unsealed, and return that scrape. On PostgreSQL the sealer
    stops at the oldest transaction still open anywhere on the server (its snapshot's xmin): another
    session's open transaction holds it back until it ends, so this waits for that, up to 30 s."""
    from audit.services import audit_seal

    deadline = time.monotonic() + 30
    while True:
        audit_seal()
        audit_seal()  # the first checkpoint makes the signing key, an entry of its own
        scraped = scrape()
        if value(scraped, "nemid_audit_oldest_unsealed_seconds") == 0 or time.monotonic() > deadline:
            return scraped
        time.sleep(0.1)


def test_audit_appends_are_timed_and_the_sealers_lag_is_read_at_scrape(rp_api, citizen, device):
    from audit.models import AuditEntry

    before = _sealed_up()
    assert value(before, "nemid_audit_oldest_unsealed_seconds") == 0
    appended = AuditEntry.objects.count()
    create(rp_api, payment_body(citizen))
    appended = AuditEntry.objects.count() - appended
    lagging = scrape()
    assert appended >= 1
    assert value(lagging, "nemid_audit_append_seconds_count") - value(before, "nemid_audit_append_seconds_count") == appended
    assert value(lagging, "nemid_audit_oldest_unsealed_seconds") > 0
    assert value(_sealed_up(), "nemid_audit_oldest_unsealed_seconds") == 0


def test_a_requests_writes_are_made_when_it_is_answered_and_at_once_outside_one():
    made: list[int] = []
    pending: list = []
    token = metrics.pending_var.set(pending)
    try:
        metrics.soon(lambda: made.append(1))
        assert made == []
    finally:
        metrics.pending_var.reset(token)
    metrics.write_pending(pending)
    assert made == [1] and pending == []
    metrics.soon(lambda: made.append(2))
    assert made == [1, 2]


def test_a_failing_write_is_logged_and_the_others_are_made(caplog):
    made: list[int] = []

    def broken() -> None:
        raise OSError("No space left on device")

    with caplog.at_level(logging.WARNING, logger="nemid_app_backend.metrics"):
        metrics.write_pending([lambda: made.append(1), broken, lambda: made.append(2)])
    assert made == [1, 2]
    assert "a metric write failed" in caplog.text


def test_a_rolled_back_change_counts_nothing(rp, rp_api, citizen, device):
    before = scrape()
    with pytest.raises(RuntimeError), transaction.atomic():
        metrics.approval_created(approval_type="login", relying_party=rp.client_id)
        raise RuntimeError("rolled back")
    assert value(scrape(), "nemid_approvals_created_total", type="login", relying_party=rp.client_id) == value(
        before, "nemid_approvals_created_total", type="login", relying_party=rp.client_id
    )


def test_lock_and_fraud_report_are_counted(rp_api, citizen, device):
    before = scrape()
    created = create(rp_api, login_body(citizen)).json()
    assert decide(device, created, "deny", report_fraud=True).status_code == 200
    after = scrape()
    assert value(after, "nemid_fraud_reports_total") - value(before, "nemid_fraud_reports_total") == 1
    assert (
        value(after, "nemid_citizen_locks_total", reason="fraud_report")
        - value(before, "nemid_citizen_locks_total", reason="fraud_report")
        == 1
    )


def test_webhook_backlog_and_attempts(settings, rp_api, citizen, device):
    with Receiver(Reply(500), Reply(500)) as receiver:
        before = scrape()
        created = create(rp_api, login_body(citizen, callback_url=receiver.url)).json()
        assert decide(device, created).status_code == 200
        # Embedded mode delivered at once (eager Celery); with a broker the task waits in the queue,
        # so make the attempt here: either way exactly one attempt has been made.
        event = WebhookEvent.objects.get(object_id=created["id"])
        webhook_deliver(event_id=event.pk)
        after = scrape()
    assert value(after, "nemid_webhook_outbox_backlog") == 1
    assert value(after, "nemid_webhook_oldest_undelivered_seconds") >= 0
    assert value(after, "nemid_webhook_undelivered_max_attempts") == 1
    assert (
        value(after, "nemid_webhook_attempts_total", outcome="failed")
        - value(before, "nemid_webhook_attempts_total", outcome="failed")
        == 1
    )


async def test_open_websockets_are_counted(device):
    from asgiref.sync import sync_to_async

    from nemid_app_backend.asgi import application

    auth = device.phone.auth("GET", "/ws/v1/device")["HTTP_AUTHORIZATION"]
    communicator = WebsocketCommunicator(application, "/ws/v1/device", headers=[(b"authorization", auth.encode())])
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    open_now = await sync_to_async(scrape)()
    assert value(open_now, "nemid_websocket_connections", kind="device") == 1
    await communicator.disconnect()
    closed = await sync_to_async(scrape)()
    assert value(closed, "nemid_websocket_connections", kind="device") == 0


# --- who may read them ---------------------------------------------------------------------------


def test_metrics_are_refused_to_anyone_but_the_operators_prometheus(settings):
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="198.51.100.7")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    # A proxy on the same host passing a request on is not the operators' Prometheus.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 403
    settings.NEMID_METRICS_TOKEN = "a-long-scrape-token-for-prometheus"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    allowed = client.get("/metrics", REMOTE_ADDR="198.51.100.7", HTTP_AUTHORIZATION="Bearer a-long-scrape-token-for-prometheus")
    assert allowed.status_code == 200


def test_several_processes_add_up(tmp_path):
    """Multiprocess mode: what two processes counted, a third one's scrape serves summed."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    count = "import django; django.setup(); from nemid_app_backend import metrics; metrics.FRAUD_REPORTS.inc(); metrics.WEBSOCKETS.labels('device').inc()"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, cwd=ROOT, check=True, timeout=60)
    read = "import django; django.setup(); from nemid_app_backend import metrics; import sys; sys.stdout.write(metrics.scrape().decode())"
    out = subprocess.run([sys.executable, "-c", read], env=env, cwd=ROOT, check=True, timeout=60, capture_output=True, text=True)
    values = parse(out.stdout)
    assert value(values, "nemid_fraud_reports_total") == 2
    # Open sockets are a live sum: the two processes have ended, so theirs no longer count.
    assert value(values, "nemid_websocket_connections", kind="device") == 0


# --- request ids and logs ------------------------------------------------------------------------


def test_request_id_is_answered_and_kept_from_a_plausible_proxy_header():
    client = Client()
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.proxy:7")["X-Request-ID"] == "abc-123.proxy:7"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="evil\nline" * 3)["X-Request-ID"]
    assert made and "\n" not in made and made != "evil\nline" * 3
    assert len(client.get("/healthz")["X-Request-ID"]) == 32
    assert request_id_from("x" * 129) != "x" * 129


def test_log_records_carry_the_request_id_as_json(caplog):
    from pythonjsonlogger.json import JsonFormatter

    formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s")
    record = logging.LogRecord("nemid", logging.INFO, __file__, 1, "webhook %s failed", ("m-1",), None)
    token = request_id_var.set("req-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "req-42"
    assert line["message"] == "webhook m-1 failed"


def test_the_json_log_format_is_one_object_per_line():
    env = {**os.environ, "NEMID_LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "tests.settings"}
    code = "import django, logging; django.setup(); logging.getLogger('nemid').warning('hello %s', 'there')"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=60, capture_output=True, text=True)
    line = json.loads(out.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello there"
    assert line["level"] == "WARNING"
    assert line["request_id"] == "-"


def test_the_request_id_travels_with_a_celery_task():
    from celery.signals import before_task_publish, task_postrun, task_prerun

    headers: dict[str, str] = {}
    token = request_id_var.set("req-7")
    try:
        before_task_publish.send(
            sender="webhooks.tasks.deliver_webhook", headers=headers, body=(), exchange="", routing_key="celery"
        )
    finally:
        request_id_var.reset(token)
    assert headers["nemid_request_id"] == "req-7"

    class Request:
        nemid_request_id = headers["nemid_request_id"]

    class Task:
        request = Request()

    task = Task()
    task_prerun.send(sender=task, task_id="t", task=task)
    try:
        assert request_id_var.get() == "req-7"
    finally:
        task_postrun.send(sender=task, task_id="t", task=task)
    assert request_id_var.get() is None
