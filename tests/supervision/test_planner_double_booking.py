"""Two planners preview the same half term; the second confirmation cannot book an agreement twice (issue 17, 4)."""

import threading
from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from supervision import services
from supervision.models import Contract, HalfTerm, Session
from supervision.planner import Proposal, confirm_plan, plan_half_term
from supervision.slots import LONDON
from tests.factories import StaffFactory

from .helpers import plan_form, signed_contract

pytestmark = pytest.mark.django_db

TODAY = "2026-10-01 09:00 +0100"


def _client(person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def _preview(client, half_term, caseload):
    """The rows the page proposes, as (contract code, date, "HH:MM")."""
    response = client.get(reverse("supervision:planner"), {"half_term": half_term.code, "caseload": caseload})
    assert response.status_code == 200
    return [
        (form.initial["contract"], form.initial["date"], form.initial["time"].strftime("%H:%M"))
        for form in response.context["formset"]
    ]


def _confirm(client, half_term, caseload, rows, ticked=None):
    """Book through both steps (issue 16, fault 4): the check page, then its own button. A refusal at the
    check is returned as it is: nothing was booked."""
    data = plan_form(half_term, caseload, rows, ticked=ticked)
    check = client.post(reverse("supervision:planner"), data)
    if "checked" not in check.context:
        return check
    return client.post(
        reverse("supervision:planner"), {**data, "action": "confirm", "checked": check.context["checked"]}
    )


def _later(row, hours=2):
    code, day, at_time = row
    moved = datetime.combine(day, datetime.strptime(at_time, "%H:%M").time()) + timedelta(hours=hours)
    return code, day, moved.strftime("%H:%M")


def _sessions_per_agreement(half_term):
    starts = datetime.combine(half_term.starts, datetime.min.time(), tzinfo=LONDON)
    ends = datetime.combine(half_term.ends + timedelta(days=1), datetime.min.time(), tzinfo=LONDON)
    counts = {}
    for contract in Contract.objects.all():
        counts[contract.supervisee.full_name] = Session.objects.filter(
            contract=contract, starts_at__gte=starts, starts_at__lt=ends
        ).count()
    return counts


def _setup(cast):
    services.ensure_calendar(cast.organisation, today=date(2026, 10, 1))
    half_term = HalfTerm.objects.get(organisation=cast.organisation, starts=date(2026, 11, 2))
    signed_contract(cast.supervisee, cast.supervisor, start=date(2026, 9, 1))
    for _ in range(3):
        person = StaffFactory(organisation=cast.organisation, settings=[cast.primary])
        signed_contract(person, cast.supervisor, start=date(2026, 9, 1))
    return half_term


@time_machine.travel(TODAY, tick=False)
def test_a_second_confirmation_of_the_same_half_term_books_nothing_twice(cast):
    half_term = _setup(cast)
    supervisor, head = _client(cast.supervisor), _client(cast.head)
    mine = _preview(supervisor, half_term, "mine")
    theirs = _preview(head, half_term, str(cast.primary.code))
    assert len(mine) == len(theirs) == 4

    booked = _confirm(supervisor, half_term, "mine", mine)
    assert booked.status_code == 302
    assert set(_sessions_per_agreement(half_term).values()) == {1}

    # The head moved two rows to a free time and kept two as proposed (those now clash).
    edited = [_later(theirs[0]), _later(theirs[1]), theirs[2], theirs[3]]
    refused = _confirm(head, half_term, str(cast.primary.code), edited)
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "Nothing was booked" in page
    assert "4 of the ticked sessions cannot be booked" in page
    assert "data-error-summary" in page
    assert page.index("Nothing was booked") < page.index("Proposed sessions")
    rows = refused.context["rows"]
    for row in rows[:2]:
        assert any("already has the sessions this half term needs" in e for e in row["errors"]), row["errors"]
        assert f'href="#{row["anchor"]}"' in page
    for row in rows[2:]:
        assert any("already has a session then" in e for e in row["errors"]), row["errors"]
    assert set(_sessions_per_agreement(half_term).values()) == {1}

    # They untick the rows refused for a clash and confirm the rest: still refused, still nothing booked.
    again = _confirm(head, half_term, str(cast.primary.code), edited, ticked={0, 1})
    assert again.status_code == 200
    page = again.content.decode()
    assert "Nothing was booked" in page and "2 of the ticked sessions cannot be booked" in page
    assert set(_sessions_per_agreement(half_term).values()) == {1}
    # The plan under the summary is worked out again: every agreement is shown as booked already.
    assert len(again.context["plan"].already_booked) == 4
    assert again.context["plan"].proposals == []


@time_machine.travel(TODAY, tick=False)
def test_two_rows_for_one_half_termly_agreement_are_refused(cast):
    half_term = _setup(cast)
    supervisor = _client(cast.supervisor)
    [first, *_] = _preview(supervisor, half_term, "mine")
    response = _confirm(supervisor, half_term, "mine", [first, _later(first, hours=3)])
    assert response.status_code == 200
    [ok, extra] = response.context["rows"]
    assert ok["errors"] == []
    assert any("needs no more sessions this half term" in e for e in extra["errors"])
    assert not Session.objects.exists()


@time_machine.travel(TODAY, tick=False)
def test_a_confirmation_with_room_left_still_books(cast):
    half_term = _setup(cast)
    supervisor, head = _client(cast.supervisor), _client(cast.head)
    mine = _preview(supervisor, half_term, "mine")
    theirs = _preview(head, half_term, str(cast.primary.code))
    # The supervisor books only two; the head then books the other two from the older preview.
    assert _confirm(supervisor, half_term, "mine", mine, ticked={0, 1}).status_code == 302
    codes = {row[0] for row in mine[:2]}
    rest = [i for i, row in enumerate(theirs) if row[0] not in codes]
    response = _confirm(head, half_term, str(cast.primary.code), theirs, ticked=set(rest))
    assert response.status_code == 302
    assert set(_sessions_per_agreement(half_term).values()) == {1}


POSTGRES = connection.vendor == "postgresql"


@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (DATABASE_URL): SQLite has no row locks to race")
# Committed rows, so the two confirmations see each other; serialized rollback restores the migrations' rows.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_confirmations_at_once_book_an_agreement_once(cast):
    with time_machine.travel(TODAY, tick=False):
        half_term = _setup(cast)
        contract = Contract.objects.get(supervisee=cast.supervisee)
        plan = plan_half_term(
            organisation=cast.organisation, half_term=half_term, contracts=Contract.objects.filter(pk=contract.pk)
        )
        [proposal] = plan.proposals
        # The same agreement at two different times, so only the re-plan (not a clash) can refuse one.
        rows = [
            [proposal],
            [Proposal(contract, proposal.starts_at + timedelta(hours=2), proposal.ends_at + timedelta(hours=2))],
        ]
        start = threading.Barrier(2)
        outcomes = []

        def confirm(actor, row):
            try:
                start.wait()
                confirm_plan(actor=actor, organisation=cast.organisation, half_term=half_term, rows=row)
                outcomes.append("booked")
            except ValidationError as error:
                outcomes.append(error.message_dict["0"][0])
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=confirm, args=(actor, row))
            for actor, row in zip((cast.supervisor, cast.head), rows, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert outcomes.count("booked") == 1
    [refusal] = [o for o in outcomes if o != "booked"]
    assert "already has the sessions this half term needs" in refusal
    assert Session.objects.filter(contract=contract).count() == 1
