"""The Django reference's processes, started as bench/reference/stack.py starts the bare reference's:
its own database `bench_djref_<tag>` (the same schema, the product's citizens and device keys copied
in), its own redis-server, granian for the REST endpoints and uvicorn for the sockets and the long
poll, in the same topology; only the applications and DJANGO_SETTINGS_MODULE differ."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from bench.reference.stack import ReferenceStack


@dataclass
class DjangoReferenceStack(ReferenceStack):
    tag: str = field(default_factory=lambda: f"djref_{time.strftime('%H%M%S')}_{secrets.token_hex(3)}")
    settings_module: str = "bench.reference_django.settings"
    wsgi_application: str = "bench.reference_django.wsgi:application"
    asgi_application: str = "bench.reference_django.asgi:application"

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env.update({"DJANGO_SETTINGS_MODULE": self.settings_module, "DJANGO_SECRET_KEY": self._secret})
        return env
