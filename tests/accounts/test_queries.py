"""`InArray`, `OneOf` and `in_values` (accounts/queries.py, issue 14): the rows of a school found from its own
sessions inwards, with the same answer as the join they replace, on PostgreSQL and on SQLite."""

from datetime import date

import pytest
from django.db import connection
from django.db.models import Q

from accounts.queries import InArray, OneOf, in_values
from records.models import Action, ActionStatus
from supervision.models import Contract, Session
from tests.records.helpers import written_record

pytestmark = pytest.mark.django_db


def actions_of_two_schools(cast):
    """An open action in a record of each setting's session."""
    actions = []
    for supervisee, supervisor in ((cast.supervisee, cast.supervisor), (cast.supervisee2, cast.supervisor2)):
        record = written_record(cast, supervisee=supervisee, supervisor=supervisor)
        actions.append(
            Action.objects.create(
                organisation=cast.organisation,
                record=record,
                description="Read the policy",
                owner=supervisee,
                due_date=date(2025, 11, 1),
                status=ActionStatus.OPEN,
            )
        )
    return actions


def test_a_schools_actions_are_those_the_join_finds(cast):
    primary, secondary = actions_of_two_schools(cast)
    for settings, expected in (
        ([cast.primary.pk], {primary}),
        ([cast.secondary.pk], {secondary}),
        ([cast.primary.pk, cast.secondary.pk], {primary, secondary}),
        ([cast.other_setting.pk], set()),
        ([], set()),
    ):
        found = set(Action.objects.filter(in_values(Action, "record__session__setting_id", settings)))
        joined = set(Action.objects.filter(record__session__setting_id__in=settings))
        assert found == joined == expected


def test_the_outer_query_joins_nothing_and_postgresql_reads_an_array(cast):
    sql = str(Action.objects.filter(in_values(Action, "record__session__setting_id", [cast.primary.pk])).query)
    outer = sql.split("(SELECT", 1)[0]
    assert "JOIN" not in outer
    if connection.vendor == "postgresql":
        assert '"record_id" = ANY(ARRAY(SELECT' in sql
    else:
        assert '"record_id" IN (SELECT' in sql


def test_a_plain_column_is_a_plain_in(cast):
    assert in_values(Session, "setting_id", [1, 2]) == Q(setting_id__in=[1, 2])


def test_in_array_combines_with_other_conditions(cast):
    """Or'd with plain conditions, as `Contract.visible_to` uses it: no row twice, none missed."""
    actions_of_two_schools(cast)
    in_primary = cast.supervisee.settings.through.objects.filter(setting_id=cast.primary.pk)
    either = Contract.objects.filter(
        Q(supervisor=cast.supervisor2) | Q(InArray("supervisee_id", in_primary.values("staffmember_id")))
    )
    assert sorted(c.supervisee.full_name for c in either) == ["Sal Supervisee", "Sid Supervisee"]
    assert list(Contract.objects.filter(~Q(InArray("supervisee_id", in_primary.values("staffmember_id"))))) == list(
        Contract.objects.filter(supervisee=cast.supervisee2)
    )


def test_the_head_sees_the_agreements_of_their_school_once_each(cast):
    actions_of_two_schools(cast)
    visible = list(Contract.objects.visible_to(cast.head))
    assert len(visible) == len(set(visible))
    assert {c.supervisee for c in visible} == {cast.supervisee}
    assert {s.contract.supervisee for s in Session.objects.visible_to(cast.head)} == {cast.supervisee}
    assert {s.contract.supervisee for s in Session.objects.visible_to(cast.supervisee2)} == {cast.supervisee2}


def test_one_of_finds_what_in_finds_kept_and_excluded(cast):
    """`OneOf` against `__in` for the lists a dashboard gives it: some people, all, one, none and ids of
    nobody; and through a foreign key and the attendees (many-to-many), as the dashboard's sessions use it."""
    actions_of_two_schools(cast)
    everyone = list(Contract.objects.values_list("supervisee_id", flat=True))
    for ids in ([cast.supervisee.pk], [cast.supervisee.pk, cast.supervisee2.pk], everyone, [], [10**9]):
        assert set(Contract.objects.filter(OneOf("supervisee_id", ids))) == set(
            Contract.objects.filter(supervisee_id__in=ids)
        )
        assert set(Contract.objects.exclude(OneOf("supervisee_id", ids))) == set(
            Contract.objects.exclude(supervisee_id__in=ids)
        )
        assert set(Session.objects.filter(OneOf("contract__supervisee_id", ids))) == set(
            Session.objects.filter(contract__supervisee_id__in=ids)
        )
        attended = Session.objects.filter(OneOf("attendees", ids)).values_list("pk", "attendees")
        assert sorted(attended) == sorted(Session.objects.filter(attendees__in=ids).values_list("pk", "attendees"))


def test_one_of_is_one_parameter_on_postgresql(cast):
    ids = [cast.supervisee.pk, cast.supervisee2.pk, cast.supervisor.pk]
    sql, params = Contract.objects.filter(OneOf("supervisee_id", ids)).query.sql_with_params()
    if connection.vendor == "postgresql":
        assert '"supervisee_id" = ANY(%s::bigint[])' in sql
        assert sorted(ids) in params
    else:
        assert '"supervisee_id" IN (%s, %s, %s)' in sql
