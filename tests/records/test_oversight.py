"""Oversight of records (DESIGN.md section 6): a head or DSL of the setting sees a record's metadata,
and its notes only after giving a reason, which the people in the session see; an auditor reads signed
records inside a live grant given by an organisation admin (a guardian object permission), and nothing
outside it or after it; organisation admins never read the notes."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import remove_perm

from accounts.middleware import get_request_staff
from accounts.models import AuditEvent, Role
from records import services
from records.access import get_record_for_user, live_grants_for, records_in_grant
from records.models import AuditorGrant, RecordAccess
from records.oversight import auditor_grant_create, auditor_grant_revoke, record_access_grant
from supervision.slots import LONDON
from tests.factories import StaffFactory

from .helpers import approve_grant, signed_record, written_record

pytestmark = pytest.mark.django_db

NOW = "2025-11-12 09:00 +0000"
TODAY = date(2025, 11, 12)
NARRATIVE = "Quetzalcoatl"  # a word only the record's notes hold
REASON = "Safeguarding concern raised by the class teacher about a child in Year 2"
PURPOSE = "Ofsted inspection, November 2025"


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def with_narrative(record):
    """Put the narrative word in the first section, as the supervisor wrote it."""
    section = record.sections.order_by("template_section__order").first()
    type(section).objects.filter(pk=section.pk).update(discussion=f"We talked about {NARRATIVE}.")
    return record


@pytest.fixture
def draft(cast):
    """A draft of the primary school's pair, with a safeguarding decision and a flag."""
    record = with_narrative(written_record(cast))
    services.decision_add(
        actor=cast.supervisor, record=record, child_reference="CP-0042", decision="Refer to early help",
        key_person=cast.dsl,
    )  # fmt: skip
    services.flag_raise(actor=cast.supervisor, record=record, kind="harm", note="See the DSL")
    return record


@pytest.fixture
def signed(cast):
    """A signed record of the primary school's pair, held on Mon 10 Nov 2025."""
    return with_narrative(signed_record(cast))


def head_of_secondary(cast):
    return StaffFactory(organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.HEAD, cast.secondary)])


def page(client, record):
    response = client.get(reverse("records:record-detail", args=[record.code]))
    return response.status_code, " ".join(response.content.decode().split())


def give_reason(client, record, reason=REASON):
    return client.post(reverse("records:record-access", args=[record.code]), {"reason": reason})


def grant(cast, *, settings=None, covers_from=date(2025, 9, 1), covers_until=date(2025, 12, 19), days=7):
    """Asked for by the organisation admin and approved by a second person (issue 11: a grant opens
    nothing until then)."""
    made = auditor_grant_create(
        actor=cast.org_admin,
        auditor=cast.auditor,
        settings=settings or [cast.primary],
        covers_from=covers_from,
        covers_until=covers_until,
        expires_at=timezone.now() + timedelta(days=days),
        purpose=PURPOSE,
    )
    return approve_grant(cast, made)


# --- Heads and DSLs: metadata, then the notes with a reason ---------------------------------------------


@pytest.mark.parametrize("person", ["head", "dsl"])
def test_a_head_or_dsl_without_a_reason_sees_the_metadata_only(cast, login, draft, person):
    status, html = page(login(getattr(cast, person)), draft)
    assert status == 200
    assert NARRATIVE not in html
    assert "Sid Supervisee" in html and "Sam Supervisor" in html and "Mon 10 Nov 2025" in html
    assert "Draft" in html and "6 sections" in html
    assert "CP-0042" in html and "Refer to early help" in html  # safeguarding decisions and flags: in scope
    assert "See the DSL" in html
    assert reverse("records:record-access", args=[draft.code]) in html
    assert "Who has read this record" not in html
    assert not AuditEvent.objects.filter(action__in=["record.viewed", "record.reasoned_access"]).exists()


def test_the_session_page_leads_a_head_or_dsl_to_the_records_metadata(cast, login, draft):
    page = login(cast.dsl).get(f"/sessions/{draft.session.code}/").content.decode()
    assert f'href="/records/{draft.code}/"' in page and "The record: draft" in page
    assert "Add an agenda item" not in page


def test_the_reason_form_asks_why(cast, login, draft):
    response = login(cast.dsl).get(reverse("records:record-access", args=[draft.code]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Why do you need to read this record?" in html and NARRATIVE not in html


@pytest.mark.parametrize("reason", ["", "   ", "Because"])
def test_a_reason_is_required_and_at_least_ten_characters(cast, login, draft, reason):
    response = give_reason(login(cast.head), draft, reason)
    assert response.status_code == 200
    assert "is-invalid" in response.content.decode()
    assert not RecordAccess.objects.exists()
    assert not AuditEvent.objects.filter(action="record.reasoned_access").exists()


@pytest.mark.parametrize("person", ["head", "dsl"])
def test_after_giving_a_reason_a_head_or_dsl_reads_the_notes_and_it_is_logged(cast, login, draft, person):
    leader = getattr(cast, person)
    client = login(leader)
    response = give_reason(client, draft)
    assert response.status_code == 302 and response["Location"] == reverse("records:record-detail", args=[draft.code])
    access = RecordAccess.objects.get()
    assert access.viewer == leader and access.reason == REASON
    assert access.expires_at == timezone.now() + timedelta(hours=2)
    event = AuditEvent.objects.get(action="record.reasoned_access")
    assert event.actor == leader.user and event.object_code == str(draft.code) and event.details["reason"] == REASON

    status, html = page(client, draft)
    assert status == 200 and NARRATIVE in html
    assert f"You are reading this record because:</strong> {REASON}" in html
    # Read-only: no form of the record's own.
    assert reverse("records:record-submit", args=[draft.code]) not in html
    assert "<textarea" not in html
    viewed = AuditEvent.objects.get(action="record.viewed")
    assert viewed.actor == leader.user and viewed.details["reason"] == REASON
    page(client, draft)
    assert AuditEvent.objects.filter(action="record.viewed").count() == 2


def test_the_supervisee_and_the_supervisor_see_who_read_the_record_and_why(cast, login, draft):
    give_reason(login(cast.dsl), draft)
    for person in (cast.supervisee, cast.supervisor):
        status, html = page(login(person), draft)
        assert status == 200
        assert "Who has read this record" in html
        assert "Dev Dsl" in html and "Designated safeguarding lead" in html and REASON in html
        assert "Wed 12 Nov 2025, 09:00" in html


def test_the_supervisee_is_told_when_nobody_has_read_it(cast, login, draft):
    _status, html = page(login(cast.supervisee), draft)
    assert "Nobody outside the session has read it." in html


def test_the_reason_opens_the_notes_for_two_hours(cast, login, draft, _now):
    client = login(cast.head)
    give_reason(client, draft)
    _now.shift(timedelta(hours=1, minutes=59))
    assert NARRATIVE in page(client, draft)[1]
    _now.shift(timedelta(minutes=2))
    status, html = page(client, draft)
    assert status == 200 and NARRATIVE not in html


def test_a_reader_changes_nothing_and_gets_no_pdf(cast, login, signed):
    client = login(cast.head)
    give_reason(client, signed)
    section = signed.sections.first()
    assert client.post(reverse("records:addendum-add", args=[signed.code]), {"text": "x"}).status_code == 403
    assert client.post(reverse("records:record-sign", args=[signed.code]), {}).status_code == 403
    url = reverse("records:section-save", args=[signed.code, section.id])
    assert client.post(url, {"discussion": "x"}).status_code == 403
    assert client.get(reverse("records:record-pdf", args=[signed.code])).status_code == 404


def test_the_people_in_the_session_go_straight_to_the_record(cast, login, draft):
    for person in (cast.supervisee, cast.supervisor):
        response = give_reason(login(person), draft)
        assert response.status_code == 302
        assert response["Location"] == reverse("records:record-detail", args=[draft.code])
    assert not RecordAccess.objects.exists()


def test_a_head_of_another_setting_gets_404(cast, login, draft):
    other_head = head_of_secondary(cast)
    client = login(other_head)
    assert page(client, draft)[0] == 404
    assert client.get(reverse("records:record-access", args=[draft.code])).status_code == 404
    assert give_reason(client, draft).status_code == 404
    assert not RecordAccess.objects.exists()


def test_an_organisation_wide_dsl_oversees_every_setting(cast, login):
    record = with_narrative(written_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2))
    trust_dsl = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.DSL, None)])
    status, html = page(login(trust_dsl), record)
    assert status == 200 and NARRATIVE not in html and "Sal Supervisee" in html


def test_an_organisation_admin_never_reads_a_record(cast, login, signed):
    client = login(cast.org_admin)
    assert page(client, signed)[0] == 404
    assert client.get(reverse("records:record-access", args=[signed.code])).status_code == 404
    assert give_reason(client, signed).status_code == 404
    assert client.get(reverse("records:record-pdf", args=[signed.code])).status_code == 404


def test_the_outsider_gets_404(cast, login, draft):
    client = login(cast.outsider)  # head, DSL, auditor and admin of another organisation
    assert page(client, draft)[0] == 404
    assert give_reason(client, draft).status_code == 404


def test_the_service_refuses_people_in_the_session_and_strangers(cast, draft):
    from django.core.exceptions import PermissionDenied

    for person in (cast.supervisor, cast.supervisee, cast.org_admin, cast.auditor, cast.outsider):
        with pytest.raises(PermissionDenied):
            record_access_grant(viewer=person, record=draft, reason=REASON)
    assert not RecordAccess.objects.exists()


# --- Auditors ------------------------------------------------------------------------------------------


def test_creating_a_grant_assigns_the_guardian_permission_and_revoking_removes_it(cast):
    g = grant(cast)
    assert cast.auditor.user.has_perm("records.use_auditorgrant", g)
    assert not cast.supervisor.user.has_perm("records.use_auditorgrant", g)
    assert AuditEvent.objects.get(action="auditor_grant.created").details["purpose"] == PURPOSE
    auditor_grant_revoke(actor=cast.org_admin, grant=g)
    g.refresh_from_db()
    assert g.revoked_at is not None
    user = type(cast.auditor.user).objects.get(pk=cast.auditor.user.pk)  # a fresh permission cache
    assert not user.has_perm("records.use_auditorgrant", g)
    assert AuditEvent.objects.filter(action="auditor_grant.revoked").count() == 1


def test_an_auditor_inside_the_grant_reads_a_signed_record_and_every_view_is_logged(cast, login, signed):
    grant(cast)
    client = login(cast.auditor)
    status, html = page(client, signed)
    assert status == 200 and NARRATIVE in html
    assert f"Audit access, read-only:</strong> {PURPOSE}" in html
    assert "<textarea" not in html and reverse("records:addendum-add", args=[signed.code]) not in html
    page(client, signed)
    events = AuditEvent.objects.filter(action="record.viewed_by_auditor", object_code=str(signed.code))
    assert events.count() == 2 and {e.actor for e in events} == {cast.auditor.user}
    # The supervisee sees it, with the purpose of the audit.
    _status, html = page(login(cast.supervisee), signed)
    assert "Aud Auditor" in html and "Auditor" in html and PURPOSE in html


def test_an_auditor_changes_nothing(cast, login, signed):
    grant(cast)
    client = login(cast.auditor)
    assert client.post(reverse("records:addendum-add", args=[signed.code]), {"text": "x"}).status_code == 403
    assert client.post(reverse("records:record-sign", args=[signed.code]), {}).status_code == 403
    assert client.post(reverse("records:record-comment", args=[signed.code]), {"text": "x"}).status_code == 403


def test_an_unsigned_record_inside_the_grant_is_404(cast, login, draft):
    grant(cast)
    assert page(login(cast.auditor), draft)[0] == 404


def test_a_record_of_another_setting_is_404(cast, login):
    record = signed_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)
    grant(cast)
    assert page(login(cast.auditor), record)[0] == 404


@pytest.mark.parametrize(
    ("covers_from", "covers_until", "visible"),
    [
        (date(2025, 11, 10), date(2025, 11, 10), True),  # the session's own day, both ends inclusive
        (date(2025, 11, 11), date(2025, 12, 19), False),
        (date(2025, 9, 1), date(2025, 11, 9), False),
    ],
)
def test_the_grant_covers_its_dates_only(cast, login, signed, covers_from, covers_until, visible):
    grant(cast, covers_from=covers_from, covers_until=covers_until)
    assert page(login(cast.auditor), signed)[0] == (200 if visible else 404)


def test_the_session_day_is_the_day_in_london(cast, login):
    # 00:30 in London on 1 Sep 2025 is still 31 Aug in UTC.
    signed = signed_record(cast, days_ago=(TODAY - date(2025, 9, 1)).days)
    session = signed.session
    session.starts_at = datetime(2025, 9, 1, 0, 30, tzinfo=LONDON)
    session.ends_at = session.starts_at + timedelta(minutes=30)
    session.save(update_fields=["starts_at", "ends_at"])
    grant(cast, covers_from=date(2025, 9, 1), covers_until=date(2025, 9, 1))
    assert page(login(cast.auditor), signed)[0] == 200


def test_after_expiry_the_auditor_gets_404(cast, login, signed, _now):
    grant(cast, days=1)
    client = login(cast.auditor)
    assert page(client, signed)[0] == 200
    _now.shift(timedelta(days=1, seconds=1))
    assert page(login(cast.auditor), signed)[0] == 404  # signed in again: the session cookie ages too
    assert not live_grants_for(get_request_staff(cast.auditor.user)).exists()


def test_after_revoking_the_auditor_gets_404(cast, login, signed):
    g = grant(cast)
    assert page(login(cast.auditor), signed)[0] == 200
    response = login(cast.org_admin).post(reverse("records:grant-revoke", args=[g.code]))
    assert response.status_code == 302
    assert page(login(cast.auditor), signed)[0] == 404


def test_without_the_guardian_permission_a_grant_opens_nothing(cast, login, signed):
    g = grant(cast)
    remove_perm("records.use_auditorgrant", cast.auditor.user, g)
    assert page(login(cast.auditor), signed)[0] == 404


def test_a_grant_opens_nothing_to_someone_who_lost_the_auditor_role(cast, login, signed):
    grant(cast)
    cast.auditor.role_assignments.all().delete()
    assert page(login(cast.auditor), signed)[0] == 404


def test_a_grant_for_another_auditor_opens_nothing(cast, login, signed):
    grant(cast)
    other = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.AUDITOR, None)])
    assert page(login(other), signed)[0] == 404


@pytest.fixture
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""


def test_the_auditor_downloads_the_signed_pdf_and_it_is_logged(cast, login, signed, private_root):
    from records.pdf import store_record_pdf

    store_record_pdf(signed.id)
    url = reverse("records:record-pdf", args=[signed.code])
    assert login(cast.auditor).get(url).status_code == 404
    g = grant(cast)
    response = login(cast.auditor).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    event = AuditEvent.objects.get(action="record.pdf_downloaded")
    assert event.actor == cast.auditor.user and event.details["capacity"] == "auditor"
    assert event.details["grant"] == str(g.code)
    _status, html = page(login(cast.supervisee), signed)
    assert "downloaded the signed PDF" in html


# --- The grant pages -----------------------------------------------------------------------------------


def form_data(cast, **changes):
    data = {
        "auditor": cast.auditor.id,
        "settings": [cast.primary.id],
        "covers_from": "2025-09-01",
        "covers_until": "2025-12-19",
        "expires_at": "2025-12-31T17:00",
        "purpose": PURPOSE,
    }
    return {**data, **changes}


def test_an_organisation_admin_gives_an_auditor_access(cast, login):
    client = login(cast.org_admin)
    assert client.get(reverse("records:grant-add")).status_code == 200
    response = client.post(reverse("records:grant-add"), form_data(cast))
    assert response.status_code == 302 and response["Location"] == reverse("records:grant-list")
    g = AuditorGrant.objects.get()
    assert g.auditor == cast.auditor and list(g.settings.all()) == [cast.primary]
    assert g.covers_from == date(2025, 9, 1) and g.covers_until == date(2025, 12, 19)
    assert g.expires_at == datetime(2025, 12, 31, 17, 0, tzinfo=LONDON)
    assert g.granted_by == cast.org_admin and g.purpose == PURPOSE
    # Issue 11: the permission comes with a second person's approval, not before.
    assert not cast.auditor.user.has_perm("records.use_auditorgrant", g)
    approve_grant(cast, g)
    assert AuditorGrant.objects.get().approved_by == cast.head
    assert cast.auditor.user.has_perm("records.use_auditorgrant", g)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"covers_until": "2025-08-31"}, "covers_until"),
        ({"expires_at": "2025-11-12T08:59"}, "expires_at"),
        ({"expires_at": ""}, "expires_at"),
        ({"settings": []}, "settings"),
        ({"purpose": ""}, "purpose"),
        ({"auditor": ""}, "auditor"),
    ],
)
def test_the_grant_form_shows_errors_next_to_fields_and_saves_nothing(cast, login, changes, field):
    response = login(cast.org_admin).post(reverse("records:grant-add"), form_data(cast, **changes))
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert f'id="error_1_id_{field}"' in response.content.decode()
    assert not AuditorGrant.objects.exists()
    assert not AuditEvent.objects.filter(action="auditor_grant.created").exists()


def test_only_staff_with_the_auditor_role_can_be_chosen(cast, login):
    response = login(cast.org_admin).post(reverse("records:grant-add"), form_data(cast, auditor=cast.supervisor.id))
    assert response.status_code == 200 and list(response.context["form"].errors) == ["auditor"]
    choices = [value for value, _label in response.context["form"].fields["auditor"].choices if value]
    assert [c.value for c in choices] == [cast.auditor.id]
    assert not AuditorGrant.objects.exists()


def test_the_service_checks_the_grant_too(cast):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        auditor_grant_create(
            actor=cast.org_admin, auditor=cast.supervisee, settings=[cast.other_setting],
            covers_from=date(2025, 12, 1), covers_until=date(2025, 11, 1), expires_at=timezone.now(), purpose="",
        )  # fmt: skip
    assert set(error.value.message_dict) == {"auditor", "settings", "covers_until", "expires_at", "purpose"}
    assert not AuditorGrant.objects.exists()


def test_the_admin_lists_every_grant_live_ended_and_revoked(cast, login, _now):
    ended = grant(cast, days=1)
    revoked = grant(cast)
    auditor_grant_revoke(actor=cast.org_admin, grant=revoked)
    grant(cast, days=30)
    _now.shift(timedelta(days=2))
    html = " ".join(login(cast.org_admin).get(reverse("records:grant-list")).content.decode().split())
    assert html.count("given by Ada Admin") == 3
    assert "Ended" in html and "Revoked" in html and "Live" in html
    assert html.count(reverse("records:grant-revoke", args=[ended.code])) == 0
    assert html.count("/revoke/") == 1


def test_the_auditor_lists_their_live_grants_and_the_records_they_cover(cast, login, signed, draft, _now):
    other = signed_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)
    g = grant(cast)
    expired = grant(cast, settings=[cast.secondary], days=1)
    _now.shift(timedelta(days=2))
    client = login(cast.auditor)
    html = client.get(reverse("records:grant-list"), {"grant": g.code}).content.decode()
    assert reverse("records:record-detail", args=[signed.code]) in html
    assert reverse("records:record-detail", args=[draft.code]) not in html  # not signed
    assert reverse("records:record-detail", args=[other.code]) not in html  # another setting
    assert str(expired.code) not in html
    assert "Signed records covered: 1" in html
    # An expired grant's records are not listed, whatever the address says.
    html = client.get(reverse("records:grant-list"), {"grant": expired.code}).content.decode()
    assert reverse("records:record-detail", args=[other.code]) not in html


def test_the_auditor_with_no_grant_is_told_what_to_do(cast, login):
    html = login(cast.auditor).get(reverse("records:grant-list")).content.decode()
    assert "You have no access to records at the moment" in html


def test_the_covered_list_costs_the_same_queries_for_few_and_many_records(cast, login):
    g = grant(cast)
    client = login(cast.auditor)
    url = reverse("records:grant-list")

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, {"grant": g.code}).status_code == 200
        return len(queries)

    signed_record(cast, days_ago=3)
    few = count()
    for days in (4, 5, 6):
        signed_record(cast, days_ago=days)
    assert count() == few


@pytest.mark.parametrize("person", ["supervisor", "supervisee", "head", "dsl"])
def test_the_grant_pages_are_for_admins_and_auditors(cast, login, person):
    client = login(getattr(cast, person))
    # Issue 11: heads and DSLs list the grants of their settings, to approve them; they still add none.
    expected = 200 if person in ("head", "dsl") else 403
    assert client.get(reverse("records:grant-list")).status_code == expected
    assert client.get(reverse("records:grant-add")).status_code == 403


def test_an_auditor_cannot_give_or_revoke_access(cast, login):
    g = grant(cast)
    client = login(cast.auditor)
    assert client.get(reverse("records:grant-add")).status_code == 403
    assert client.post(reverse("records:grant-revoke", args=[g.code])).status_code == 403
    assert login(cast.org_admin).get(reverse("records:grant-revoke", args=[g.code])).status_code == 405
    g.refresh_from_db()
    assert g.revoked_at is None


def test_revoking_twice_says_so(cast, login):
    g = grant(cast)
    client = login(cast.org_admin)
    client.post(reverse("records:grant-revoke", args=[g.code]))
    response = client.post(reverse("records:grant-revoke", args=[g.code]), follow=True)
    assert "already revoked" in response.content.decode()
    assert AuditEvent.objects.filter(action="auditor_grant.revoked").count() == 1


def test_another_organisations_grant_is_404(cast, login):
    g = grant(cast)
    assert login(cast.outsider).post(reverse("records:grant-revoke", args=[g.code])).status_code == 404


# --- Helpers for other pages ---------------------------------------------------------------------------


def test_records_in_grant_are_the_signed_records_of_its_settings_and_dates(cast, signed, draft):
    other = signed_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)
    old = signed_record(cast, days_ago=200)
    g = grant(cast)
    assert list(records_in_grant(g)) == [signed]
    both = grant(cast, settings=[cast.primary, cast.secondary], covers_from=date(2025, 1, 1))
    assert set(records_in_grant(both)) == {signed, other, old}


def test_live_grants_for_leave_out_revoked_expired_and_others(cast):
    live = grant(cast)
    auditor_grant_revoke(actor=cast.org_admin, grant=grant(cast))
    AuditorGrant.objects.filter(pk=grant(cast).pk).update(expires_at=timezone.now())
    auditor = get_request_staff(cast.auditor.user)
    assert list(live_grants_for(auditor)) == [live]
    assert not live_grants_for(get_request_staff(cast.org_admin.user)).exists()


# --- One query for the capacity check -------------------------------------------------------------------


def test_the_capacity_check_costs_one_query_whoever_asks(cast, signed, django_assert_num_queries):
    grant(cast)
    record_access_grant(viewer=cast.dsl, record=signed, reason=REASON)
    other_head = head_of_secondary(cast)
    expected = {
        cast.supervisor: "supervisor",
        cast.supervisee: "supervisee",
        cast.head: "overseer",
        cast.dsl: "reader",
        cast.auditor: "auditor",
        cast.org_admin: None,
        other_head: None,
        cast.supervisee2: None,
        cast.outsider: None,
    }
    for person, capacity in expected.items():
        staff = get_request_staff(person.user)  # as the middleware loads it: roles prefetched
        with django_assert_num_queries(1):
            if capacity is None:
                with pytest.raises(Http404):
                    get_record_for_user(staff, signed.code)
            else:
                assert get_record_for_user(staff, signed.code)[1] == capacity


def test_the_who_has_read_panel_costs_the_same_queries_for_one_reading_and_many(cast, login, signed, _now):
    grant(cast)
    client = login(cast.supervisee)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("records:record-detail", args=[signed.code])).status_code == 200
        return len(queries)

    record_access_grant(viewer=cast.head, record=signed, reason=REASON)
    one = count()
    for minutes in (130, 260, 390):
        _now.shift(timedelta(minutes=minutes))
        record_access_grant(viewer=cast.dsl, record=signed, reason=REASON)
        page(login(cast.auditor), signed)
    client = login(cast.supervisee)
    html = page(client, signed)[1]
    assert html.count(REASON) == 4 and html.count(PURPOSE) == 3
    assert count() == one
