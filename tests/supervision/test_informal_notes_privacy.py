"""Informal notes about one person never reach a group (issue 11, finding 5; DESIGN.md section 6).

A significant informal note is revisited at the person's next 1:1, where only that pair sees it. It
never joins a group session's agenda, nor a group record, and a group record does not use it up.
"""

import importlib
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from records import services as record_services
from supervision import services
from supervision.models import InformalNote
from tests.factories import StaffFactory

from .helpers import at, signed_contract

pytestmark = pytest.mark.django_db

NOTE = "Upset after a disciplinary meeting about lateness"


def significant_note(cast, occurred_on):
    return services.note_add(
        actor=cast.supervisor, supervisee=cast.supervisee, occurred_on=occurred_on, summary=NOTE, significant=True
    )


def group_of(cast, other):
    return services.group_create(
        actor=cast.head, name="Early years team", setting=cast.primary, supervisor=cast.dsl,
        members=[cast.supervisee, other], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip


@pytest.fixture
def colleague(cast):
    return StaffFactory(organisation=cast.organisation, settings=[cast.primary], user__full_name="Cat Colleague")


def book_group(cast, group, day):
    return services.session_book(
        actor=cast.dsl, group=group, starts_at=at(day, 14), minutes=45, check=False, send=False
    )


def book_one_to_one(cast, day):
    contract = signed_contract(cast.supervisee, cast.supervisor, start=date(2024, 9, 2))
    return services.session_book(
        actor=cast.supervisor, contract=contract, starts_at=at(day, 10), minutes=30, check=False, send=False
    )


def test_another_group_member_does_not_see_a_members_informal_note(cast, login, colleague):
    monday = timezone.localdate() + timedelta(days=7)
    significant_note(cast, timezone.localdate())
    session = book_group(cast, group_of(cast, colleague), monday)
    url = reverse("supervision:session-detail", args=[session.code])
    for person in (colleague, cast.supervisee, cast.dsl):
        page = login(person).get(url).content.decode()
        assert "Group supervision" in page
        assert NOTE not in page
        assert "From informal supervision" not in page


def test_the_group_agenda_partial_does_not_carry_the_note(cast, login, colleague):
    significant_note(cast, timezone.localdate())
    session = book_group(cast, group_of(cast, colleague), timezone.localdate() + timedelta(days=7))
    response = login(colleague).post(
        reverse("supervision:agenda-add", args=[session.code]), {"text": "Transitions"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "Transitions" in response.content.decode() and NOTE not in response.content.decode()


def test_in_a_one_to_one_only_the_pair_sees_the_note(cast, login):
    significant_note(cast, timezone.localdate())
    session = book_one_to_one(cast, timezone.localdate() + timedelta(days=7))
    url = reverse("supervision:session-detail", args=[session.code])
    for person in (cast.supervisee, cast.supervisor):
        assert NOTE in login(person).get(url).content.decode()
    # The setting's head and DSL see that the session exists, not its agenda.
    for person in (cast.head, cast.dsl):
        response = login(person).get(url)
        assert response.status_code == 200 and NOTE not in response.content.decode()
    assert login(cast.supervisee2).get(url).status_code == 404


def test_a_group_record_does_not_use_up_the_note_and_the_next_one_to_one_revisits_it(cast, login, colleague):
    today = timezone.localdate()
    note = significant_note(cast, today - timedelta(days=5))
    group_session = book_group(cast, group_of(cast, colleague), today - timedelta(days=2))
    group_record = record_services.record_start(actor=cast.dsl, session=group_session)
    note.refresh_from_db()
    assert note.revisited_in is None
    # The group's supervisor writes the group record without the note.
    page = login(cast.dsl).get(reverse("records:record-detail", args=[group_record.code])).content.decode()
    assert "<textarea" in page and NOTE not in page

    one_to_one = book_one_to_one(cast, today - timedelta(days=1))
    assert (
        NOTE
        in login(cast.supervisee).get(reverse("supervision:session-detail", args=[one_to_one.code])).content.decode()
    )
    record = record_services.record_start(actor=cast.supervisor, session=one_to_one)
    note.refresh_from_db()
    assert note.revisited_in == one_to_one
    assert NOTE in login(cast.supervisor).get(reverse("records:record-detail", args=[record.code])).content.decode()


def test_a_note_already_taken_into_a_group_record_stays_out_of_it(cast, login, colleague):
    """A note marked revisited in a group before the fix: the group record page does not show it."""
    today = timezone.localdate()
    note = significant_note(cast, today - timedelta(days=5))
    group_session = book_group(cast, group_of(cast, colleague), today - timedelta(days=1))
    group_record = record_services.record_start(actor=cast.dsl, session=group_session)
    InformalNote.objects.filter(pk=note.pk).update(revisited_in=group_session)
    page = login(cast.dsl).get(reverse("records:record-detail", args=[group_record.code])).content.decode()
    assert NOTE not in page


def test_the_migration_releases_notes_taken_into_a_group(cast, colleague):
    today = timezone.localdate()
    note = significant_note(cast, today - timedelta(days=5))
    kept = significant_note(cast, today - timedelta(days=4))
    group_session = book_group(cast, group_of(cast, colleague), today - timedelta(days=1))
    one_to_one = book_one_to_one(cast, today - timedelta(days=2))
    InformalNote.objects.filter(pk=note.pk).update(revisited_in=group_session)
    InformalNote.objects.filter(pk=kept.pk).update(revisited_in=one_to_one)
    migration = importlib.import_module("supervision.migrations.0004_informal_notes_leave_groups")
    migration.release_notes_from_groups(apps, None)
    note.refresh_from_db()
    kept.refresh_from_db()
    assert note.revisited_in is None and kept.revisited_in == one_to_one
