"""What one password check costs (docs/contract §9), with the production hasher (Argon2id).

    python -m bench.passwords [--rounds 20]

Prints the Argon2id parameters Django's hasher uses, then the median and 90th percentile time of:
argon2-cffi's own verify with those parameters (the floor), Django's check_password (what the service
calls), the dummy check spent on a user ID without a citizen, and the whole service
citizens.services.citizen_password_verify (throttle bookkeeping and audit in a throwaway SQLite
database) for a right and a wrong password. The difference between the floor and the service is
what the service adds to Argon2id.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup(database: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings",
            "DATABASE_URL": f"sqlite:///{database}",
            "DJANGO_SECRET_KEY": "bench-passwords-" + "0" * 40,
            "DJANGO_DEBUG": "0",
            "NEMID_LOG_LEVEL": "WARNING",
        }
    )
    for name in ("REDIS_URL", "NEMID_TESTING"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _times(call: Callable[[], object], rounds: int) -> tuple[float, float, float]:
    """(median wall ms, p90 wall ms, median CPU ms of this process, all its threads)."""
    call()  # warm up
    samples, cpu = [], []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.9))], statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        _setup(Path(directory) / "bench.sqlite3")
        import argon2
        from django.conf import settings
        from django.contrib.auth.hashers import check_password, get_hasher, make_password

        from citizens.models import Citizen
        from citizens.services import citizen_password_set, citizen_password_verify, password_check_dummy
        from nemid_app_backend.exceptions import InvalidCredentialsError

        hasher = get_hasher()
        print(f"PASSWORD_HASHERS[0]: {settings.PASSWORD_HASHERS[0]}")
        print(
            f"Argon2id: time_cost={hasher.time_cost}, memory_cost={hasher.memory_cost} KiB, parallelism={hasher.parallelism}; "
            f"{os.cpu_count()} CPUs"
        )
        password = "blue horse eats late"
        encoded = make_password(password)
        assert encoded.startswith("argon2$argon2id$"), encoded
        raw = argon2.PasswordHasher(
            time_cost=hasher.time_cost, memory_cost=hasher.memory_cost, parallelism=hasher.parallelism, type=argon2.Type.ID
        )
        raw_hash = raw.hash(password)

        citizen = Citizen.objects.create(
            user_id="5000000001",
            name="Bench Citizen",
            cpr_hash="0" * 64,
            cpr_masked="010170-XXXX",
            birth_date=datetime.date(1970, 1, 1),
        )
        citizen_password_set(citizen=citizen, password=password)

        def service_wrong() -> None:
            try:
                citizen_password_verify(citizen=citizen, password="wrong wrong wrong")
            except InvalidCredentialsError:
                pass
            Citizen.objects.filter(pk=citizen.pk).update(
                password_failures=0, password_blocked_until=None, failed_attempts=0, locked_until=None
            )

        rows = [
            ("argon2-cffi verify (the floor)", lambda: raw.verify(raw_hash, password)),
            ("argon2-cffi hash", lambda: raw.hash(password)),
            ("Django make_password", lambda: make_password(password)),
            ("Django check_password, right", lambda: check_password(password, encoded)),
            ("Django check_password, wrong", lambda: check_password("wrong wrong wrong", encoded)),
            ("dummy check (unknown user ID)", lambda: password_check_dummy(password=password)),
            ("citizen_password_verify, right", lambda: citizen_password_verify(citizen=citizen, password=password)),
            ("citizen_password_verify, wrong", service_wrong),
        ]
        print(f"load average: {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
        print(f"\n{'what':<34} {'median ms':>10} {'p90 ms':>8} {'CPU ms':>8}   ({args.rounds} rounds)")
        for label, call in rows:
            median, p90, cpu = _times(call, args.rounds)
            print(f"{label:<34} {median:>10.1f} {p90:>8.1f} {cpu:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
