"""Response shapes declared once: a serializer that documents a response and renders it.

drf-spectacular reads an `OutputSerializer`'s fields for the OpenAPI document, and `render()`
writes the response from the same fields. It does not go through DRF's `.data`: that deep-copies
every field for each instance and converts each value through the field, ~120-750 µs for the
approval resource against ~15-20 µs for the plan below (measured on the bench machine), and the
hot path renders a request several times per flow (creation broadcast, reads, final broadcast).

The plan is made once per class from the declared fields: where each value comes from (`source`,
through attributes or mapping keys, as DRF reads it) and how it is written (below). Fields of
other types are written as they are; a field needing its own conversion says so with
`render_value`. A method field is not used: its value would have no declared type.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rest_framework import serializers

from nemid_app_backend.timefmt import rfc3339

Getter = Callable[[Any], Any]
Writer = Callable[[Any], Any]
Plan = list[tuple[str, Getter, "Writer | None"]]


def _getters(source_attrs: list[str]) -> tuple[Getter, Getter]:
    """(read from an object's attributes, read from a mapping's keys) for a field's source."""
    if not source_attrs:  # source="*": the instance itself
        return (lambda instance: instance), (lambda instance: instance)
    by_attribute = operator.attrgetter(".".join(source_attrs))
    if len(source_attrs) == 1:
        return by_attribute, operator.itemgetter(source_attrs[0])

    def by_key(mapping: Any) -> Any:
        for attr in source_attrs:
            mapping = mapping[attr] if isinstance(mapping, Mapping) else getattr(mapping, attr)
        return mapping

    return by_attribute, by_key


def _writer(field: serializers.Field) -> Writer | None:
    """How a value of this field is written; None: as it is."""
    custom = getattr(field, "render_value", None)
    if custom is not None:
        return custom  # type: ignore[no-any-return]
    if isinstance(field, OutputSerializer):
        return type(field).render
    if isinstance(field, serializers.ListSerializer) and isinstance(field.child, OutputSerializer):
        render = type(field.child).render
        return lambda items: [render(item) for item in items]
    if isinstance(field, serializers.DateTimeField):
        return rfc3339
    if isinstance(field, serializers.UUIDField):
        return str
    return None


class BlankAsNullCharField(serializers.CharField):
    """A text that is absent when blank: "" is written as null."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    @staticmethod
    def render_value(value: Any) -> Any:
        return value or None

    def to_representation(self, value: Any) -> Any:
        return self.render_value(value)


class OutputSerializer(serializers.Serializer):
    # A shape nested with source="*" that is null unless the instance's attribute of this name is set.
    present_when: ClassVar[str | None] = None
    _plans: ClassVar[tuple[Plan, Plan]]  # (for objects, for mappings)

    @classmethod
    def _make_plans(cls) -> tuple[Plan, Plan]:
        for_objects: Plan = []
        for_mappings: Plan = []
        for name, field in cls().fields.items():
            assert not isinstance(field, serializers.SerializerMethodField), f"{cls.__name__}.{name}: declare its type"
            by_attribute, by_key = _getters(field.source_attrs)
            write = _writer(field)
            for_objects.append((name, by_attribute, write))
            for_mappings.append((name, by_key, write))
        return for_objects, for_mappings

    @classmethod
    def render(cls, instance: Any) -> dict[str, Any] | None:
        """The instance in this shape (a plain dict: JSON, channel-layer messages and webhooks take it as it is)."""
        if cls.present_when is not None and not getattr(instance, cls.present_when):
            return None
        plans = cls.__dict__.get("_plans")
        if plans is None:
            plans = cls._plans = cls._make_plans()
        plan = plans[1] if isinstance(instance, Mapping) else plans[0]
        result = {}
        for name, get, write in plan:
            value = get(instance)
            result[name] = value if write is None or value is None else write(value)
        return result

    def to_representation(self, instance: Any) -> dict[str, Any] | None:  # type: ignore[override]
        return self.render(instance)
