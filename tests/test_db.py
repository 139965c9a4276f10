"""FixedSelect: written-once SELECTs must give exactly what the ORM gives, and lock what they say."""

from __future__ import annotations

import datetime
import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services import approval_request_create, approval_request_decide
from citizens.models import Citizen
from devices.models import Device
from nemid_app_backend.db import FixedSelect, insert, update_fields
from tests.approvals.conftest import device_view_of
from tests.factories import CitizenFactory, DeviceFactory, RelyingPartyFactory
from tests.realtime.helpers import new_approval

pytestmark = pytest.mark.django_db


def _field_values(instance: object) -> dict[str, object]:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}  # type: ignore[attr-defined]


@pytest.fixture
def decided(rp, citizen, device):  # type: ignore[no-untyped-def]
    """A decided payment: every column of the request set, datetimes, a device reference, a token."""
    approval = approval_request_create(
        relying_party=rp,
        type="payment",
        login_hint=citizen.user_id,
        binding_message="Order 7 at Webshop ApS",
        payment={"amount": "149.95", "currency": "DKK", "payee": "Webshop ApS"},
        number_matching=True,
    ).approval
    view = device_view_of(device, str(approval.id))
    signed = device.phone.sign_decision(view, "approve", verification_code=approval.verification_code)
    return approval_request_decide(device=device, approval_id=approval.id, signed_decision=signed)


def test_instances_equal_the_orms_with_related_rows_cached(decided, django_assert_num_queries):
    select = FixedSelect(ApprovalRequest, where=("id", "relying_party"), related=("relying_party", "citizen"))
    with django_assert_num_queries(1):
        found = select.one(decided.id, decided.relying_party_id)
        assert found is not None
        rp, citizen = found.relying_party, found.citizen  # cached, as select_related caches them
    orm = ApprovalRequest.objects.select_related("relying_party", "citizen").get(id=decided.id)
    assert _field_values(found) == _field_values(orm)
    assert _field_values(rp) == _field_values(orm.relying_party)
    assert _field_values(citizen) == _field_values(orm.citizen)
    assert found.status == "approved" and found.result_token and found.decided_at is not None
    assert found.decided_at.tzinfo is not None
    assert found._state.adding is False and found._state.db == "default"


def test_json_and_datetime_columns_are_converted_as_the_orm_converts_them(device):
    found = FixedSelect(Device, where=("id",)).one(device.id)
    assert found is not None
    assert isinstance(found.public_jwk, dict) and found.public_jwk == Device.objects.get(id=device.id).public_jwk
    assert found.created_at == Device.objects.get(id=device.id).created_at


def test_no_match_and_another_relying_partys_row_are_none(decided):
    select = FixedSelect(ApprovalRequest, where=("id", "relying_party"), related=("relying_party", "citizen"))
    other = RelyingPartyFactory()
    assert select.one(decided.id, other.pk) is None
    assert select.one(ApprovalRequest._meta.pk.get_default(), decided.relying_party_id) is None  # type: ignore[union-attr]


def test_values_with_comparison_lookups(rp, citizen, device):
    created = [approval_request_create(relying_party=rp, type="login", login_hint=citizen.user_id).approval for _ in range(2)]
    ApprovalRequest.objects.filter(id=created[0].id).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    pending = FixedSelect(ApprovalRequest, where=("citizen", "status", "expires_at__gt"), values=("id", "expires_at"))
    rows = pending.rows(citizen.pk, "pending", timezone.now())
    assert rows == [(created[1].id, ApprovalRequest.objects.get(id=created[1].id).expires_at)]
    overdue = FixedSelect(ApprovalRequest, where=("citizen", "expires_at__lte"), values=("id",))
    assert overdue.rows(citizen.pk, timezone.now()) == [(created[0].id,)]


def test_more_than_one_row_for_one_is_an_error(citizen):
    DeviceFactory.create_batch(2, citizen=citizen)
    with pytest.raises(Device.MultipleObjectsReturned):
        FixedSelect(Device, where=("citizen",)).one(citizen.pk)
    assert len(FixedSelect(Device, where=("citizen",)).all(citizen.pk)) == 2


def test_wrong_number_of_parameters_is_refused(citizen):
    with pytest.raises(TypeError, match="2 parameters expected, 1 given"):
        FixedSelect(Device, where=("citizen", "status")).all(citizen.pk)


def _lock_elsewhere(model: type, pk: object) -> str:
    """Try to lock a row from another thread and connection without waiting: "locked" or "free"."""
    outcome: list[str] = []

    def run() -> None:
        try:
            with transaction.atomic():
                list(model.objects.select_for_update(nowait=True).filter(pk=pk))  # type: ignore[attr-defined]
            outcome.append("free")
        except OperationalError:
            outcome.append("locked")
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return outcome[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lock_takes_the_rows_it_names_and_no_others(rp, citizen, device):
    approval = approval_request_create(relying_party=rp, type="login", login_hint=citizen.user_id).approval
    both = FixedSelect(ApprovalRequest, where=("id",), related=("relying_party", "citizen"), lock=("self", "citizen"))
    only_self = FixedSelect(ApprovalRequest, where=("id",), related=("relying_party", "citizen"), lock=("self",))
    with transaction.atomic():
        assert both.one(approval.id) is not None
        assert _lock_elsewhere(ApprovalRequest, approval.id) == "locked"
        assert _lock_elsewhere(Citizen, citizen.pk) == "locked"
        assert _lock_elsewhere(type(rp), rp.pk) == "free"
    with transaction.atomic():
        assert only_self.one(approval.id) is not None
        assert _lock_elsewhere(ApprovalRequest, approval.id) == "locked"
        assert _lock_elsewhere(Citizen, citizen.pk) == "free"
    with transaction.atomic():
        assert FixedSelect(Citizen, where=("user_id",), lock=()).one(citizen.user_id) is not None
        assert _lock_elsewhere(Citizen, citizen.pk) == "locked"
    assert _lock_elsewhere(Citizen, citizen.pk) == "free"


def test_a_new_citizen_factory_row_reads_back_whole():
    made = CitizenFactory(failed_attempts=2, locked_until=timezone.now())
    found = FixedSelect(Citizen, where=("user_id",)).one(made.user_id)
    assert found is not None and _field_values(found) == _field_values(Citizen.objects.get(pk=made.pk))


def _new_request(rp, citizen) -> ApprovalRequest:  # type: ignore[no-untyped-def]
    return new_approval(rp=rp, citizen=citizen, binding_message="Order 9", number_matching=True, verification_code="07")


def test_insert_writes_every_column_once(rp, citizen, django_assert_num_queries):
    made = _new_request(rp, citizen)
    with django_assert_num_queries(1):
        insert(made)
    assert made._state.adding is False
    assert _field_values(ApprovalRequest.objects.get(id=made.id)) == _field_values(made)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(made)  # the same primary key again


def test_update_fields_writes_the_named_fields_only(rp, citizen, django_assert_num_queries):
    made = _new_request(rp, citizen)
    insert(made)
    made.status, made.status_reason, made.binding_message = "cancelled", "by test", "changed in memory only"
    with django_assert_num_queries(1):
        update_fields(made, ["status", "status_reason"])
    stored = ApprovalRequest.objects.get(id=made.id)
    assert (stored.status, stored.status_reason, stored.binding_message) == ("cancelled", "by test", "Order 9")


def test_update_fields_of_a_missing_row_is_an_error(rp, citizen):
    with pytest.raises(DatabaseError, match="0 rows updated"):
        update_fields(_new_request(rp, citizen), ["status"])


def test_insert_reads_back_a_key_the_database_generates(django_assert_num_queries):
    from audit.models import AuditEntry

    entry = AuditEntry(created_at=timezone.now(), action="test", object_type="t", object_id="1", mac="1" * 64)
    with django_assert_num_queries(1):
        insert(entry)
    assert entry.pk is not None and entry._state.adding is False
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.mac == "1" * 64 and stored.txid == entry.txid  # a column default, read back too
    assert (entry.txid is not None) == (connection.vendor == "postgresql")


@pytest.mark.postgres
def test_statements_that_repeat_are_prepared_on_their_connection(citizen):
    # NEMID_DB_PREPARE_THRESHOLD (default 5): Django leaves preparing off unless OPTIONS asks.
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 5
    for _ in range(7):
        Citizen.objects.filter(pk=citizen.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('FROM "citizens_citizen"' in statement for statement in prepared), prepared


@pytest.mark.parametrize(("value", "expected"), [("", "5"), ("3", "3"), ("0", "None")])
def test_the_prepare_threshold_comes_from_the_environment(tmp_path, value, expected):
    env = {"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "DJANGO_SECRET_KEY": secrets.token_urlsafe(48)}
    if value:
        env["NEMID_DB_PREPARE_THRESHOLD"] = value
    code = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NEMID_")) and k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env={**base, "DJANGO_SETTINGS_MODULE": "nemid_app_backend.settings", "NEMID_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
