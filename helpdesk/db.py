"""Plain-SQL INSERT of model rows for the ingest hot path (PostgreSQL).

`Model.save()` compiles a fresh INSERT per row; on the e-mail path that compile cost
more than the statement. These build the same INSERT from `_meta` (the fields'
`pre_save` and `get_db_prep_save` as Django does), with SQL expressions allowed for
values the database makes (a sequence number, a search vector).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.db.models.expressions import RawSQL


def insert_fields(model: type[Model]) -> list[Field]:
    """The columns an INSERT writes: not the id, not generated columns."""
    return [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and not getattr(f, "generated", False)
    ]


def insert_values(obj: Model, fields: Sequence[Field], *, add: bool = True) -> list[Any]:
    """The row's values as `save()` would send them (auto_now applied when adding)."""
    return [f.get_db_prep_save(f.pre_save(obj, add=add), connection) for f in fields]


def row_insert(
    obj: Model,
    *,
    expressions: Mapping[str, RawSQL] | None = None,
    fetch: Sequence[str] = (),
) -> None:
    """INSERT `obj` in one statement, RETURNING its id and its generated columns.

    `expressions`: attribute name -> SQL the database computes. Those named in `fetch`
    are read back onto `obj`; the others are left unloaded (a search vector nobody reads,
    which a later save() then does not write again).
    """
    row_insert_with_children(obj, children=(), expressions=expressions, fetch=fetch)


def row_insert_with_children(
    parent: Model,
    *,
    children: Sequence[tuple[Model, str]],
    expressions: Mapping[str, RawSQL] | None = None,
    fetch: Sequence[str] = (),
) -> None:
    """INSERT `parent` and rows that point at it in one statement (data-modifying CTEs).

    `children`: (row, the attname of its foreign key to `parent`), filled with the new
    parent's id by the database. A new ticket's first message and 'created' event went
    in three round trips; here they take one. `expressions` and `fetch` are the parent's,
    as in row_insert.
    """
    expressions = expressions or {}
    quote = connection.ops.quote_name
    parts = [_insert_parts(parent, expressions, fetch)]
    parent_id = f"(SELECT {quote(parent._meta.pk.column)} FROM p)"  # noqa: S608 - _meta names
    for child, fk_attname in children:
        fk = {fk_attname: RawSQL(parent_id, [])}  # noqa: S611 - no input in it
        parts.append(_insert_parts(child, fk, ()))
    if not children:
        sql, params, _ = parts[0]
    else:
        names = ["p", *(f"c{index}" for index in range(len(children)))]
        sql = "WITH " + ", ".join(
            f"{name} AS ({part_sql})" for name, (part_sql, _, _) in zip(names, parts, strict=True)
        )
        selects = [
            f"{name}.{quote(f.column)}"
            for name, part in zip(names, parts, strict=True)
            for f in part[2]
        ]
        sql += f" SELECT {', '.join(selects)} FROM {', '.join(names)}"  # noqa: S608 - _meta names
        params = [param for _, part_params, _ in parts for param in part_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = iter(cursor.fetchone())
    rows = [parent, *(child for child, _ in children)]
    for obj, (_, _, returned) in zip(rows, parts, strict=True):
        for f in returned:
            setattr(obj, f.attname, next(row))
        obj._state.adding = False
        obj._state.db = connection.alias
    for name in expressions.keys() - set(fetch):
        parent.__dict__.pop(name, None)
    for child, fk_attname in children:
        setattr(child, fk_attname, parent.pk)


def _insert_parts(
    obj: Model, expressions: Mapping[str, RawSQL], fetch: Sequence[str]
) -> tuple[str, list[Any], list[Field]]:
    """(INSERT .. RETURNING sql, its params, the fields it returns) for one row."""
    meta = obj._meta
    fields = insert_fields(type(obj))
    placeholders: list[str] = []
    params: list[Any] = []
    values = insert_values(obj, [f for f in fields if f.attname not in expressions])
    plain = iter(values)
    for f in fields:
        expression = expressions.get(f.attname)
        if expression is None:
            placeholders.append("%s")
            params.append(next(plain))
        else:
            placeholders.append(expression.sql)
            params.extend(expression.params)
    returned = [
        meta.pk,
        *(f for f in meta.concrete_fields if getattr(f, "generated", False)),
        *(f for f in fields if f.attname in expressions and f.attname in fetch),
    ]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"  # noqa: S608 - _meta names
        f" VALUES ({', '.join(placeholders)})"
        f" RETURNING {', '.join(quote(f.column) for f in returned)}"
    )
    return sql, params, returned


def row_update(obj: Model, fields: Sequence[str]) -> None:
    """UPDATE the named fields of a stored `obj` (auto_now fields refreshed as save() does).

    `save(update_fields=...)` compiles the UPDATE anew each time; this is the same
    statement from `_meta`, for rows written once per inbound mail.
    """
    meta = obj._meta
    written = [meta.get_field(name) for name in fields]
    written += [
        f for f in meta.concrete_fields if getattr(f, "auto_now", False) and f not in written
    ]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in written)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608 - _meta names
    with connection.cursor() as cursor:
        cursor.execute(sql, [*insert_values(obj, written, add=False), obj.pk])
