"""The record's life (DESIGN section 4): every transition, and the forbidden ones."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from records import services
from records.models import RecordStatus, Signature
from supervision import services as supervision_services
from supervision.models import SessionStatus
from tests.factories import PASSWORD

from .helpers import held_session, signed_record, written_record

pytestmark = pytest.mark.django_db


def test_starting_a_record_uses_the_default_template_and_marks_the_session_held(cast):
    session = held_session(cast)
    record = services.record_start(actor=cast.supervisor, session=session)
    session.refresh_from_db()
    assert session.status == SessionStatus.HELD
    assert record.template_version.template.name == "1-1 Supervision Record"
    assert [s.template_section.title for s in record.sections.select_related("template_section")] == [
        "Health and Welfare", "Practice Progress", "Children and Families", "Professional Development",
        "Specific Areas of Additional Responsibility", "Any Other Business",
    ]  # fmt: skip
    assert services.record_start(actor=cast.supervisor, session=session) == record  # once per session


def test_only_the_supervisor_starts_a_record_and_not_before_the_session(cast):
    session = held_session(cast)
    with pytest.raises(PermissionDenied):
        services.record_start(actor=cast.supervisee, session=session)
    future = held_session(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2, days_ago=-3)
    with pytest.raises(ValidationError):
        services.record_start(actor=cast.supervisor2, session=future)


def test_the_whole_happy_path(cast):
    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISEE
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISOR
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.SIGNED and record.locked_at is not None
    assert record.content_hash == services.content_hash(record)
    hashes = set(Signature.objects.filter(record=record).values_list("content_hash", flat=True))
    assert hashes == {record.content_hash}


def test_supervisee_comment_returns_the_record_to_draft_and_stays(cast):
    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_comment(actor=cast.supervisee, record=record, text="Section 2 overstates it.", disagree=True)
    record.refresh_from_db()
    assert record.status == RecordStatus.DRAFT
    # The supervisor keeps it with a rationale; the comment is still in the record and in the hash.
    services.record_set_rationale(actor=cast.supervisor, record=record, rationale="Recorded because of its impact.")
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    content = services.record_content(record)
    assert content["comments"][0]["kind"] == "disagreement"
    assert content["disagreement_rationale"] == "Recorded because of its impact."


def test_supervisee_cannot_edit_the_notes(cast, login):
    record = written_record(cast)
    section = record.sections.first()
    with pytest.raises(PermissionDenied):
        services.section_save(actor=cast.supervisee, section=section, discussion="Rewritten by the supervisee")
    response = login(cast.supervisee).post(
        f"/records/{record.code}/sections/{section.id}/", {"discussion": "Rewritten"}
    )
    assert response.status_code == 403
    section.refresh_from_db()
    assert section.discussion.startswith("Discussion 0")


def test_supervisor_cannot_sign_first(cast):
    record = written_record(cast)
    with pytest.raises(ValidationError):
        services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)  # still a draft
    services.record_submit(actor=cast.supervisor, record=record)
    with pytest.raises(ValidationError):
        services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)  # supervisee first
    assert not Signature.objects.filter(record=record).exists()


def test_signing_needs_the_password(cast):
    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    with pytest.raises(ValidationError):
        services.record_sign(actor=cast.supervisee, record=record, password="not it")
    assert not Signature.objects.filter(record=record).exists()


def test_any_change_after_a_signature_voids_it(cast):
    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    signature = Signature.objects.get(record=record)
    # The supervisor revises a section after the supervisee signed: the signature no longer stands.
    services.section_save(actor=cast.supervisor, section=record.sections.first(), discussion="Changed after signing")
    record.refresh_from_db()
    signature.refresh_from_db()
    assert signature.voided_at is not None and record.status == RecordStatus.DRAFT
    assert AuditEvent.objects.filter(action="record.signatures_voided", object_code=str(record.code)).exists()
    # Signed again, the new signature names the new content.
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    standing = Signature.objects.get(record=record, voided_at__isnull=True)
    assert standing.content_hash == services.content_hash(record) != signature.content_hash


def test_supervisor_takes_a_submitted_record_back(cast):
    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    services.record_reopen(actor=cast.supervisor, record=record)
    record.refresh_from_db()
    assert record.status == RecordStatus.DRAFT
    assert not Signature.objects.filter(record=record, voided_at__isnull=True).exists()


def test_nothing_changes_after_locking_except_an_addendum(cast):
    record = signed_record(cast)
    section = record.sections.first()
    with pytest.raises(ValidationError):
        services.section_save(actor=cast.supervisor, section=section, discussion="Too late")
    with pytest.raises(ValidationError):
        services.action_add(
            actor=cast.supervisor, record=record, description="Late", owner=cast.supervisee,
            due_date=timezone.localdate() + timedelta(days=7),
        )  # fmt: skip
    with pytest.raises(ValidationError):
        services.record_comment(actor=cast.supervisee, record=record, text="Late", disagree=True)
    with pytest.raises(ValidationError):
        services.flag_raise(actor=cast.supervisor, record=record, kind="harm")
    before = record.content_hash
    addendum = services.addendum_add(actor=cast.supervisor, record=record, text="Date of the training confirmed.")
    services.addendum_sign(actor=cast.supervisee, addendum=addendum, password=PASSWORD)
    addendum.refresh_from_db()
    assert addendum.locked_at is None
    services.addendum_sign(actor=cast.supervisor, addendum=addendum, password=PASSWORD)
    addendum.refresh_from_db()
    record.refresh_from_db()
    assert addendum.locked_at is not None
    assert record.content_hash == before and record.status == RecordStatus.SIGNED
    with pytest.raises(ValidationError):
        services.addendum_add(actor=cast.supervisor, record=written_record(cast, supervisee=cast.supervisee2,
                              supervisor=cast.supervisor2), text="Not signed yet")  # fmt: skip


def test_group_records_need_every_participant(cast):
    group = supervision_services.group_create(
        actor=cast.head, name="Team", setting=cast.primary, supervisor=cast.dsl,
        members=[cast.supervisee, cast.supervisor], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip
    from tests.supervision.helpers import at

    session = supervision_services.session_book(
        actor=cast.dsl, group=group, starts_at=at(timezone.localdate() - timedelta(days=1), 14), minutes=45,
        check=False, send=False,
    )  # fmt: skip
    record = services.record_start(actor=cast.dsl, session=session)
    assert record.template_version.template.for_groups
    services.section_save(actor=cast.dsl, section=record.sections.first(), discussion="We discussed the family.")
    services.record_submit(actor=cast.dsl, record=record)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISEE  # one of two participants
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISOR
    services.record_sign(actor=cast.dsl, record=record, password=PASSWORD)
    content = services.record_content(record)
    assert content["session"]["kind"] == "group" and content["session"]["boundaries"] == "Stays in the room."
    assert {s.capacity for s in record.signatures.all()} == {"participant", "supervisor"}


def test_previous_actions_are_reviewed_at_the_next_session(cast):
    first = signed_record(cast)
    first.status = RecordStatus.SIGNED
    action = first.actions.create(
        organisation=first.organisation, description="Book phonics training", owner=cast.supervisee,
        due_date=timezone.localdate() + timedelta(days=3),
    )  # fmt: skip
    session = held_session(cast, days_ago=1)
    second = services.record_start(actor=cast.supervisor, session=session)
    assert second.previous_record == first
    services.previous_action_review(actor=cast.supervisor, record=second, action=action, outcome="carried_forward")
    action.refresh_from_db()
    assert action.reviewed_in == second and action.status == "open"
    services.previous_action_review(actor=cast.supervisor, record=second, action=action, outcome="done")
    action.refresh_from_db()
    assert action.status == "done"


def test_the_next_draft_shows_the_previous_session_and_its_actions_and_reviews_one(cast, login):
    """Through the views: the draft after a signed record names the previous session's day and lists its
    open actions, and its supervisor reviews one there (the previous record is read where it is shown,
    not joined into every read of a record)."""
    first = signed_record(cast)
    action = first.actions.create(
        organisation=first.organisation, description="Book phonics training", owner=cast.supervisee,
        due_date=timezone.localdate() + timedelta(days=3),
    )  # fmt: skip
    second = services.record_start(actor=cast.supervisor, session=held_session(cast, days_ago=1))
    client = login(cast.supervisor)
    page = client.get(reverse("records:record-detail", args=[second.code])).content.decode()
    day = timezone.localtime(first.session.starts_at).strftime("%a %-d %b %Y")
    assert f"previous session ({day})" in page
    assert "Book phonics training" in page
    url = reverse("records:previous-action-review", args=[second.code, action.code])
    client.post(url, {"outcome": "done"})
    action.refresh_from_db()
    assert action.status == "done" and action.reviewed_in == second
    # Another record's action is not this draft's to review.
    other = signed_record(cast).actions.create(
        organisation=first.organisation, description="Not this one", owner=cast.supervisee,
        due_date=timezone.localdate() + timedelta(days=3),
    )  # fmt: skip
    elsewhere = reverse("records:previous-action-review", args=[second.code, other.code])
    response = client.post(elsewhere, {"outcome": "done"})
    other.refresh_from_db()
    assert response.status_code == 404 and other.status == "open"


def test_significant_informal_notes_are_marked_revisited(cast):
    note = supervision_services.note_add(
        actor=cast.supervisor, supervisee=cast.supervisee, occurred_on=timezone.localdate() - timedelta(days=5),
        summary="Upset after a complaint", significant=True,
    )  # fmt: skip
    session = held_session(cast, days_ago=1)
    services.record_start(actor=cast.supervisor, session=session)
    note.refresh_from_db()
    assert note.revisited_in == session
