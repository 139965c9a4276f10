"""Audit appends per second at 1, 8, 32 and 64 concurrent writers, against PostgreSQL.

    python -m bench.audit [--writers 1,8,32,64] [--duration 3] [--processes 4] [--seal-every 2] [--backlog-seconds 5] [--no-baseline]

Each writer is a thread (spread over `--processes` worker processes, so that one interpreter's GIL
is not the ceiling) that runs, in a loop, the transaction shape of the real services: lock a row
of its own, update it, and append one audit entry through `audit.services.audit_append`, then
commit. The writers share nothing but the audit log, so whatever it serialises shows as the gap to
the baseline: the same transaction without the audit append.

Where the log is sealed after commit (audit.services.audit_seal), one sealer runs beside the writers
every `--seal-every` seconds, as Celery beat runs it, and once more after them; the table shows how
many entries it sealed and how many per second of its own run time, and how long the last run took.
Those runs seal small batches, so their rate carries each run's fixed costs; the design's ceiling is
measured last (`--backlog-seconds`): the most writers append with no sealer beside them, then one
sealer run seals the whole backlog, timed.

The bench makes its own database `bench_audit_<tag>` on the server of bench/stack.py (migrated,
dropped at the end, also on Ctrl-C or SIGTERM). Every cell checks that the log holds exactly the
appends the writers committed and that the audit log verifies.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import os
import secrets
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import procs
from bench.stack import PG_ADMIN_DSN, PG_URL, ROOT, exit_on_sigterm

TABLE = "bench_audit_row"


# --- the worker process ---------------------------------------------------------------------------
def _worker_main(conn: multiprocessing.connection.Connection, database_url: str, pool_max: int) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings",
            "DATABASE_URL": database_url,
            "DJANGO_SECRET_KEY": "bench-audit-" + "0" * 40,
            "DJANGO_DEBUG": "0",
            "NEMID_LOG_LEVEL": "WARNING",
            "NEMID_DB_POOL_MIN": "0",
            "NEMID_DB_POOL_MAX": str(pool_max),
        }
    )
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("NEMID_TESTING", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    conn.send("ready")
    while True:
        command = conn.recv()
        if command is None:
            return
        conn.send(_seal_backlog() if command == "seal" else _run_writers(**command))


def _seal_backlog() -> dict[str, Any]:
    """One sealer run over everything left unsealed: its entries per second are the design's ceiling."""
    from django.db import connection

    from audit import services

    began = time.perf_counter()
    sealed = services.audit_seal().sealed  # type: ignore[attr-defined]
    seconds = time.perf_counter() - began
    connection.close()
    return {"sealed": sealed, "seconds": seconds}


def _run_writers(*, rows: list[int], audited: bool, start_at: float, duration: float, seal_every: float) -> dict[str, Any]:
    from django.db import connection, transaction

    from audit import services

    audit_append = services.audit_append
    latencies: list[list[float]] = [[] for _ in rows]
    errors: list[str] = []
    sealing = {"sealed": 0, "busy": 0.0, "catch_up": 0.0}
    done = threading.Event()

    def seal_once() -> float:
        began = time.perf_counter()
        sealing["sealed"] += services.audit_seal().sealed  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - began
        sealing["busy"] += elapsed
        return elapsed

    def sealer() -> None:
        """As Celery beat runs it in production: every `seal_every` seconds, beside the writers."""
        try:
            if not done.wait(max(0.0, start_at - time.time())):
                while not done.wait(seal_every):
                    seal_once()
            sealing["catch_up"] = seal_once()  # what the writers left, after they stopped
        except Exception as exc:
            errors.append(f"sealer {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    def writer(index: int, row: int) -> None:
        mine = latencies[index]
        try:
            connection.ensure_connection()
            while time.time() < start_at:
                time.sleep(0.001)
            deadline = start_at + duration
            n = 0
            while True:
                began = time.perf_counter()
                if time.time() >= deadline:
                    break
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"SELECT n FROM {TABLE} WHERE id = %s FOR UPDATE", [row])
                    n = cursor.fetchone()[0] + 1
                    cursor.execute(f"UPDATE {TABLE} SET n = %s WHERE id = %s", [n, row])
                    if audited:
                        audit_append(action="bench.changed", object_type="bench_row", object_id=row, actor="bench", data={"n": n})
                mine.append(time.perf_counter() - began)
        except Exception as exc:  # reported to the parent, which fails the run
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i, row)) for i, row in enumerate(rows)]
    seal_thread = threading.Thread(target=sealer) if seal_every and hasattr(services, "audit_seal") else None
    for thread in [*threads, *([seal_thread] if seal_thread else [])]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    if seal_thread is not None:
        seal_thread.join()
    return {"latencies": [x for per in latencies for x in per], "errors": errors, **sealing}


# --- the parent ----------------------------------------------------------------------------------
@dataclass
class Cell:
    writers: int
    audited: bool
    commits: int
    seconds: float
    p50_ms: float
    p99_ms: float
    pg_cpu_ms: float
    sealed: int = 0
    seal_busy: float = 0.0
    catch_up: float = 0.0

    @property
    def rate(self) -> float:
        return self.commits / self.seconds


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.db_name = f"bench_audit_{time.strftime('%H%M%S')}_{secrets.token_hex(3)}"
        self.database_url = f"{PG_URL}/{self.db_name}"
        self.workers: list[tuple[multiprocessing.process.BaseProcess, multiprocessing.connection.Connection]] = []

    def admin(self, sql: str) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def dsn(self) -> str:
        return PG_ADMIN_DSN.replace("dbname=postgres", f"dbname={self.db_name}")

    def setup(self) -> None:
        import subprocess

        self.admin(f'CREATE DATABASE "{self.db_name}"')
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings",
            "DATABASE_URL": self.database_url,
            "DJANGO_SECRET_KEY": "bench-audit-" + "0" * 40,
            "DJANGO_DEBUG": "0",
        }
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        most = max(self.args.writers)
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, n bigint NOT NULL)")  # type: ignore[arg-type]
            conn.execute(f"INSERT INTO {TABLE} SELECT g, 0 FROM generate_series(1, %s) g", [most])  # type: ignore[arg-type]
        context = multiprocessing.get_context("spawn")
        per_process = -(-most // self.args.processes)
        for _ in range(min(self.args.processes, most)):
            parent_end, child_end = context.Pipe()
            proc = context.Process(target=_worker_main, args=(child_end, self.database_url, per_process + 2), daemon=True)
            proc.start()
            self.workers.append((proc, parent_end))
        for _, pipe in self.workers:
            assert pipe.recv() == "ready"

    def close(self) -> None:
        for proc, pipe in self.workers:
            try:
                pipe.send(None)
            except (BrokenPipeError, OSError):
                pass
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        try:
            self.admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        except psycopg.Error as exc:
            print(f"could not drop {self.db_name}: {exc}", file=sys.stderr)

    def audit_count(self) -> int:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM audit_auditentry WHERE action = 'bench.changed'").fetchone()
        assert row is not None
        return int(row[0])

    def postgres_pids(self) -> list[int]:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)).fetchall()
        return [int(row[0]) for row in rows]

    def run_cell(self, writers: int, *, audited: bool, duration: float) -> Cell:
        rows = list(range(1, writers + 1))
        shares = [rows[i :: len(self.workers)] for i in range(len(self.workers))]
        start_at = time.time() + 0.5 + 0.02 * writers  # every thread connected before the clock starts
        before_count = self.audit_count()
        busy = [(pipe, share) for (_, pipe), share in zip(self.workers, shares, strict=True) if share]
        for index, (pipe, share) in enumerate(busy):
            seal_every = self.args.seal_every if audited and index == 0 else 0.0
            pipe.send({"rows": share, "audited": audited, "start_at": start_at, "duration": duration, "seal_every": seal_every})
        time.sleep(max(0.0, start_at - time.time() - 0.05))
        pids = self.postgres_pids()
        cpu_before = procs.cpu_of(pids)
        results = [pipe.recv() for pipe, _ in busy]
        pg_cpu = procs.cpu_delta(cpu_before, procs.cpu_of(pids))
        errors = [e for r in results for e in r["errors"]]
        if errors:
            raise RuntimeError(f"{len(errors)} writers failed, first: {errors[0]}")
        latencies = sorted(x for r in results for x in r["latencies"])
        commits = len(latencies)
        if audited and self.audit_count() - before_count != commits:
            raise RuntimeError(f"{commits} appends committed but {self.audit_count() - before_count} entries in the log")
        return Cell(
            writers=writers,
            audited=audited,
            commits=commits,
            seconds=duration,
            p50_ms=statistics.median(latencies) * 1000 if latencies else float("nan"),
            p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else float("nan"),
            pg_cpu_ms=pg_cpu * 1000 / commits if commits else float("nan"),
            sealed=sum(r.get("sealed", 0) for r in results),
            seal_busy=sum(r.get("busy", 0.0) for r in results),
            catch_up=sum(r.get("catch_up", 0.0) for r in results),
        )

    def seal_backlog(self, writers: int, duration: float) -> dict[str, Any]:
        """Appends with no sealer beside them (everything earlier sealed first), then one sealer run over the backlog."""
        pipe = self.workers[0][1]
        pipe.send("seal")
        pipe.recv()
        args_seal_every, self.args.seal_every = self.args.seal_every, 0.0
        try:
            cell = self.run_cell(writers, audited=True, duration=duration)
        finally:
            self.args.seal_every = args_seal_every
        pipe.send("seal")
        return {"appended": cell.commits, **pipe.recv()}

    def verify(self) -> str:
        import subprocess

        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "DJANGO_SECRET_KEY": "bench-audit-" + "0" * 40,
            "DJANGO_DEBUG": "0",
        }
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "manage.py", "verify_audit_log"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"verify_audit_log failed: {done.stderr[-2000:]}")
        return done.stdout.strip()


def table(cells: list[Cell]) -> str:
    baseline = {c.writers: c for c in cells if not c.audited}
    lines = [
        "writers  appends/s  p50 ms  p99 ms  PG CPU ms/append  baseline tx/s  vs baseline  sealed  sealer entries/s  catch-up ms",
        "-------  ---------  ------  ------  ----------------  -------------  -----------  ------  ----------------  -----------",
    ]
    for cell in (c for c in cells if c.audited):
        base = baseline.get(cell.writers)
        lines.append(
            f"{cell.writers:>7}  {cell.rate:>9.0f}  {cell.p50_ms:>6.2f}  {cell.p99_ms:>6.2f}  {cell.pg_cpu_ms:>16.2f}"
            + (f"  {base.rate:>13.0f}  {cell.rate / base.rate:>10.2f}x" if base else f"  {'':>13}  {'':>11}")
            + (
                f"  {cell.sealed:>6}  {cell.sealed / cell.seal_busy:>16.0f}  {cell.catch_up * 1000:>11.0f}"
                if cell.seal_busy
                else ""
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", default="1,8,32,64", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per cell")
    parser.add_argument("--processes", type=int, default=4, help="worker processes the writer threads are spread over")
    parser.add_argument("--seal-every", type=float, default=2.0, help="seconds between sealer runs beside the writers (0: none)")
    parser.add_argument(
        "--backlog-seconds",
        type=float,
        default=5.0,
        help="seconds of appends by the most writers with no sealer, then one sealer run over them, timed (0 skips)",
    )
    parser.add_argument(
        "--no-baseline", dest="baseline", action="store_false", help="skip the same transaction without the audit append"
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()
    bench = Bench(args)
    cells: list[Cell] = []
    try:
        bench.setup()
        bench.run_cell(min(args.writers), audited=True, duration=1.0)  # warm-up: connections, prepared statements
        for writers in args.writers:
            if args.baseline:
                cells.append(bench.run_cell(writers, audited=False, duration=args.duration))
            cells.append(bench.run_cell(writers, audited=True, duration=args.duration))
            print(f"  {writers} writers: {cells[-1].rate:.0f} appends/s", file=sys.stderr, flush=True)
        backlog = bench.seal_backlog(max(args.writers), args.backlog_seconds) if args.backlog_seconds else None
        verified = bench.verify()
    finally:
        bench.close()
    print(
        f"audit appends: each writer's transaction locks and updates its own row and appends one entry ({args.duration:.0f} s per cell)"
    )
    if args.seal_every:
        print(
            f"sealer: a run every {args.seal_every:g} s beside the writers and one after them (catch-up ms); "
            "entries/s is what it sealed per second of its own run time"
        )
    print(table(cells))
    if backlog is not None:
        print(
            f"sealer ceiling: {backlog['appended']} entries appended by {max(args.writers)} writers in "
            f"{args.backlog_seconds:g} s with no sealer, then one sealer run: {backlog['sealed']} sealed in "
            f"{backlog['seconds'] * 1000:.0f} ms = {backlog['sealed'] / backlog['seconds']:.0f} entries/s"
        )
    print(f"verify_audit_log after the run: {verified}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
