"""The production shape, started and stopped by the benchmarks themselves.

A fresh PostgreSQL database `bench_<tag>` on the shared server (migrated, seeded through the ORM),
an own redis-server on a private port (so that its CPU can be measured and the soak can stop it),
the HTTP servers with DEBUG off, a Celery worker and Celery beat. The HTTP servers are either
uvicorn alone (`nemid_app_backend.asgi:application` for everything), or, as README's production
shape, a WSGI server for the REST API (`wsgi`: gunicorn with sync or gthread workers, or granian)
beside uvicorn for WebSockets and long polls (nemid_app_backend.settings_realtime).
Every process is started in its own session and stopped by its own process group id.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import procs

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def exit_on_sigterm() -> None:
    """Treat SIGTERM as Ctrl-C, so that a stopped bench or soak still runs its clean-up (stops
    uvicorn, Celery and its redis-server, drops its database). Raised as SIGINT, it reaches
    asyncio.run's own handler while the load runs (which cancels the main task) and is a
    KeyboardInterrupt elsewhere; a SystemExit raised from the handler would instead be swallowed
    when the signal lands inside an event-loop callback."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a shell
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))


def raise_fd_limit() -> int:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


WSGI_SERVERS = ("gunicorn-sync", "gunicorn-gthread", "granian")
WSGI_LABELS = {"gunicorn-sync": "sync", "gunicorn-gthread": "gthread", "granian": "granian"}


@dataclass
class Stack:
    tag: str = field(default_factory=lambda: f"{time.strftime('%H%M%S')}_{secrets.token_hex(3)}")
    redis_port: int = 0
    server_workers: int = 1
    worker_concurrency: int = 8
    beat: bool = True
    webhook_hosts: str = "127.0.0.1"
    settings_module: str = "nemid_app_backend.settings"
    ws_impl: str = "websockets-sansio"  # as README recommends for production
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nemid-bench-")))
    metrics_tmp: Path | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    server_port: int = 0
    realtime_workers: int = 0
    realtime_port: int = 0
    device_workers: int = 0
    device_port: int = 0
    wsgi: str = ""  # "", or one of WSGI_SERVERS: the REST API on that WSGI server
    wsgi_threads: int = 4  # threads per WSGI worker process (gunicorn gthread, granian)
    seed_data: dict[str, Any] = field(default_factory=dict)
    pg_url: str = PG_URL  # where the processes reach PostgreSQL (bench/pgcount.py puts a counting proxy here)
    wsgi_application: str = "nemid_app_backend.wsgi:application"
    asgi_application: str = "nemid_app_backend.asgi:application"

    @property
    def db_name(self) -> str:
        return f"bench_{self.tag}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": self.settings_module,
                "DATABASE_URL": f"{self.pg_url}/{self.db_name}",
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/5",
                "DJANGO_SECRET_KEY": self._secret,
                "DJANGO_DEBUG": "0",
                "NEMID_DEMO": "0",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "NEMID_WEBHOOK_HTTP_HOSTS": self.webhook_hosts,
                "NEMID_LOG_LEVEL": "WARNING",
                "NEMID_VAR_DIR": str(self.tmp),
                # As deployed with several server processes (docs/deployment.md): metrics in files.
                "PROMETHEUS_MULTIPROC_DIR": str(self._metrics_dir()),
                # The load prompts each seeded citizen far more often than anyone is prompted, and
                # denies at random: the per-citizen limits are counted but never reached, the
                # slow-down after denials and the per-relying-party limit are off.
                "NEMID_PROMPT_LIMITS_PER_CITIZEN": "1000000/600,1000000/86400",
                "NEMID_PROMPT_DENIAL_THRESHOLD": "0",
                "NEMID_PROMPT_LIMIT_PER_RP_PER_MINUTE": "0",
                "PYTHONPATH": str(ROOT),
            }
        )
        env.pop("NEMID_TESTING", None)
        return env

    def _metrics_dir(self) -> Path:
        # On a tmpfs where there is one, as docs/operations.md deploys it (/run): every metric write
        # is a write into a memory-mapped file there.
        if self.metrics_tmp is None:
            shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
            self.metrics_tmp = Path(tempfile.mkdtemp(prefix="nemid-bench-metrics-", dir=shm))
        return self.metrics_tmp

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    # --- lifecycle -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self._secret = "bench-" + secrets.token_hex(32)
        self.redis_port = self.redis_port or free_port()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = proc
        return proc

    def _run(self, argv: list[str]) -> str:
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def start_redis(self) -> None:
        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
        )
        self._wait(lambda: self._redis_ping(), "redis")

    def _redis_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop_redis(self) -> None:
        self.stop("redis")

    def create_database(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self._run([str(BIN / "python"), "manage.py", "migrate", "--noinput"])

    def drop_database(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def seed(self, citizens: int, callback_url: str = "") -> dict[str, Any]:
        out = self.tmp / "seed.json"
        argv = [str(BIN / "python"), "-m", "bench.seed", "--citizens", str(citizens), "--out", str(out)]
        self._run([*argv, "--callback-url", callback_url] if callback_url else argv)
        self.seed_data = json.loads(out.read_text())
        return self.seed_data

    def start_server(self, workers: int | None = None, realtime_workers: int = 0, device_workers: int = 0) -> None:
        """uvicorn with `workers` processes for everything, or split as docs/deployment.md describes:
        with `realtime_workers`, a second uvicorn on its own port for RP WebSockets and long polls;
        with `device_workers`, one more for the device WebSockets (else they go with the realtime
        pool, or with everything). With `wsgi` set, `workers` are that WSGI server's processes for
        the REST API, and the WebSockets and long polls need a uvicorn of their own (at least one
        realtime worker)."""
        self.server_workers = workers or self.server_workers
        if self.wsgi and not realtime_workers:
            realtime_workers = 1
        self.realtime_workers, self.device_workers = realtime_workers, device_workers
        self.server_port = free_port()
        if self.wsgi:
            self._start_wsgi("server", self.server_port, self.server_workers)
        else:
            self._start_uvicorn("server", self.server_port, self.server_workers)
        self.realtime_port = self.device_port = 0
        if realtime_workers:
            self.realtime_port = free_port()
            self._start_uvicorn("realtime", self.realtime_port, realtime_workers, realtime=True)
        if device_workers:
            self.device_port = free_port()
            self._start_uvicorn("devices", self.device_port, device_workers, realtime=True)

    def stop_server(self) -> None:
        for name in ("devices", "realtime", "server"):
            self.stop(name)

    @property
    def topology(self) -> str:
        """The label of the server topology: "2" (two workers for everything), "2+1" (plus one for RP
        sockets, long polls and device sockets), "2+0+1" (plus one for device sockets only), "2+1+1";
        with a WSGI server, its name first ("gthread 2+1": two gunicorn gthread workers for the REST API)."""
        if self.device_port:
            label = f"{self.server_workers}+{self.realtime_workers}+{self.device_workers}"
        else:
            label = f"{self.server_workers}+{self.realtime_workers}" if self.realtime_port else str(self.server_workers)
        return f"{WSGI_LABELS[self.wsgi]} {label}" if self.wsgi else label

    @property
    def realtime_url(self) -> str:
        """Where RP WebSockets and long polls go."""
        return f"http://127.0.0.1:{self.realtime_port}" if self.realtime_port else self.base_url

    @property
    def device_url(self) -> str:
        """Where device WebSockets go."""
        return f"http://127.0.0.1:{self.device_port}" if self.device_port else self.realtime_url

    def _start_uvicorn(self, name: str, port: int, workers: int, *, realtime: bool = False) -> None:
        """uvicorn on `port`; `realtime`: as the production shape's socket and long-poll process
        (nemid_app_backend.settings_realtime) when the stack runs the default settings."""
        env = self.env
        if realtime and self.settings_module == "nemid_app_backend.settings":
            env = {**env, "DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings_realtime"}
        self._spawn(
            name,
            [
                str(BIN / "uvicorn"),
                self.asgi_application,
                "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers),
                "--loop", "uvloop", "--http", "httptools", "--ws", self.ws_impl,
                "--no-access-log", "--log-level", "warning", "--backlog", "4096",
            ],
            env,
        )  # fmt: skip
        self._wait_workers(name, port, workers)

    def _start_wsgi(self, name: str, port: int, workers: int) -> None:
        """The REST API on the WSGI server `self.wsgi`, as README's production commands start it."""
        application = self.wsgi_application
        if self.wsgi == "granian":
            argv = [
                str(BIN / "granian"), "--interface", "wsgi", application,
                "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--blocking-threads", str(self.wsgi_threads),
                "--backlog", "4096", "--no-access-log", "--log-level", "warning",
            ]  # fmt: skip
        else:
            worker_class = {
                "gunicorn-sync": ["--worker-class", "sync"],
                "gunicorn-gthread": ["--worker-class", "gthread", "--threads", str(self.wsgi_threads)],
            }[self.wsgi]
            argv = [
                str(BIN / "gunicorn"), application,
                "--bind", f"127.0.0.1:{port}", "--workers", str(workers), *worker_class,
                "--backlog", "4096", "--log-level", "warning",
            ]  # fmt: skip
        self._spawn(name, argv)
        self._wait_workers(name, port, workers)

    def _wait_workers(self, name: str, port: int, workers: int) -> None:
        self._wait(lambda: self._healthy(f"http://127.0.0.1:{port}"), name)
        if workers > 1:
            # Every worker answers before we measure: wait until the supervisor has all its children.
            self._wait(lambda: len(procs.tree(self.processes[name].pid)) > workers, f"{name} workers")

    def _healthy(self, base_url: str) -> bool:
        try:
            return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self) -> None:
        self._spawn(
            "worker",
            [str(BIN / "celery"), "-A", "nemid_app_backend", "worker", "--pool", "threads", "--concurrency", str(self.worker_concurrency),
             "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "-n", f"bench-{self.tag}@%h"],
        )  # fmt: skip

    def start_beat(self) -> None:
        self._spawn(
            "beat",
            [str(BIN / "celery"), "-A", "nemid_app_backend", "beat", "--loglevel", "WARNING",
             "-s", str(self.tmp / "celerybeat-schedule")],
        )  # fmt: skip

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.get(name)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def stop(self, name: str) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    def start(self, *, citizens: int, callback_url: str = "", workers: int = 1) -> None:
        self.start_redis()
        self.create_database()
        self.seed(citizens, callback_url)
        self.start_worker()
        if self.beat:
            self.start_beat()
        self.start_server(workers)

    def close(self, *, keep_tmp: bool = False) -> None:
        for name in ["devices", "realtime", "server", "beat", "worker", "redis"]:
            try:
                self.stop(name)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            self.drop_database()
        except psycopg.Error as exc:
            print(f"could not drop {self.db_name}: {exc}", file=sys.stderr)
        if self.metrics_tmp is not None:
            shutil.rmtree(self.metrics_tmp, ignore_errors=True)
        if not keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def _wait(ready: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")

    # --- measuring ---------------------------------------------------------------------------
    def postgres_pids(self) -> list[int]:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.db_name,)).fetchall()
        return [int(row[0]) for row in rows]

    def cpu_sample(self) -> dict[str, dict[int, float]]:
        """CPU seconds per process, grouped: server, worker (worker + beat), postgres, redis, loadgen;
        and the server's parts: api (the REST API's server), realtime and devices (the uvicorns)."""
        parents = procs.parent_map()
        groups: dict[str, list[int]] = {
            "server": [],
            "worker": [],
            "postgres": self.postgres_pids(),
            "redis": [],
            "loadgen": [os.getpid()],
            "api": [],
            "realtime": [],
            "devices": [],
        }
        for name, proc in self.processes.items():
            group = {"beat": "worker", "realtime": "server", "devices": "server"}.get(name, name)
            if group in groups and proc.poll() is None:
                tree = procs.tree(proc.pid, parents)
                groups[group].extend(tree)
                if group == "server":
                    groups["api" if name == "server" else name].extend(tree)
        return {group: procs.cpu_of(pids) for group, pids in groups.items()}

    def server_pids(self) -> list[int]:
        """The processes that serve requests (the workers, not the supervisor, when there are several)."""
        root = self.processes["server"].pid
        pids = procs.tree(root)
        return [pid for pid in pids if pid != root] or [root]

    def serving_pids(self) -> list[tuple[str, int]]:
        """Every process that serves requests, labelled: server-<n>, realtime-<n>, devices-<n>."""
        parents = procs.parent_map()
        out = []
        for name in ("server", "realtime", "devices"):
            proc = self.processes.get(name)
            if proc is not None and proc.poll() is None:
                pids = procs.tree(proc.pid, parents)
                workers = [pid for pid in pids if pid != proc.pid] or [proc.pid]
                out += [(f"{name}-{n}", pid) for n, pid in enumerate(sorted(workers))]
        return out


def cpu_deltas(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    return {group: procs.cpu_delta(before.get(group, {}), after[group]) for group in after}
