"""Small query helpers for the request hot path."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.core.exceptions import MultipleObjectsReturned, ObjectDoesNotExist
from django.db import DatabaseError, connection, models

M = TypeVar("M", bound=models.Model)

_LOOKUPS = {"": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def one_or_none(queryset: models.QuerySet[M]) -> M | None:
    """The row a filter on a unique key matches, or None.

    What `.first()` answers for such a filter, without the ORDER BY it adds: compiling the model's
    ordering was a measurable part of every hot-path read (bench profile)."""
    try:
        return queryset.get()
    except ObjectDoesNotExist:
        return None


Converter = Callable[[Any, Any, Any], Any]


class _Compiled:
    """The SQL text and the per-column converters of one FixedSelect on one database backend."""

    def __init__(self, select: FixedSelect[Any]) -> None:
        quote = connection.ops.quote_name
        model = select.model
        self.sql_columns: list[str] = []
        self.converters: list[tuple[Any, list[Converter]]] = []  # (column expression, its converters), per column
        tables = [(model, "T0")]
        joins = []
        for n, name in enumerate(select.related, start=1):
            field = model._meta.get_field(name)
            assert isinstance(field, models.ForeignKey) and not field.null, f"{name}: a non-null foreign key"
            related = field.related_model
            assert isinstance(related, type)
            alias = f"T{n}"
            tables.append((related, alias))
            joins.append(
                f" INNER JOIN {quote(related._meta.db_table)} {alias}"
                f" ON {alias}.{quote(related._meta.pk.column)} = T0.{quote(field.column)}"  # type: ignore[union-attr]
            )
        if select.values:  # values= selects from `model` alone (no joins)
            for name in select.values:
                self._add_column(model._meta.get_field(name), "T0")
        else:
            for table_model, alias in tables:
                for field in table_model._meta.concrete_fields:
                    self._add_column(field, alias)
        where = []
        self.where_fields: list[models.Field[Any, Any]] = []
        for condition in select.where:
            name, _, lookup = condition.partition("__")
            field = model._meta.get_field(name)
            assert isinstance(field, models.Field) and lookup in _LOOKUPS, condition
            self.where_fields.append(field)
            where.append(f"T0.{quote(field.column)} {_LOOKUPS[lookup]} %s")
        sql = f"SELECT {', '.join(self.sql_columns)} FROM {quote(model._meta.db_table)} T0{''.join(joins)}"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        if select.lock is not None and connection.features.has_select_for_update:
            sql += " FOR UPDATE"
            if select.lock and connection.features.has_select_for_update_of:
                aliases = {"self": "T0", **{name: f"T{n}" for n, name in enumerate(select.related, start=1)}}
                sql += " OF " + ", ".join(aliases[name] for name in select.lock)
        self.sql = sql
        # (model, attnames of its columns in select order) for each table whose instances are made
        self.tables: list[tuple[type[models.Model], list[str]]] = [
            (table_model, [field.attname for field in table_model._meta.concrete_fields]) for table_model, _ in tables
        ]

    def _add_column(self, field: Any, alias: str) -> None:
        quote = connection.ops.quote_name
        self.sql_columns.append(f"{alias}.{quote(field.column)}")
        column = field.get_col(alias)
        # As the ORM's compiler does: the backend's converters, then the field's own (from_db_value).
        self.converters.append((column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)))


class FixedSelect(Generic[M]):
    """One SELECT of a model (optionally with foreign-key rows it joins, as select_related does),
    written once per database backend from the models' metadata and reused for every call.

    The ORM builds and compiles a query on every call: on the hot path that was 0.3-0.8 ms of CPU
    per statement (a three-table select_related 0.8 ms), against 0.1 ms to execute the same SQL.
    Only what the models declare goes into the SQL text; values are passed as parameters, adapted
    by their fields (`get_db_prep_value`), and columns come back through the same converters the
    ORM applies, so the instances equal the ORM's.

    where: field names of `model`, each with an optional `__gt`/`__gte`/`__lt`/`__lte`; all ANDed.
    related: non-null foreign keys to join; their instances are cached on the result as
        select_related caches them. lock: None (no lock), () (FOR UPDATE), or names among "self"
        and `related` (FOR UPDATE OF those rows; PostgreSQL). values: select only these fields of
        `model` and return tuples (with `values`), as values_list does.
    """

    def __init__(
        self,
        model: type[M],
        *,
        where: Sequence[str],
        related: Sequence[str] = (),
        lock: Sequence[str] | None = None,
        values: Sequence[str] = (),
    ) -> None:
        assert not (values and related), "values selects from `model` alone"
        self.model = model
        self.where = tuple(where)
        self.related = tuple(related)
        self.lock = tuple(lock) if lock is not None else None
        self.values = tuple(values)
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self) -> _Compiled:
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            compiled = self._compiled[connection.vendor] = _Compiled(self)
        return compiled

    def _rows(self, params: Sequence[Any]) -> tuple[_Compiled, list[list[Any]]]:
        compiled = self._compile()
        if len(params) != len(compiled.where_fields):
            raise TypeError(f"{len(compiled.where_fields)} parameters expected, {len(params)} given")
        prepared = [
            field.get_db_prep_value(value, connection) for field, value in zip(compiled.where_fields, params, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, prepared)
            raw = cursor.fetchall()
        rows = []
        for row in raw:
            values = list(row)
            for index, (column, converters) in enumerate(compiled.converters):
                for convert in converters:
                    values[index] = convert(values[index], column, connection)
            rows.append(values)
        return compiled, rows

    def _instances(self, compiled: _Compiled, row: list[Any]) -> M:
        start = 0
        instances = []
        for table_model, attnames in compiled.tables:
            instances.append(table_model.from_db(connection.alias, attnames, row[start : start + len(attnames)]))
            start += len(attnames)
        base = instances[0]
        for name, related in zip(self.related, instances[1:], strict=True):
            self.model._meta.get_field(name).set_cached_value(base, related)  # type: ignore[union-attr]
        return base  # type: ignore[return-value]

    def all(self, *params: Any) -> list[M]:
        assert not self.values, "use values()"
        compiled, rows = self._rows(params)
        return [self._instances(compiled, row) for row in rows]

    def one(self, *params: Any) -> M | None:
        """The one row matched (the where must name a unique key), or None."""
        found = self.all(*params)
        if len(found) > 1:
            error: type[MultipleObjectsReturned] = self.model.MultipleObjectsReturned  # type: ignore[attr-defined]
            raise error(f"{len(found)} {self.model.__name__} rows for {self.where}")
        return found[0] if found else None

    def rows(self, *params: Any) -> list[tuple[Any, ...]]:
        """The selected `values` of each row, as tuples."""
        assert self.values, "give values= to select fields"
        _, rows = self._rows(params)
        return [tuple(row) for row in rows]


@functools.cache
def _insert_sql(model: type[models.Model], vendor: str) -> tuple[str, list[models.Field[Any, Any]], list[Any]]:
    """(INSERT, the fields it writes, the fields the database generates) for this model."""
    quote = connection.ops.quote_name
    # What the database makes: an AutoField primary key, a column with only a database default
    # (read back). A column with a database default *and* a Python one is written like any other:
    # the database default serves inserts that do not name it (an older release's).
    generated = [field for field in model._meta.db_returning_fields if not field.has_default()]
    fields = [field for field in model._meta.concrete_fields if field not in generated]
    columns = ", ".join(quote(field.column) for field in fields)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
    if generated and connection.features.can_return_columns_from_insert:
        sql += " RETURNING " + ", ".join(quote(field.column) for field in generated)
    return sql, fields, generated


@functools.cache
def _update_sql(model: type[models.Model], names: tuple[str, ...], vendor: str) -> tuple[str, list[models.Field[Any, Any]]]:
    quote = connection.ops.quote_name
    fields: list[models.Field[Any, Any]] = []
    for name in names:
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field) and field.concrete and field.column, name
        fields.append(field)
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)  # type: ignore[arg-type]
    pk = model._meta.pk
    assert pk is not None and pk.column is not None
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(pk.column)} = %s", fields  # noqa: S608


def insert(instance: models.Model) -> None:
    """`instance.save(force_insert=True)` as one INSERT written once per model: the primary key is
    either set before (a UUID default) or generated by the database (an AutoField, read back).
    No signals: the hot path has none."""
    sql, fields, generated = _insert_sql(type(instance), connection.vendor)
    assert (instance.pk is None) == bool(generated), "a generated key must be unset, any other key set"
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if generated and connection.features.can_return_columns_from_insert:
            for field, value in zip(generated, cursor.fetchone(), strict=True):
                setattr(instance, field.attname, value)
        elif generated:
            instance.pk = cursor.lastrowid
    instance._state.adding = False
    instance._state.db = connection.alias


def update_fields(instance: models.Model, names: Sequence[str]) -> None:
    """`instance.save(update_fields=names)` as one UPDATE written once per (model, field list)."""
    sql, fields = _update_sql(type(instance), tuple(dict.fromkeys(names)), connection.vendor)
    values = [field.get_db_prep_save(field.pre_save(instance, False), connection) for field in fields]
    pk = type(instance)._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, pk.get_db_prep_value(instance.pk, connection)])
        if cursor.rowcount != 1:
            raise DatabaseError(f"update_fields: {cursor.rowcount} rows updated for {type(instance).__name__} {instance.pk}")
