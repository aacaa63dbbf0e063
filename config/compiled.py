"""Queries compiled to SQL once a thread and run again with new values (issue 14).

A person's home asks a score of small questions of their own rows, each answered by PostgreSQL in a
fraction of a millisecond (and planned once, `config.prepared`). Django spent longer building each
question than PostgreSQL spent answering it: a queryset with its joins for the names shown (`filter`,
`select_related`, `only`, `order_by`) is one to three milliseconds of Python to build and compile, on
every request, and always comes out as the same SQL with other values (a head's home spent some 40 ms
of its 70 in Python, most of it there, against a trivial page of 14).

`compiled_rows(key, build, **values)` returns the rows of `build(**values)`. The first time a thread
asks for `key` it builds the queryset twice with stand-in values (`_stand_in`: negative ids, codes of
zeros, days and moments of 1900 that no row has), compiles both, and keeps the SQL and where each value
goes among its parameters. It checks that the two compile to the same SQL with every value in its place
and every other parameter the same: a queryset that read the clock or the database while it was built,
or whose SQL depends on the values, would differ, and raises `NotCompilable` rather than run a wrong
statement. Every later call runs the kept SQL with its own values through the kept compiler, which makes
the rows and their `select_related` objects as Django would; `prefetch_related` lookups run as usual.
Used by the home (a person's own rows), the safeguarding page (the names of its rows) and the opening of
a record (`records.access.get_record_for_user`).

What is kept is how to ask, never an answer: every call runs its statement against the data as it is.
Only PostgreSQL keeps (its parameters are passed as they are; SQLite's are converted to text first, and
a test database is small): elsewhere `build(**values)` is read each time. Per thread and bounded, as
`supervision.dashboard.built` keeps the dashboard's queries.
"""

import copy
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet

# Distinct queries a thread keeps (a few kilobytes each); the least recently used go first.
KEPT = 128


class NotCompilable(ValueError):
    """The queryset does not compile to one SQL statement whose parameters are the values given."""


@dataclass(frozen=True)
class Compiled:
    queryset: QuerySet  # built with stand-ins, never read
    compiler: object  # the stand-ins' compiler, compiled: its columns and how to make rows of them
    sql: str
    params: tuple
    slots: dict[int, str]  # parameter position -> the name of the value that goes there


class _Kept(threading.local):
    def __init__(self):
        self.items: OrderedDict[Hashable, Compiled] = OrderedDict()
        self.compiles = 0  # how many times a query was compiled rather than found (for the tests)


KEPT_QUERIES = _Kept()


def _stand_in(value, n: int):
    """A value of the same type as `value` that no row holds, different for each `n`: for a list of ids
    (one array parameter, `accounts.queries.OneOf`), a list of one such id."""
    if isinstance(value, list):
        return [_stand_in(0, n)]
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=n)  # not a version 4 UUID: no row's code
    if isinstance(value, bool) or not isinstance(value, int | date):
        raise NotCompilable(f"Only ids, codes, lists of ids, days and moments are values: not {type(value).__name__}.")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise NotCompilable("A moment must be aware.")
        return datetime(1900, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    if isinstance(value, date):
        return date(1900, 1, 1) + timedelta(days=n)
    return -2_000_000_000 + n  # within every integer column's range: Django turns an id out of range into no rows


def _compile_with(build: Callable[..., QuerySet], values: dict, round_: int):
    stand_ins = {name: _stand_in(value, 1000 * round_ + n) for n, (name, value) in enumerate(values.items())}
    queryset = build(**stand_ins)
    compiler = queryset.query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        # Django found that no row can match: a stand-in id given to a column of small numbers.
        raise NotCompilable("A value is not an id: its stand-in is out of its column's range.") from None
    slots = {}
    for position, param in enumerate(params):
        for name, stand_in in stand_ins.items():
            if type(param) is type(stand_in) and param == stand_in:
                slots[position] = name
    return queryset, compiler, sql, tuple(params), slots


def _compile(key, build, values) -> Compiled:
    queryset, compiler, sql, params, slots = _compile_with(build, values, 1)
    _, _, sql_again, params_again, slots_again = _compile_with(build, values, 2)
    if sql != sql_again or slots != slots_again or len(params) != len(params_again):
        raise NotCompilable(f"{key!r}: its SQL depends on the values, or on more than them.")
    if missing := sorted(set(values) - set(slots.values())):
        raise NotCompilable(f"{key!r}: not every value is a parameter of its SQL ({', '.join(missing)}).")
    if any(params[n] != params_again[n] for n in range(len(params)) if n not in slots):
        raise NotCompilable(f"{key!r}: a parameter other than the values changed between two builds.")
    return Compiled(queryset=queryset, compiler=compiler, sql=sql, params=params, slots=slots)


def _compiled(key: Hashable, build: Callable[..., QuerySet], values: dict) -> Compiled:
    """The thread's compiled query for `key`, compiled now if it has none."""
    kept = KEPT_QUERIES.items.get(key)
    if kept is None:
        kept = KEPT_QUERIES.items[key] = _compile(key, build, values)
        KEPT_QUERIES.compiles += 1
        while len(KEPT_QUERIES.items) > KEPT:
            KEPT_QUERIES.items.popitem(last=False)
    else:
        KEPT_QUERIES.items.move_to_end(key)
    return kept


def compiled_rows(key: Hashable, build: Callable[..., QuerySet], **values) -> list:
    """The rows of `build(**values)`: a list of model instances, or of tuples or dicts for `values_list`
    and `values`. `key` names the query and everything its SQL depends on besides `values` (slices,
    which optional filters it has); `build` makes the queryset from the values alone (ids, days, aware
    moments, and lists of ids each given to `accounts.queries.OneOf`), reading nothing else that changes.
    The current time zone, which a date of a moment is taken in, is part of the SQL: this product keeps
    Europe/London and never activates another."""
    if connection.vendor != "postgresql":
        return list(build(**values))
    kept = _compiled(key, build, values)
    params = tuple(values[kept.slots[n]] if n in kept.slots else p for n, p in enumerate(kept.params))
    compiler = copy.copy(kept.compiler)
    compiler.as_sql = lambda *args, **kwargs: (kept.sql, params)
    run = kept.queryset._chain()
    run.query.get_compiler = lambda *args, **kwargs: compiler
    return list(run)
