"""Appending takes no lock; the sealer links committed entries into the chain after commit, loses none,
and never passes an entry whose transaction may still commit (docs/decisions/0004)."""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction

from audit.models import AuditCheckpoint, AuditEntry, AuditSeal
from audit.selectors import audit_chain_verify, audit_last_seal
from audit.services import audit_append, audit_seal
from audit.tasks import seal_audit_log
from signing.services import signing_key_rotate


@pytest.fixture(autouse=True)
def signing_key(request):  # type: ignore[no-untyped-def]
    """A server signing key from the start: else the first checkpoint makes one, which is audited too."""
    marker = request.node.get_closest_marker("django_db")
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    signing_key_rotate(actor="t")


def sealed_ids() -> list[int]:
    return list(AuditSeal.objects.order_by("seq").values_list("entry_id", flat=True))


@pytest.mark.django_db
def test_append_is_a_single_insert(django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        entry = audit_append(action="test.event", object_type="thing", object_id=1, data={"when": datetime.date(2026, 1, 2)})
    assert captured.captured_queries[0]["sql"].startswith("INSERT")
    assert entry.pk is not None and entry.data == {"when": "2026-01-02"} and len(entry.mac) == 64
    assert not AuditSeal.objects.filter(entry=entry).exists()


@pytest.mark.django_db
def test_sealing_links_entries_once_in_order():
    first = [audit_append(action="test.event", object_type="thing", object_id=n) for n in range(3)]
    assert audit_seal().sealed == 4  # and the signing key's creation
    assert audit_seal().sealed == 0  # nothing new
    later = audit_append(action="test.event", object_type="thing", object_id=3)
    assert audit_seal().sealed == 1
    assert sealed_ids()[1:4] == [e.pk for e in first] and sealed_ids()[-1] == later.pk
    assert list(AuditSeal.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, len(sealed_ids()) + 1))
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_rolled_back_appends_leave_no_trace_in_the_chain():
    audit_append(action="test.kept", object_type="thing", object_id=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_append(action="test.rolled_back", object_type="thing", object_id=2)
        raise RuntimeError("the change failed")
    audit_append(action="test.kept", object_type="thing", object_id=3)
    audit_seal()
    actions = list(AuditSeal.objects.order_by("seq").values_list("entry__action", flat=True))
    assert "test.rolled_back" not in actions and actions.count("test.kept") == 2
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_sealing_in_batches_gives_the_chain_one_run_gives(settings):
    entries = [audit_append(action="test.event", object_type="thing", object_id=n) for n in range(7)]
    settings.NEMID_AUDIT_SEAL_BATCH = 2
    assert audit_seal().sealed == 8
    assert sealed_ids()[1:] == [e.pk for e in entries]
    assert audit_chain_verify().ok


@pytest.mark.django_db
def test_checkpoints_follow_the_interval(settings):
    settings.NEMID_AUDIT_CHECKPOINT_SECONDS = 60
    start = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
    audit_append(action="test.event", object_type="thing", object_id=1)
    first = audit_seal(now=start).checkpoint
    assert first is not None and first.seq == 2 and first.jws
    audit_append(action="test.event", object_type="thing", object_id=2)
    assert audit_seal(now=start + datetime.timedelta(seconds=59)).checkpoint is None  # sealed, not yet checkpointed
    assert audit_seal(now=start + datetime.timedelta(seconds=61)).checkpoint.seq == 3
    assert audit_seal(now=start + datetime.timedelta(seconds=200)).checkpoint is None  # nothing new to sign
    assert list(AuditCheckpoint.objects.order_by("seq").values_list("seq", flat=True)) == [2, 3]


@pytest.mark.django_db
def test_the_beat_schedule_runs_the_sealer():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "audit.tasks.seal_audit_log" in tasks
    audit_append(action="test.event", object_type="thing", object_id=1)
    assert seal_audit_log.apply().get() == 2


# --- PostgreSQL: real transactions committing out of order ---


def _in_thread(target, *args):  # type: ignore[no-untyped-def]
    def run() -> None:
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _seal_until(done, what: str) -> None:  # type: ignore[no-untyped-def]
    """Seal until `done()`. Any transaction still running anywhere in the PostgreSQL cluster (another
    test suite's) holds the horizon back, so this may take a few runs; it is a wait, not a bound."""
    pause = threading.Event()
    for _ in range(1200):
        audit_seal()
        if done():
            return
        pause.wait(0.05)
    raise AssertionError(f"not sealed: {what}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sealer_waits_for_an_open_transaction_that_holds_a_lower_id():
    appended, release = threading.Event(), threading.Event()
    held: dict[str, Any] = {}

    def hold_open() -> None:
        with transaction.atomic():
            entry = audit_append(action="test.held", object_type="thing", object_id="held")
            held.update(id=entry.pk, txid=entry.txid)
            appended.set()
            release.wait(60)

    thread = _in_thread(hold_open)
    assert appended.wait(30)
    later = audit_append(action="test.later", object_type="thing", object_id="later")  # committed, higher id
    assert later.pk > held["id"]
    try:
        for _ in range(3):
            audit_seal()
            # Nothing of a transaction at or after the open one is sealed, so nothing is sealed past it.
            assert audit_last_seal()[2] <= held["txid"]
            assert not AuditSeal.objects.filter(entry_id__in=[held["id"], later.pk]).exists()
    finally:
        release.set()
        thread.join()
    _seal_until(lambda: AuditSeal.objects.filter(entry_id__in=[held["id"], later.pk]).count() == 2, "held and later")
    assert sealed_ids().index(held["id"]) < sealed_ids().index(later.pk)  # in transaction order
    assert audit_chain_verify().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sealer_lose_no_entry():
    writers, rounds = 2, 40
    stop = threading.Event()
    committed: list[int] = []
    rolled_back: list[int] = []
    horizons: list[int] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        for n in range(rounds):
            try:
                with transaction.atomic():
                    ids = [
                        audit_append(action="test.write", object_type="writer", object_id=index, data={"n": n, "k": k}).pk
                        for k in range(1 + n % 3)
                    ]
                    if n % 7 == 3:
                        raise RuntimeError("rolled back")
            except RuntimeError:
                with lock:
                    rolled_back.extend(ids)
                continue
            with lock:
                committed.extend(ids)

    def seal() -> None:
        while not stop.is_set():
            audit_seal()
            horizons.append(audit_last_seal()[2])

    sealer = _in_thread(seal)
    threads = [_in_thread(write, i) for i in range(writers)]
    for thread in threads:
        thread.join()
    stop.set()
    sealer.join()
    writes = AuditSeal.objects.filter(entry__action="test.write")
    _seal_until(lambda: writes.count() == len(committed), f"{len(committed)} committed entries")
    assert sorted(writes.values_list("entry_id", flat=True)) == sorted(committed)
    assert not AuditEntry.objects.filter(pk__in=rolled_back).exists()
    assert list(AuditSeal.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, AuditSeal.objects.count() + 1))
    assert horizons == sorted(horizons)  # the horizon never moves back
    report = audit_chain_verify()
    assert report.ok and report.entries == AuditSeal.objects.count() == len(committed) + 1  # and the signing key's
