"""A dashboard list's page is counted with its rows in one query (`Listing.page`, issue 14): the same page,
count and page numbers as Django's paginator, for any page asked for, on a list of models, of values
and of groups."""

from datetime import date, timedelta

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext

from accounts.models import StaffMember
from supervision.dashboard import Listing
from tests.factories import OrganisationFactory, StaffFactory

ASKED = [None, "", "x", "1.5", "-1", "0", "1", "2", "3", "4", "99", "99999999999999999999999"]


@pytest.fixture
def people(db):
    # Seven people who started on four days: seven rows, or four groups.
    organisation = OrganisationFactory()
    for n in range(7):
        StaffFactory(organisation=organisation, start_date=date(2024, 9, 2) + timedelta(days=n % 4))
    return StaffMember.objects.filter(organisation=organisation).order_by("id")


def _lists(people):
    return {
        "models": people,
        "values": people.values("id"),
        "groups": people.values("start_date").annotate(n=Count("id")).order_by("start_date"),
    }


def _shown(rows):
    return [r.pk if isinstance(r, StaffMember) else (r.get("id"), r.get("start_date"), r.get("n")) for r in rows]


@pytest.mark.parametrize("kind", ["models", "values", "groups"])
def test_every_page_and_count_as_djangos_paginator_gives(people, kind):
    queryset = _lists(people)[kind]
    for asked in ASKED:
        listing = Listing(queryset=queryset, build=list)
        page = listing.page(asked, 2)
        expected = Paginator(queryset, 2).get_page(asked)
        assert listing.count == queryset.count() == {"groups": 4}.get(kind, 7)
        assert page.number == expected.number, asked
        assert page.paginator.num_pages == expected.paginator.num_pages, asked
        assert _shown(page.object_list) == _shown(expected.object_list), asked
        assert (page.has_next(), page.has_previous(), page.start_index(), page.end_index()) == (
            expected.has_next(),
            expected.has_previous(),
            expected.start_index(),
            expected.end_index(),
        ), asked


def test_a_page_in_range_is_one_query_and_an_empty_list_a_first_page_of_none(people):
    listing = Listing(queryset=people, build=list)
    with CaptureQueriesContext(connection) as queries:
        page = listing.page("2", 2)
        count = listing.count
    assert len(queries) == 1 and count == 7 and len(page.object_list) == 2
    empty = Listing(queryset=people.filter(pk__lt=0), build=list)
    page = empty.page("3", 2)
    assert (page.number, empty.count, list(page.object_list)) == (1, 0, [])


def test_a_count_known_elsewhere_is_not_counted_again(people):
    listing = Listing(queryset=people, build=list, counted=lambda: 7)
    with CaptureQueriesContext(connection) as queries:
        page = listing.page("4", 2)
    assert len(queries) == 1 and listing.count == 7 and (page.number, page.paginator.num_pages) == (4, 4)


def test_a_page_counts_what_it_is_asked_with_its_rows_and_counts_alone_only_past_the_end(people):
    # The coverage list's way (issue 14): no count known elsewhere, so the page counts the list and the
    # covered rows with its rows, and the list's own count (the chart's `count_owed`) is never asked.
    alone = []
    first_day = date(2024, 9, 2)

    def count_alone():
        alone.append(True)
        return 7

    listing = Listing(queryset=people, build=list, count_alone=count_alone, also={"first_day": Q(start_date=first_day)})
    with CaptureQueriesContext(connection) as queries:
        page = listing.page("2", 2)
        count = listing.count
    assert len(queries) == 1 and count == 7 and not alone
    assert listing.also_counts == {"first_day": people.filter(start_date=first_day).count()} == {"first_day": 2}
    assert _shown(page.object_list) == _shown(Paginator(people, 2).get_page("2").object_list)
    # Past the end the page reads no rows: the list is counted on its own, once, and the last page shown.
    past = Listing(queryset=people, build=list, count_alone=count_alone, also={"first_day": Q(start_date=first_day)})
    page = past.page("9", 2)
    assert (page.number, past.count, len(alone), past.also_counts) == (4, 7, 1, None)
    # A count worked out elsewhere wins: the page reads its rows only.
    known = Listing(queryset=people, build=list, counted=lambda: 7, count_alone=count_alone, also={"x": Q(pk=0)})
    known.page("1", 2)
    assert (known.count, len(alone), known.also_counts) == (7, 1, None)


def test_an_empty_list_is_counted_by_its_first_page_as_djangos_paginator_gives(people):
    # An empty first page is an empty list: counted 0 with no query of its own (the safeguarding page's lists
    # for a setting with nothing to follow up, issue 14); any other page asked shows that first page.
    empty = people.filter(pk__lt=0)
    alone = []
    for asked in ASKED:
        listing = Listing(
            queryset=empty, build=list, count_alone=lambda: alone.append(True) or 0, also={"x": Q(pk__gt=0)}
        )
        with CaptureQueriesContext(connection) as queries:
            page = listing.page(asked, 2)
        expected = Paginator(empty, 2).get_page(asked)
        assert (page.number, page.paginator.num_pages, list(page.object_list), listing.count) == (
            expected.number, expected.paginator.num_pages, [], 0,
        ), asked  # fmt: skip
        assert (page.has_next(), page.has_previous()) == (False, False), asked
        if asked in (None, "", "x", "1.5", "1"):  # the first page asked: one query, both counts 0
            assert len(queries) == 1 and listing.also_counts == {"x": 0}, asked
    assert len(alone) == len(ASKED) - 5  # the others read no rows, and count on their own as before
