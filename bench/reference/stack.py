"""The reference's processes, started as bench/stack.py starts the product's: its own database
`bench_ref_<tag>` (the schema of bench/reference/common.py, the product's citizens and device keys
copied in), its own redis-server, granian for the REST endpoints and uvicorn for the sockets and
the long poll, in the same topology as the product's. No Celery: the reference has no background work."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cryptography.hazmat.primitives import serialization

from bench.reference.common import SCHEMA
from bench.stack import PG_ADMIN_DSN, ROOT, Stack


@dataclass
class ReferenceStack(Stack):
    tag: str = field(default_factory=lambda: f"ref_{time.strftime('%H%M%S')}_{secrets.token_hex(3)}")
    wsgi_application: str = "bench.reference.wsgi:application"
    asgi_application: str = "bench.reference.asgi:application"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "REFERENCE_DATABASE_URL": f"{self.pg_url}/{self.db_name}",
                "REFERENCE_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "REFERENCE_POOL_SIZE": str(max(4, self.wsgi_threads)),
                "PYTHONPATH": str(ROOT),
            }
        )
        return env

    def create_database(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        with psycopg.connect(self.dsn) as conn:
            conn.execute(SCHEMA)  # type: ignore[arg-type]

    @property
    def dsn(self) -> str:
        return PG_ADMIN_DSN.replace("dbname=postgres", f"dbname={self.db_name}")

    def seed_from(self, seed_data: dict[str, Any], citizens: int) -> None:
        """The product's first `citizens` citizens and their devices' public keys, so that the same phones drive both."""
        rows = []
        for row in seed_data["citizens"][:citizens]:
            key = serialization.load_pem_private_key(row["key_pem"].encode(), password=None)
            point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            rows.append((row["device_id"], row["user_id"], point))
        with psycopg.connect(self.dsn) as conn, conn.cursor() as cursor:
            cursor.executemany("INSERT INTO device (id, user_id, public_key) VALUES (%s, %s, %s)", rows)
        self.seed_data = {**seed_data, "citizens": seed_data["citizens"][:citizens]}
