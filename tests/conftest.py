from __future__ import annotations

import ipaddress
import socket

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def rp(db):  # type: ignore[no-untyped-def]
    return RelyingPartyFactory()


@pytest.fixture
def rp_api(rp) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {rp.api_key}")
    return client


@pytest.fixture
def citizen(db):  # type: ignore[no-untyped-def]
    return CitizenFactory()


@pytest.fixture
def device(citizen):  # type: ignore[no-untyped-def]
    return DeviceFactory(citizen=citizen)


@pytest.fixture
def realtime_app(settings):  # type: ignore[no-untyped-def]
    """Django's ASGI handler as the realtime process builds it (nemid_app_backend.settings_realtime:
    its URLs and its short middleware chain); the settings stay in force for the test."""
    from django.core.asgi import get_asgi_application

    from nemid_app_backend import settings_realtime

    settings.ROOT_URLCONF = settings_realtime.ROOT_URLCONF
    settings.MIDDLEWARE = settings_realtime.MIDDLEWARE
    return get_asgi_application()


@pytest.fixture(scope="session", autouse=True)
def _end_stray_sessions(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Before the test database is dropped, end the PostgreSQL sessions left open by consumer threads.

    channels.testing's communicators turn `close_old_connections` into a no-op while they run, so a
    consumer's database_sync_to_async thread keeps its connection checked out of the pool after a
    test; if the last such test ends that way, DROP DATABASE finds the session and fails."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


class FakeResolver:
    """The outbound rule's resolver for the test suite: no test sends a DNS query out. `localhost`
    and the names a test adds resolve; every other name does not exist. A test adds names with
    `resolver.names["hooks.test"] = ["127.0.0.1"]`; `resolver.calls` lists the names looked up."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {"localhost": ["127.0.0.1", "::1"]}
        self.calls: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.calls.append(name)
        try:
            addresses = [str(ipaddress.ip_address(name.strip("[]")))]  # a literal answers for itself
        except ValueError:
            addresses = self.names.get(name.lower().rstrip("."), [])
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in addresses
        ]


@pytest.fixture(autouse=True)
def resolver(monkeypatch) -> FakeResolver:  # type: ignore[no-untyped-def]
    from nemid_app_backend import outbound

    fake = FakeResolver()
    monkeypatch.setattr(outbound, "_getaddrinfo", fake)
    return fake


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_triggers():  # type: ignore[no-untyped-def]
    """The audit tables refuse TRUNCATE on PostgreSQL (audit migration 0005), and the flush after a
    transactional test truncates every table. The test role is a superuser, which may switch ordinary
    triggers off for its session (session_replication_role), as it may do anything; so does the flush."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):  # type: ignore[no-untyped-def]
        with self.connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            original(self, sql_list)
        finally:
            with self.connection.cursor() as cursor:
                cursor.execute("RESET session_replication_role")

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clear_cache():  # type: ignore[no-untyped-def]
    from django.core.cache import cache

    try:
        cache.clear()
    except Exception:  # a test may have stopped Redis on purpose
        pass
    from signing.services import signing_key_forget_cache

    signing_key_forget_cache()  # a key cached by an earlier test lives in a rolled-back database
    from relying_parties.authentication import relying_party_keys_forget

    relying_party_keys_forget()  # likewise a relying party remembered by its API key
    yield


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL set")
    skip_redis = pytest.mark.skip(reason="needs Redis: run with REDIS_URL set")
    for item in items:
        if "postgres" in item.keywords and engine != "django.db.backends.postgresql":
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)


__all__ = ["connection"]


def staff_login(client, user):  # type: ignore[no-untyped-def]
    """Sign an operator in to the admin as its log-in page does: password and a one-time code from a
    confirmed TOTP device (django-otp's session key for the verified device)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test authenticator", confirmed=True
    )
    client.force_login(user)  # a request without a client address: django-axes records none
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def admin_client(db, admin_user, client):  # type: ignore[no-untyped-def]
    """pytest-django's admin_client, signed in with its one-time code as every operator must be."""
    return staff_login(client, admin_user)


@pytest.fixture
def var_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    """A var/ of the test's own (NEMID_VAR_DIR): seed_demo's credentials file, generated keys."""
    settings.NEMID_VAR_DIR = str(tmp_path)
    return tmp_path


def seed_demo(*args: str) -> dict:
    """Run `seed_demo --json` and return what it printed (the relying party's key cache forgotten,
    as a restarted server would)."""
    import io
    import json

    from django.core.management import call_command

    from relying_parties.authentication import relying_party_keys_forget

    out = io.StringIO()
    call_command("seed_demo", "--json", *args, stdout=out)
    relying_party_keys_forget()
    return json.loads(out.getvalue())


def at_once(action, arguments):  # type: ignore[no-untyped-def]
    """Call `action(argument)` for each of `arguments`, each in a thread of its own, all released
    together by a barrier; return the results in the order the calls ended. Each thread gives its
    database connection back when done."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(arguments))
    results: list = []

    def run(argument):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            results.append(action(argument))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
