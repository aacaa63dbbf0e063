"""A figure's rows a page at a time, and the small counts and wording the lists share."""

import statistics
from functools import cached_property

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, Window
from django.db.models.query import ModelIterable

from .built import BUILT, kept_key
from .rows import CancellationRow

# A page number above this is past the end of any list (an offset beyond it would overflow the database's);
# the paginator finds the last page for it.
MAX_PAGE_COUNTED = 1_000_000


class Listing:
    """The rows of a figure: a queryset read a page at a time and turned into rows by `build`, or rows
    already worked out."""

    def __init__(self, *, queryset=None, build=None, rows=None, counted=None, count_alone=None, also=None):
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
        # Only a queryset of the model's own columns and annotations: raw SQL gives model instances, not the
        # dictionaries of `values()`, and would take the columns of a `select_related` join for its own.
        plain = queryset._iterable_class is ModelIterable and not queryset.query.select_related
        if key is None or connection.vendor != "postgresql" or not plain:
            return list(read())
        sql, params = BUILT.get(("read", key, how), lambda: read().query.sql_with_params())
        return list(queryset.raw(sql, params))

    def head(self, n: int) -> list:
        """The first `n` rows, built: read from the database for a queryset."""
        if self.rows is not None:
            return self.rows[:n]
        return self.build(self._read(("head", n), lambda: self.queryset[:n]))

    def head_counted(self, n: int, *, also: dict | None = None) -> tuple[list, int, dict]:
        """The first `n` rows, the count of all of them and the counts `also` names ({name: Q}), in one
        query: the counts are window functions over the rows the query finds, worked out before the
        LIMIT (a count is its own query otherwise, compiled and planned again: issue 14). For a listing
        read from a queryset."""
        also = also or {}
        windows = _count_windows(also)
        items = self._read(("head counted", n, _described(also)), lambda: self.queryset.annotate(**windows)[:n])
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
            page.object_list = self.build(page.object_list)
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
        items = self._read(
            ("page counted", start, size, _described(self.also)),
            lambda: self.queryset.annotate(**windows)[start : start + size],
        )
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
