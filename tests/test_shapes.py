"""Response shapes render what they document: the fast plan of an OutputSerializer writes what
DRF's own field conversions of the same declared fields would write."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.fields import SkipField

from approvals.shapes import (
    ApprovalResourceSerializer,
    DecisionResponseSerializer,
    DeviceApprovalListSerializer,
    DeviceApprovalViewSerializer,
)
from nemid_app_backend.shapes import OutputSerializer
from tests.factories import CitizenFactory, RelyingPartyFactory
from tests.realtime.helpers import new_approval

pytestmark = pytest.mark.django_db


def _by_drf(shape: type[OutputSerializer], instance: Any) -> Any:
    """The instance converted field by field as DRF's Serializer.to_representation does."""
    if shape.present_when is not None and not getattr(instance, shape.present_when):
        return None
    result: dict[str, Any] = {}
    for name, field in shape().fields.items():
        try:
            value = field.get_attribute(instance)
        except SkipField:
            continue
        if value is None:
            result[name] = None
        elif isinstance(field, OutputSerializer):
            result[name] = _by_drf(type(field), value)
        elif isinstance(field, serializers.ListSerializer):
            result[name] = [_by_drf(type(field.child), item) for item in value]  # type: ignore[arg-type]
        else:
            result[name] = field.to_representation(value)
    return result


def _approvals() -> list[Any]:
    rp, citizen = RelyingPartyFactory(), CitizenFactory()
    decided_at = datetime.datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=datetime.UTC)
    return [
        new_approval(rp=rp, citizen=citizen),
        new_approval(rp=rp, citizen=citizen, type="login", payment_amount="", number_matching=True, verification_code="42"),
        new_approval(rp=rp, citizen=citizen, status="approved", decided_at=decided_at, result_token="header.claims.sig"),
    ]


@pytest.mark.parametrize("shape", [ApprovalResourceSerializer, DeviceApprovalViewSerializer, DecisionResponseSerializer])
def test_each_shape_renders_what_its_fields_declare(shape):
    for approval in _approvals():
        assert shape.render(approval) == _by_drf(shape, approval)


def test_a_list_shape_renders_each_item():
    approvals = _approvals()
    assert DeviceApprovalListSerializer.render(approvals) == _by_drf(DeviceApprovalListSerializer, approvals)


def test_blank_and_missing_values_are_null():
    pending, login, decided = (ApprovalResourceSerializer.render(approval) for approval in _approvals())
    assert pending is not None and login is not None and decided is not None
    assert pending["verification_code"] is None and pending["result"] is None and pending["decided_at"] is None
    assert login["payment"] is None and login["verification_code"] == "42"
    assert decided["result"] == {"token": "header.claims.sig"} and decided["decided_at"] == "2026-11-29T10:00:00.123456Z"
