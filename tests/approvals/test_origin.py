"""ApprovalRequest.origin during a rolling deploy: a process of the previous release inserts rows
without naming the column, and the database's default marks their origin unknown (blank)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from approvals.models import ApprovalRequest
from tests.approvals.conftest import create, login_body

pytestmark = pytest.mark.django_db


def test_an_insert_that_does_not_name_the_column_stores_an_unknown_origin(rp_api, citizen, device):
    made = ApprovalRequest.objects.get(id=create(rp_api, login_body(citizen)).json()["id"])
    assert made.origin == "other"  # this release's creations say what made them
    table = connection.ops.quote_name(ApprovalRequest._meta.db_table)
    columns = [
        field.column for field in ApprovalRequest._meta.concrete_fields if field.column not in ("id", "origin", "idempotency_key")
    ]
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    copy = uuid.uuid4()
    with connection.cursor() as cursor:  # as the previous release's INSERT, which lists no origin
        cursor.execute(
            f"INSERT INTO {table} (id, {quoted}) SELECT %s, {quoted} FROM {table} WHERE id = %s",
            [copy.hex if connection.vendor == "sqlite" else copy, made.id.hex if connection.vendor == "sqlite" else made.id],
        )
    assert ApprovalRequest.objects.get(id=copy).origin == ""
