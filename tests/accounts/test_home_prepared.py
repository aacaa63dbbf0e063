"""A person's own rows on the home are asked with prepared statements (config.prepared, issue 14).

PostgreSQL with psycopg 3 only: elsewhere `prepared_plans()` changes nothing, and the home's other tests
run there as here. What matters is that each statement, prepared once a connection and run again with
another person's values, answers for that person; and that nothing else is prepared, so the statements
over a scope of settings or an organisation keep being planned for their values.
"""

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import StaffMember
from config.prepared import prepared_plans
from records.models import FlagKind

from .test_home import _decision, _group_record

pytestmark = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"], reason="prepared statements: PostgreSQL"
)


def _prepared() -> dict[str, int]:
    """The statements this connection has prepared, with how many times each has run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def test_a_home_prepares_the_persons_own_statements_and_runs_them_again(cast, login):
    _decision(cast, key_person=cast.supervisee2, flag=FlagKind.HARM)
    client = login(cast.head)
    before = _prepared()
    for _ in range(7):
        assert client.get("/").status_code == 200
    prepared = {statement: runs for statement, runs in _prepared().items() if statement not in before}
    assert prepared, "the home prepared nothing"
    # Run again on every visit (seven), rather than prepared anew each time.
    assert max(prepared.values()) >= 7
    # The person's agreement, records to sign, actions and supervisees are among them.
    assert any('FROM "supervision_contract"' in s for s in prepared)
    assert any('FROM "records_action"' in s for s in prepared)
    # Not the statements over the head's settings: the overdue names read from the agreements in scope.
    assert not any("supervision_agreementcoverage" in s or "supervision_halfterm" in s for s in prepared)


def test_the_dashboard_and_other_pages_prepare_nothing(cast, login):
    client = login(cast.head)
    before = _prepared()
    for url in ("/dashboard/", "/records/", "/contracts/", "/calendar/"):
        for _ in range(3):
            assert client.get(url).status_code == 200
    assert _prepared().keys() == before.keys()


def test_outside_prepared_plans_a_statement_is_not_prepared(db):
    before = _prepared()
    for n in range(3):
        list(StaffMember.objects.filter(pk=n))
    assert _prepared().keys() == before.keys()
    with prepared_plans():
        for n in range(3):
            list(StaffMember.objects.filter(pk=n))
    assert len(_prepared()) == len(before) + 1


def test_each_prepared_statement_answers_for_the_person_asking(cast, login):
    """Two people's homes in turn on one connection, often enough for PostgreSQL to keep one plan for any
    values: each home lists only its own records to sign, decisions and supervisees, every time."""
    record = _group_record(cast)  # the supervisee and the supervisor to sign
    _decision(cast, key_person=cast.supervisee2, child="CP-9")
    for _ in range(8):
        mine = login(cast.supervisee).get("/").context
        assert list(mine["records_to_sign"]) == [record]
        assert mine["decisions_to_confirm"] == []
        theirs = login(cast.supervisee2).get("/").context
        assert list(theirs["records_to_sign"]) == []
        assert [d.child_reference for d in theirs["decisions_to_confirm"]] == ["CP-9"]
        supervisor = login(cast.supervisor).get("/").context
        assert list(supervisor["records_to_sign"]) == [record]
        assert {s.pk for s in supervisor["supervisees"]} == set(
            StaffMember.objects.filter(supervisor=cast.supervisor).current().values_list("pk", flat=True)
        )


def test_moments_are_read_in_utc_by_psycopgs_own_loader(cast):
    """The backend reads timestamptz with psycopg's loader (C with psycopg[binary]) rather than Django's
    Python one: the same aware moments in UTC, in plain, prepared and server-side cursors alike."""
    from datetime import UTC, datetime

    from django.contrib.auth import get_user_model

    moment = datetime(2025, 11, 3, 14, 30, 15, 123456, tzinfo=UTC)
    user = cast.supervisee.user
    get_user_model().objects.filter(pk=user.pk).update(last_login=moment)
    users = get_user_model().objects.filter(pk=user.pk).values_list("last_login", flat=True)
    with prepared_plans():
        prepared = users.get()
    for read in (users.get(), prepared, next(users.iterator(chunk_size=10))):
        assert read == moment
        assert read.tzinfo is UTC
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(1184, 0)  # timestamptz, text
    assert loader.__module__.startswith("psycopg")


def test_a_prepared_statement_is_shown_with_its_values_like_any_other(db, django_assert_num_queries):
    """`connection.queries` and the tests' captured queries show a prepared statement's SQL with its
    values, as Django shows its own (psycopg keeps it with placeholders)."""
    with django_assert_num_queries(2) as captured:
        list(StaffMember.objects.filter(pk=424242))
        with prepared_plans():
            list(StaffMember.objects.filter(pk=424242))
    plain, prepared = (q["sql"] for q in captured.captured_queries)
    assert prepared == plain
    assert "424242" in prepared
