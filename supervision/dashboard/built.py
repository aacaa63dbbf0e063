"""The dashboard's largest queries, built once a thread for the same inputs (issue 14).

The query for the agreements owed supervision in a half term (`coverage.OwedAgreements`, with its
sessions and names) is a tree of a few hundred Django expressions: a head's coverage list took 8 ms to
build it and the overdue list 5 ms, on every request, before Django compiled it and PostgreSQL ran it;
the chart's statement and the compliance CSV's, run as SQL text, took 15-20 ms to build and compile.
What each is built from is a handful of values: the organisation, the settings in scope and how many
people they have, the day, the half term's dates, its closure days and whether its summary is fresh.

So a built query is kept under a key of all those values (`Dashboard._shape`), and a request that
needs the same query again clones it (`QuerySet.all()`, as Django's generic views reuse a class's
queryset) or reuses its SQL text with its parameters. A list's read of a kept queryset (a page of it
with its counts, the first rows) is a few milliseconds more to compile on every request: on PostgreSQL
its SQL is kept too, under the queryset's key and how it was read (`lists.Listing`), and run again as
raw SQL. What is kept is how to ask, never an answer:
every request runs its SQL against the data as it is, so a page after a change shows the change. Each
value the build reads from the database (the scope's size, the closure days, the summary's freshness)
is read on every request first and is part of the key, so a change to any of them builds afresh.

Per thread and bounded: nothing built is shared between threads, and the oldest go first. A sync
worker (gunicorn, Celery's prefork pool) is one thread, so it keeps all of its own.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

# Enough for the pages a worker serves in a day (a key holds the day): each is a few tens of kilobytes.
KEPT = 256


class BuiltQueries(threading.local):
    """A thread's queries (or SQL text), each built once for its key; least recently used go first."""

    def __init__(self, kept: int = KEPT):
        self.kept = kept
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.builds = 0  # how many times a query was built rather than found (for the tests)

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The value built for `key`, built now by `build()` if this thread has none. A queryset must be
        cloned (`.all()`) before it is changed or read, so the kept one is never evaluated."""
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = build()
        self.builds += 1
        self.items[key] = value
        while len(self.items) > self.kept:
            self.items.popitem(last=False)
        return value

    def clear(self) -> None:
        self.items.clear()


BUILT = BuiltQueries()


def kept_queryset(key: Hashable, build: Callable[[], Any]):
    """A clone of the queryset built for `key`, marked with the key (`built_key`), so that what reads it
    (`lists.Listing`) may keep the SQL of each of its reads too: a clone changed any further (filtered,
    ordered) is a new queryset, without the mark."""
    queryset = BUILT.get(key, build).all()
    queryset.built_key = key
    return queryset


def kept_key(queryset) -> Hashable | None:
    """The key a kept queryset was built under (`kept_queryset`), None for any other."""
    return getattr(queryset, "built_key", None)


def kept_variant(queryset, label: str, change: Callable[[Any], Any]):
    """`change(queryset)` (a new order, say), kept under the queryset's key and `label` when the queryset
    is kept: a variant always made the same way from the same query asks the same thing."""
    changed = change(queryset)
    if (key := kept_key(queryset)) is not None:
        changed.built_key = (*key, label)
    return changed
