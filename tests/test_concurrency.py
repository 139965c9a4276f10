"""Caps on concurrent work per client (nemid_app_backend.concurrency): in this process, and in
Redis across processes, without leaking a slot when a holder leaves or its process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from nemid_app_backend import concurrency
from nemid_app_backend.concurrency import Slots
from nemid_app_backend.exceptions import ApplicationError

ROOT = Path(__file__).resolve().parents[1]


def slots(limit: int) -> Slots:
    return Slots(f"test-{os.getpid()}-{time.monotonic_ns()}", lambda: limit, what="test holds")


def test_a_cap_refuses_beyond_its_limit_and_a_given_back_slot_is_free_again():
    cap = slots(2)
    first, second = cap.take("c"), cap.take("c")
    with pytest.raises(ApplicationError) as refused:
        cap.take("c")
    assert refused.value.code == "too_many_concurrent_requests" and refused.value.http_status == 429
    assert refused.value.headers == {"Retry-After": "1"}
    other = cap.take("another client")  # per client
    assert other is not None
    assert cap.in_use("c") == 2
    cap.give_back(first)
    cap.give_back(first)  # twice is harmless
    assert cap.in_use("c") == 1
    for lease in (second, other):
        cap.give_back(lease)
    assert cap.in_use("c") == 0


def test_hold_gives_the_slot_back_when_the_block_fails():
    cap = slots(1)
    with pytest.raises(RuntimeError), cap.hold("c"):
        assert cap.in_use("c") == 1
        raise RuntimeError("the wait failed")
    assert cap.in_use("c") == 0


def test_a_limit_of_zero_is_no_cap():
    cap = slots(0)
    assert [cap.take("c") for _ in range(3)] == [None, None, None]


def test_without_redis_reachable_the_cap_is_kept_in_this_process(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    cap = slots(1)
    lease = cap.take("c")
    assert lease is not None and not lease.in_redis
    with pytest.raises(ApplicationError):
        cap.take("c")
    cap.give_back(lease)
    assert cap.take("c") is not None


# --- Redis: across processes -------------------------------------------------------------------

HOLDER = """
import sys
import django
django.setup()
from nemid_app_backend import concurrency
from nemid_app_backend.concurrency import Slots

concurrency.LEASE_TTL = float(sys.argv[3])
concurrency.LEASE_REFRESH = float(sys.argv[3]) / 4
cap = Slots(sys.argv[1], lambda: 2, what="test holds")
leases = [cap.take("c") for _ in range(int(sys.argv[2]))]
print("held", flush=True)
sys.stdin.readline()
for lease in leases:
    cap.give_back(lease)
print("released", flush=True)
"""


@pytest.fixture
def holder_process() -> Iterator[Any]:
    """start(name, count, ttl) -> another process holding `count` slots of the cap `name` (limit 2)."""
    started: list[subprocess.Popen[str]] = []

    def start(name: str, count: int, ttl: float) -> subprocess.Popen[str]:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": settings.REDIS_URL}
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, name, str(count), str(ttl)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _redis_time_passes(moment_ms: float, deadline: float = 20.0) -> None:
    """Wait until Redis's own clock has passed `moment_ms` (what a lease's expiry is measured in)."""
    client = concurrency._redis_leases().client
    give_up = time.monotonic() + deadline
    while True:
        seconds, micros = client.time()  # type: ignore[misc]
        if seconds * 1000 + micros / 1000 > moment_ms:
            return
        assert time.monotonic() < give_up, "Redis's clock did not move"
        time.sleep(0.05)


def _latest_expiry(key: str) -> float:
    entries: Any = concurrency._redis_leases().client.zrange(key, 0, -1, withscores=True)
    return float(max(score for _, score in entries))


@pytest.mark.redis
def test_the_cap_holds_across_processes_and_a_clean_exit_gives_slots_back(holder_process):
    cap = Slots(f"test-{os.getpid()}-{time.monotonic_ns()}", lambda: 2, what="test holds")
    process = holder_process(cap.name, 2, 30.0)
    with pytest.raises(ApplicationError):
        cap.take("c")
    assert cap.in_use("c") == 2
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "released"
    lease = cap.take("c")
    assert lease is not None and lease.in_redis
    cap.give_back(lease)


@pytest.mark.redis
def test_a_live_process_keeps_its_slots_and_a_dead_ones_expire(holder_process):
    cap = Slots(f"test-{os.getpid()}-{time.monotonic_ns()}", lambda: 2, what="test holds")
    key = cap.key("c")
    process = holder_process(cap.name, 2, 3.0)
    first_expiry = _latest_expiry(key)
    _redis_time_passes(first_expiry)
    # Past the first expiry the leases are still held: the live process refreshed them.
    assert _latest_expiry(key) > first_expiry
    with pytest.raises(ApplicationError):
        cap.take("c")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    # Killed without giving anything back: its slots stay taken until their leases expire.
    _redis_time_passes(_latest_expiry(key))
    assert cap.in_use("c") == 0
    lease = cap.take("c")
    assert lease is not None
    cap.give_back(lease)


@pytest.mark.redis
def test_a_lease_that_lapsed_while_held_is_added_again_by_the_refresh(monkeypatch):
    monkeypatch.setattr(concurrency, "LEASE_TTL", 1.0)
    cap = slots(1)
    lease = cap.take("c")
    expiry = _latest_expiry(cap.key("c"))
    _redis_time_passes(expiry)
    assert cap.in_use("c") == 0  # lapsed: a process stalled past the TTL
    concurrency.refresh_leases()
    assert cap.in_use("c") == 1  # its holder is still there: counted again
    cap.give_back(lease)
    assert cap.in_use("c") == 0
