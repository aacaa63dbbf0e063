"""Queries compiled once a thread and run again with new values (config.compiled, issue 14).

What matters: each run answers for its own values, with the same rows (and related objects) as the
queryset itself, from the data as it is now; a queryset that does not compile to one statement of its
values is refused rather than run wrong. On SQLite `compiled_rows` reads the queryset each time, so
the keeping is checked on PostgreSQL and the answers on both.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import Setting, StaffMember
from accounts.queries import OneOf
from config.compiled import KEPT_QUERIES, NotCompilable, compiled_rows

from .factories import StaffFactory

on_postgresql = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"], reason="kept only on PostgreSQL"
)


def _supervised_by(*, supervisor_id: int, today):
    return (
        StaffMember.objects.current(on=today)
        .filter(supervisor_id=supervisor_id)
        .select_related("user")
        .prefetch_related(Prefetch("settings", queryset=Setting.objects.only("name")))
        .order_by("user__full_name")
    )


def _names(people) -> list[tuple[str, list[str]]]:
    return [(p.user.full_name, [s.name for s in p.settings.all()]) for p in people]


def test_each_run_answers_for_its_own_values_as_the_queryset_does(cast, django_assert_num_queries):
    today = timezone.localdate()
    key = ("test: supervised by", cast.organisation.pk)
    for supervisor in (cast.supervisor, cast.supervisor2, cast.supervisee, cast.supervisor):
        rows = compiled_rows(key, _supervised_by, supervisor_id=supervisor.pk, today=today)
        expected = list(_supervised_by(supervisor_id=supervisor.pk, today=today))
        assert [p.pk for p in rows] == [p.pk for p in expected]
        # The joined user and the prefetched settings come with the rows: no query to read them.
        with django_assert_num_queries(0):
            assert _names(rows) == _names(expected)
    assert [p.pk for p in compiled_rows(key, _supervised_by, supervisor_id=cast.supervisor.pk, today=today)] == [
        cast.supervisee.pk
    ]


def test_a_run_reads_the_data_as_it_is_now(cast):
    today = timezone.localdate()
    key = ("test: now", cast.organisation.pk)
    assert [p.pk for p in compiled_rows(key, _supervised_by, supervisor_id=cast.supervisor.pk, today=today)] == [
        cast.supervisee.pk
    ]
    newcomer = StaffFactory(organisation=cast.organisation, supervisor=cast.supervisor, settings=[cast.primary])
    cast.supervisee.leaving_date = today - timedelta(days=1)
    cast.supervisee.save(update_fields=["leaving_date"])
    assert [p.pk for p in compiled_rows(key, _supervised_by, supervisor_id=cast.supervisor.pk, today=today)] == [
        newcomer.pk
    ]
    # A day is a value like an id: the day before the leaving date, they were current.
    yesterday = today - timedelta(days=2)
    rows = compiled_rows(key, _supervised_by, supervisor_id=cast.supervisor.pk, today=yesterday)
    assert {p.pk for p in rows} == {cast.supervisee.pk, newcomer.pk}


def test_lists_of_ids_and_values_rows(cast):
    def names_of(*, ids):
        return StaffMember.objects.filter(OneOf("id", ids)).order_by("id").values_list("id", "user__full_name")

    key = "test: names of"
    people = [cast.supervisee, cast.head, cast.auditor]
    assert compiled_rows(key, names_of, ids=[p.pk for p in people]) == [
        (p.pk, p.full_name) for p in sorted(people, key=lambda p: p.pk)
    ]
    assert compiled_rows(key, names_of, ids=[cast.dsl.pk]) == [(cast.dsl.pk, cast.dsl.full_name)]
    assert compiled_rows(key, names_of, ids=[]) == []


@on_postgresql
def test_a_query_is_compiled_once_a_thread_and_its_statement_run_again(cast, django_assert_num_queries):
    today = timezone.localdate()
    key = ("test: once", cast.organisation.pk)
    compiled_rows(key, _supervised_by, supervisor_id=cast.supervisor.pk, today=today)
    compiles = KEPT_QUERIES.compiles
    with django_assert_num_queries(2) as kept:  # the people, then their settings
        compiled_rows(key, _supervised_by, supervisor_id=cast.supervisor2.pk, today=today)
    assert KEPT_QUERIES.compiles == compiles
    # The statement the queryset itself sends, with the same values.
    with django_assert_num_queries(2) as made:
        list(_supervised_by(supervisor_id=cast.supervisor2.pk, today=today))
    assert [q["sql"] for q in kept.captured_queries] == [q["sql"] for q in made.captured_queries]


@on_postgresql
def test_a_queryset_that_reads_the_clock_is_refused(cast):
    def upcoming(*, staff_id):
        return StaffMember.objects.filter(supervisor_id=staff_id, user__date_joined__lte=timezone.now())

    with pytest.raises(NotCompilable, match="changed between two builds"):
        compiled_rows("test: the clock", upcoming, staff_id=cast.supervisor.pk)


@on_postgresql
def test_a_value_that_is_not_one_parameter_is_refused(cast):
    def ignores_it(*, staff_id, setting_id):
        return StaffMember.objects.filter(supervisor_id=staff_id)

    with pytest.raises(NotCompilable, match="not every value"):
        compiled_rows("test: ignored", ignores_it, staff_id=cast.supervisor.pk, setting_id=cast.primary.pk)

    def spread(*, ids):  # `__in` makes a parameter of each id: the statement's length depends on them
        return StaffMember.objects.filter(id__in=ids)

    with pytest.raises(NotCompilable):
        compiled_rows("test: spread", spread, ids=[cast.supervisee.pk, cast.head.pk])


@on_postgresql
def test_only_ids_days_and_moments_are_values(cast):
    with pytest.raises(NotCompilable, match="not str"):
        compiled_rows("test: a name", lambda *, name: StaffMember.objects.filter(user__full_name=name), name="Amy")


@on_postgresql
def test_a_small_number_is_not_an_id(cast):
    from accounts.models import WorkingDay

    def on_weekday(*, staff_id, weekday):  # a weekday's column holds 0 to 6: a stand-in id is out of its range
        return WorkingDay.objects.filter(staff_id=staff_id, weekday=weekday)

    with pytest.raises(NotCompilable, match="out of its column's range"):
        compiled_rows("test: weekday", on_weekday, staff_id=cast.supervisee.pk, weekday=2)
