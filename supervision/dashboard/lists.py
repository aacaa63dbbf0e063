"""A figure's rows a page at a time, and the small counts and wording the lists share."""

import statistics
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, Window
from django.db.models.query import ModelIterable

from accounts.queries import OneOf

from .built import BUILT, kept_key
from .rows import CancellationRow

# A page number above this is past the end of any list (an offset beyond it would overflow the database's);
# the paginator finds the last page for it.
MAX_PAGE_COUNTED = 1_000_000


@dataclass(frozen=True)
class Keys:
    """A list's order found in a narrower table first: `queryset`, ordered as the list and holding the same
    rows, one each, whose `column` is the list's primary key, and, for each count a page may ask with its
    rows (`Listing.also`, `head_counted`), its condition on that table."""

    queryset: Any
    column: str
    also: dict


class Listing:
    """The rows of a figure: a queryset read a page at a time and turned into rows by `build`, or rows
    already worked out."""

    def __init__(self, *, queryset=None, build=None, rows=None, counted=None, count_alone=None, also=None, keys=None):
        # The queryset, or a function that makes it: made only when rows are read or counted in the
        # database, not when the count is known already (a dashboard's overdue lists, counted by its chart).
        self._queryset = queryset
        self.build, self.rows = build, rows
        # How the list is counted without reading a page of it: `counted`, the count when it has been worked
        # out elsewhere already (None when it has not: a page then counts it with its rows); `count_alone`, a
        # count of its own when one is wanted without a page (else COUNT(*) of the queryset). Each is
        # called once, if needed.
        self.counted = counted
        self.count_alone = count_alone
        # More counts a page works out with its rows ({name: Q}, as window functions), read as `also_counts`
        # once a page has been read that way (None before, or when the count was known elsewhere).
        self.also = also or {}
        self.also_counts: dict[str, int] | None = None
        self._count: int | None = None  # once counted, by whatever means
        # A function giving the list's `Keys`, or None where they are not worth it: a page then finds its
        # rows' keys and counts there, and reads the rows it shows by key (`_read_keyed`).
        self._keys = keys

    @cached_property
    def queryset(self):
        return self._queryset() if callable(self._queryset) else self._queryset

    @cached_property
    def _known_count(self) -> int | None:
        """The count without counting: the rows', or the one worked out elsewhere; None if neither."""
        if self.rows is not None:
            return len(self.rows)
        return self.counted() if self.counted is not None else None

    @property
    def known(self) -> bool:
        """Whether the list has been counted already (by whatever means)."""
        return self._count is not None

    def count_is(self, n: int) -> None:
        """The list's count, worked out elsewhere with others' (`Dashboard.count_together`)."""
        self._count = n

    @property
    def count(self) -> int:
        if self._count is None:
            known = self._known_count
            if known is None:
                known = self.count_alone() if self.count_alone is not None else self.queryset.count()
            self._count = known
        return self._count

    def all(self) -> list:
        return self.rows if self.rows is not None else self.build(self.queryset)

    def _read(self, how: tuple, read) -> list:
        """The rows of `read()`, a read of the queryset (annotated, sliced) that `how` describes. For a kept
        queryset (`built.kept_queryset`) on PostgreSQL, the read's SQL is compiled once a thread, under the
        queryset's key and `how`, and run again as raw SQL with its parameters: the same statement, so the
        same rows, read from the data as it is now. A list's query is a tree of hundreds of expressions, 3
        to 4 ms to compile on every request (issue 14). Elsewhere (SQLite, whose raw rows would not be
        converted like the queryset's), the queryset is read."""
        queryset = self.queryset
        key = kept_key(queryset)
        if key is None or connection.vendor != "postgresql" or not _plain(queryset):
            return list(read())
        sql, params = BUILT.get(("read", key, how), lambda: read().query.sql_with_params())
        return list(queryset.raw(sql, params))

    def _slice(self, how: tuple, start: int, stop: int, also: dict | None = None) -> list:
        """Rows `start` to `stop` of the queryset, each with the list's length as `listing_total` and the
        counts `also` names as `listing_<name>` when `also` is given (window functions over every row
        found). Through the list's `Keys` when it has them and they can count `also`, else one read
        (`_read`)."""
        keys = self._keys() if self._keys is not None and connection.vendor == "postgresql" else None
        if keys is not None and set(also or {}) <= set(keys.also):
            return self._read_keyed(how, keys, start, stop, also)
        windows = _count_windows(also) if also is not None else {}
        return self._read(how, lambda: (self.queryset.annotate(**windows) if windows else self.queryset)[start:stop])

    def _read_keyed(self, how: tuple, keys: Keys, start: int, stop: int, also: dict | None) -> list:
        """`_slice` in two reads: the keys of the rows shown, in order, with the counts, from the narrower
        table alone; then those rows by primary key. In one query PostgreSQL joined every row found to the
        wider table before it sorted them and kept a page: a trust-wide head's overdue names (1,331 of the
        trust's 20,436 agreements) hashed every agreement, 13 ms for ten rows (issue 14). Each read's SQL is
        kept as `_read` keeps it, the rows' with their keys as one array parameter (`OneOf`)."""
        windows = _count_windows({name: keys.also[name] for name in also}) if also is not None else {}
        key = kept_key(self.queryset)

        def keys_sql():
            found = keys.queryset.annotate(**windows).values_list(keys.column, *windows)[start:stop]
            return found.query.sql_with_params()

        sql, params = BUILT.get(("keys", key, how), keys_sql) if key is not None else keys_sql()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
        if not found:
            return []
        ids = [row[0] for row in found]
        by_pk = {item.pk: item for item in self._read_by_keys(key, ids)}
        # A row gone between the two reads (an agreement deleted) is left out of the page.
        items = [by_pk[pk] for pk in ids if pk in by_pk]
        for item in items:
            for n, name in enumerate(windows, start=1):
                setattr(item, name, found[0][n])
        return items

    def _read_by_keys(self, key, ids: list[int]) -> list:
        """The queryset's rows whose primary key is in `ids`, in no order. Compiled once under a kept
        queryset's key, then run with the ids swapped into the one array parameter they are."""
        one_of = OneOf("pk", ids)
        rows = self.queryset.filter(one_of).order_by()
        if key is None or not _plain(self.queryset):
            return list(rows)

        def build():
            sql, params = rows.query.sql_with_params()
            at = [n for n, p in enumerate(params) if p is one_of.values]
            return sql, params, at[0] if len(at) == 1 else None

        sql, params, at = BUILT.get(("by keys", key), build)
        if at is None:
            return list(rows)
        params = (*params[:at], one_of.values, *params[at + 1 :])
        return list(self.queryset.raw(sql, params))

    def head(self, n: int) -> list:
        """The first `n` rows, built: read from the database for a queryset."""
        if self.rows is not None:
            return self.rows[:n]
        return self.build(self._slice(("head", n), 0, n))

    def head_counted(self, n: int, *, also: dict | None = None) -> tuple[list, int, dict]:
        """The first `n` rows, the count of all of them and the counts `also` names ({name: Q}), in one
        query: the counts are window functions over the rows the query finds, worked out before the
        LIMIT (a count is its own query otherwise, compiled and planned again: issue 14). For a listing
        read from a queryset."""
        also = also or {}
        items = self._slice(("head counted", n, _described(also)), 0, n, also)
        total = items[0].listing_total if items else 0
        others = {name: getattr(items[0], f"listing_{name}") if items else 0 for name in also}
        return self.build(items), total, others

    def first(self):
        rows = self.rows[:1] if self.rows is not None else self.build(self.queryset[:1])
        return rows[0] if rows else None

    def page(self, number, size: int):
        """Page `number` (Django's `Paginator.get_page`: the first or last for a bad number), its rows built.
        A list whose count is not known elsewhere is counted with the page it shows, in one query (a
        window function over the rows found, worked out before the LIMIT): a count of its own scanned the
        same rows again (an auditor's overdue actions: 12 ms twice; issue 14)."""
        if self._count is None and self._known_count is None:
            page = self._page_counted(number, size)
            if page is not None:
                return page
        paginator = Paginator(self.rows if self.rows is not None else self.queryset, size)
        paginator.count = self.count  # counted once, for the tile and the paginator alike
        page = paginator.get_page(number)
        if self.rows is None:
            start = (page.number - 1) * size
            page.object_list = self.build(self._slice(("page", start, size), start, start + size))
        return page

    def _page_counted(self, number, size: int) -> Page | None:
        """The page asked for with the count of the whole list, or None when that page has no rows (past
        the end or below the first), for `page` to count and show the last page, as the paginator does. An
        empty first page is an empty list, counted 0. `COUNT(*)`: a list grouped in the database counts its groups."""
        try:
            wanted = int(number)
        except (TypeError, ValueError):
            wanted = 1  # not a number: the first page, as the paginator gives
        if not 1 <= wanted <= MAX_PAGE_COUNTED:
            return None
        start = (wanted - 1) * size
        windows = _count_windows(self.also)
        items = self._slice(("page counted", start, size, _described(self.also)), start, start + size, self.also)
        if not items and start == 0:
            # No first page: the list is empty, and that is its count (no COUNT of its own to say so).
            self._count, self.also_counts = 0, dict.fromkeys(self.also, 0)
            paginator = Paginator(self.queryset, size)
            paginator.count = 0
            return Page([], 1, paginator)
        if not items:
            return None
        first = items[0]
        counts = {name: first[name] if isinstance(first, dict) else getattr(first, name) for name in windows}
        self._count = counts["listing_total"]
        self.also_counts = {name: counts[f"listing_{name}"] for name in self.also}
        paginator = Paginator(self.queryset, size)
        paginator.count = self.count
        return Page(self.build(items), wanted, paginator)


def _plain(queryset) -> bool:
    """Whether a queryset's SQL may be run again raw (`queryset.raw`): only one of the model's own columns
    and annotations, as raw SQL gives model instances, not the dictionaries of `values()`, and would take
    the columns of a `select_related` join for its own."""
    return queryset._iterable_class is ModelIterable and not queryset.query.select_related


def _described(also: dict) -> tuple:
    """The counts `also` names, as part of a kept read's key: each name with its condition."""
    return tuple(sorted((name, str(q)) for name, q in also.items()))


def _count_windows(also: dict) -> dict:
    """The list's length as `listing_total`, and each count `also` names ({name: Q}) as `listing_<name>`:
    window functions over every row a query finds, worked out before its LIMIT. `COUNT(*)`: a list grouped
    in the database counts its groups."""
    return {"listing_total": Window(Count("*"))} | {
        f"listing_{name}": Window(Count("pk", filter=q)) for name, q in also.items()
    }


def cancellation_summary(rows: list[CancellationRow]) -> dict:
    return summarise_hours([r.hours for r in rows])


def summarise_hours(hours_each: list[float | None]) -> dict:
    """Cancellations, given the hours each took to rebook (None: not rebooked yet)."""
    hours = [h for h in hours_each if h is not None]
    return {
        "cancelled": len(hours_each),
        "rebooked": len(hours),
        "not_rebooked": len(hours_each) - len(hours),
        "median_hours": statistics.median(hours) if hours else None,
        "longest_hours": max(hours) if hours else None,
    }


def hours_label(hours: float | None) -> str:
    if hours is None:
        return "–"
    if hours < 48:
        value = round(hours, 1)
        return f"{value:g} hour{'s' if value != 1 else ''}"
    return f"{round(hours / 24, 1):g} days"
