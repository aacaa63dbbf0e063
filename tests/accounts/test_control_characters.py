"""Control characters in what people type: one validator for single-line text (names, child
references, venues, group names, agenda items), line breaks kept in text areas only, the CSV imports
checked alike, and email subjects always one line without a child reference."""

import csv
import io
from datetime import date

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st

from accounts import staff_import
from accounts.emails import one_line
from accounts.models import StaffMember
from accounts.validators import (
    CONTROL,
    LINE_BREAK_MESSAGE,
    MULTI_LINE_FORBIDDEN,
    SINGLE_LINE_FORBIDDEN,
    validate_multi_line,
    validate_single_line,
)
from records import notifications
from records import services as record_services
from records.models import SafeguardingDecision
from supervision import services as supervision_services
from supervision.models import ClosureDay, Session, SupervisionGroup
from supervision.reminders import _decision_due

from ..records.helpers import written_record
from ..supervision.helpers import at, signed_contract
from .test_staff_views import staff_form_data

CONTROLS = st.sampled_from(sorted(CONTROL))


def accepted(validator, value) -> bool:
    try:
        validator(value)
    except ValidationError:
        return False
    return True


# --- The validator --------------------------------------------------------------------------------------


@given(st.text())
def test_single_line_text_is_refused_exactly_when_it_holds_a_control_character_other_than_tab(value):
    assert accepted(validate_single_line, value) == (not any(ch in SINGLE_LINE_FORBIDDEN for ch in value))


@given(st.text())
def test_multi_line_text_is_refused_exactly_when_it_holds_a_control_character_other_than_tab_or_a_line_break(value):
    assert accepted(validate_multi_line, value) == (not any(ch in MULTI_LINE_FORBIDDEN for ch in value))


@given(st.text(), CONTROLS, st.text())
def test_a_control_character_anywhere_in_single_line_text_is_refused_with_a_message(before, control, after):
    value = before + control + after
    if control == "\t" and not any(ch in SINGLE_LINE_FORBIDDEN for ch in before + after):
        assert accepted(validate_single_line, value)
        return
    with pytest.raises(ValidationError) as raised:
        validate_single_line(value)
    assert raised.value.messages[0] in (LINE_BREAK_MESSAGE,) or "control character (U+" in raised.value.messages[0]


@given(st.sampled_from(["\n", "\r", "\r\n", "\u2028", "\x85"]))
def test_a_line_break_in_single_line_text_says_keep_it_to_one_line(line_break):
    with pytest.raises(ValidationError, match="Keep this to one line"):
        validate_single_line(f"CP-0042{line_break}Bcc: someone@example.org")


@given(st.text())
def test_a_subject_is_always_one_line_without_control_characters(value):
    subject = one_line(value)
    assert not any(ch in CONTROL for ch in subject)
    assert subject == subject.strip() and "  " not in subject
    assert one_line(subject) == subject


# --- Through the pages ------------------------------------------------------------------------------------


def test_a_name_with_a_line_break_is_refused_beside_the_field_and_nothing_is_saved(cast, login):
    client = login(cast.org_admin)
    before = StaffMember.objects.count()
    response = client.post("/staff/add/", staff_form_data(cast, full_name="Nia\nNewcomer"))
    assert response.status_code == 200
    assert response.context["form"].errors["full_name"] == [LINE_BREAK_MESSAGE]
    assert LINE_BREAK_MESSAGE in response.content.decode()
    assert StaffMember.objects.count() == before


def test_a_job_title_with_a_control_character_is_refused(cast, login):
    response = login(cast.org_admin).post("/staff/add/", staff_form_data(cast, job_title="Teacher\x07"))
    assert response.context["form"].errors["job_title"] == ["Remove the invisible control character (U+0007)."]
    assert not StaffMember.objects.filter(user__email="nia.newcomer@cast.example").exists()


@time_machine.travel("2025-11-12 09:00 +0000", tick=False)
def test_a_child_reference_with_a_line_break_is_refused_and_no_decision_is_saved(cast, login):
    record = written_record(cast)
    client = login(cast.supervisor)
    response = client.post(
        f"/records/{record.code}/decisions/",
        {"child_reference": "CP-0042\r\nBcc: someone@example.org", "decision": "Refer", "key_person": cast.dsl.pk},
        follow=True,
    )
    assert "The decision was not added: Keep this to one line: remove the line break." in response.content.decode()
    assert not SafeguardingDecision.objects.filter(record=record).exists()


@time_machine.travel("2025-11-03 08:00 +0000")
def test_a_venue_with_a_line_break_is_refused_and_the_session_keeps_its_place(cast, login):
    contract = signed_contract(cast.supervisee, cast.supervisor)
    session = supervision_services.session_book(
        actor=cast.supervisor, contract=contract, starts_at=at(date(2025, 11, 10), 10), minutes=30
    )
    response = login(cast.supervisor).post(
        f"/sessions/{session.code}/reschedule/",
        {"date": "2025-11-11", "time": "11:00", "minutes": 30, "venue": "Library\nLOCATION:elsewhere"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["venue"] == [LINE_BREAK_MESSAGE]
    session.refresh_from_db()
    assert session.sequence == 0 and session.venue != "Library\nLOCATION:elsewhere"
    # An agenda item is one line too; the text areas of the record keep their line breaks.
    response = login(cast.supervisee).post(f"/sessions/{session.code}/agenda/", {"text": "Workload\nand more"})
    assert not session.agenda_items.exists()
    assert Session.objects.get(pk=session.pk).venue == session.venue


def test_a_group_name_with_a_line_break_is_refused_and_no_group_is_made(cast, login):
    response = login(cast.supervisor).post(
        "/groups/new/",
        {
            "name": "Early years\nteam",
            "setting": cast.primary.pk,
            "supervisor": cast.supervisor.pk,
            "members": [cast.supervisee.pk],
            "confidentiality_boundaries": "What is said here\nstays here.",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["name"] == [LINE_BREAK_MESSAGE]
    # The text area keeps its line break: only the name is refused.
    assert "confidentiality_boundaries" not in response.context["form"].errors
    assert not SupervisionGroup.objects.exists()


def test_an_imported_name_with_a_line_break_is_a_problem_on_its_row(cast, login):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(staff_import.COLUMNS)
    writer.writerow(["Ann", "Smith", "ann@cast.example", "", cast.primary.name, "permanent", "", "2024-09-02", "", ""])
    writer.writerow(
        ["Bo\nBcc", "Jones", "bo@cast.example", "", cast.primary.name, "permanent", "", "2024-09-02", "", ""]
    )
    upload = SimpleUploadedFile("staff.csv", out.getvalue().encode(), "text/csv")
    response = login(cast.org_admin).post("/staff/import/", {"file": upload})
    assert [(p.row, p.column, p.message) for p in response.context["result"].problems] == [
        (3, "first name", LINE_BREAK_MESSAGE)
    ]
    assert not StaffMember.objects.filter(user__email__in=["ann@cast.example", "bo@cast.example"]).exists()


def test_an_imported_inset_day_name_with_a_control_character_is_a_problem(cast, login):
    text = 'academic year,term,half,starts,ends,setting,name\n2025/26,INSET,,2026-01-05,,,"Training\x1b[2J"\n'
    upload = SimpleUploadedFile("calendar.csv", text.encode(), "text/csv")
    response = login(cast.org_admin).post("/calendar/terms/import/", {"file": upload})
    problems = {(p.row, p.column): p.message for p in response.context["result"].problems}
    assert problems[(2, "name")] == "Remove the invisible control character (U+001B)."
    assert not ClosureDay.objects.filter(name__startswith="Training").exists()


# --- Email subjects -----------------------------------------------------------------------------------------


@time_machine.travel("2025-11-12 09:00 +0000", tick=False)
def test_the_safeguarding_decision_email_and_reminder_subjects_carry_no_child_reference(cast):
    record = written_record(cast)
    decision = record_services.decision_add(
        actor=cast.supervisor, record=record, child_reference="CP-0042", decision="Refer", key_person=cast.dsl
    )
    mail.outbox.clear()
    assert notifications.send_decision_notices(record.id) == 1
    (message,) = mail.outbox
    assert "CP-0042" not in message.subject
    assert message.subject == "A safeguarding decision to record on a child's file"
    assert "CP-0042" in message.body  # the key person still learns which child, inside the email
    # The reminder's title is its email's subject.
    assert "CP-0042" not in _decision_due(decision).title


@time_machine.travel("2025-11-12 09:00 +0000", tick=False)
def test_a_line_break_stored_before_the_validator_does_not_stop_the_email(cast):
    """Data saved before this change may hold a line break: the subject is made one line, so the email
    still goes (Django refuses a header with a line break)."""
    cast.primary.name = "Cast\nPrimary"
    cast.primary.save(update_fields=["name"])
    record = written_record(cast)
    decision = record_services.decision_add(
        actor=cast.supervisor, record=record, child_reference="CP-0042", decision="Refer", key_person=cast.dsl
    )
    SafeguardingDecision.objects.filter(pk=decision.pk).update(child_reference="CP-\n0042")
    mail.outbox.clear()
    assert notifications.send_decision_notices(record.id) == 1
    due = _decision_due(SafeguardingDecision.objects.select_related("record__session__setting").get(pk=decision.pk))
    assert one_line(due.title) == "Record a safeguarding decision on the child's file (Cast Primary)"
