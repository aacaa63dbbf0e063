"""Safeguarding follow-up: the key person confirms a decision is on the child's file; a confidentiality
flag emails the setting's DSL and head once each; their safeguarding page lists open flags and
unconfirmed decisions (never the notes); resolving a flag."""

from datetime import date

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent, Role
from records import follow_up, notifications, services
from records.models import ConfidentialityFlag, FlagKind, SafeguardingDecision
from tests.factories import StaffFactory

from .helpers import sign_off, signed_record, written_record

pytestmark = pytest.mark.django_db

TODAY = date(2025, 11, 12)
NARRATIVE = "Quetzalcoatl"  # a word only the record's notes hold


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2025-11-12 09:00 +0000", tick=False):
        yield


@pytest.fixture
def record(cast):
    record = written_record(cast)
    section = record.sections.first()
    services.section_save(actor=cast.supervisor, section=section, discussion=f"We talked about {NARRATIVE}.")
    return record


def decide(record, key_person, child="CP-0042", text="Refer to early help and tell the family worker"):
    return services.decision_add(
        actor=record.supervisor, record=record, child_reference=child, decision=text, key_person=key_person
    )


def signed_decision(record, key_person, child):
    """A decision about `child` in `record`, which is then signed off (its decisions are then listed)."""
    decision = decide(record, key_person, child=child)
    sign_off(record)
    return decision


def trust_wide_dsl(cast):
    """A DSL of the whole organisation (the role with no setting), working in the secondary setting."""
    return StaffFactory(organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.DSL, None)])


def raise_flag(record, capture, kind=FlagKind.HARM, note="Spoke about a risk to a colleague"):
    with capture(execute=True):
        return services.flag_raise(actor=record.supervisor, record=record, kind=kind, note=note)


# --- The key person's confirmation --------------------------------------------------------------------


def test_the_key_person_confirms_the_decision_is_on_the_childs_file(cast, login, record):
    decision = decide(record, cast.dsl)
    url = f"/records/decisions/{decision.code}/confirm/"
    client = login(cast.dsl)
    html = client.get(url).content.decode()
    assert "CP-0042" in html and "Refer to early help and tell the family worker" in html
    assert "Sam Supervisor" in html and "Confirm it is on the child&#x27;s file" in html
    assert NARRATIVE not in html  # the decision only, never the rest of the record
    response = client.post(url, {"recorded_on": "2025-11-11", "external_reference": "CPOMS 88123"})
    assert response.status_code == 302 and response["Location"] == "/actions/"
    decision.refresh_from_db()
    assert decision.recorded_on == date(2025, 11, 11) and decision.external_reference == "CPOMS 88123"
    assert decision.confirmed_at is not None
    event = AuditEvent.objects.get(action="record.decision_confirmed")
    assert event.actor == cast.dsl.user and event.details["reference"] == "CPOMS 88123"
    confirmed = client.get(url).content.decode()
    assert "Confirmed" in confirmed and "Tue 11 Nov 2025" in confirmed and "<form" not in confirmed.split("<main")[1]


def test_a_date_in_the_future_is_refused(cast, login, record):
    decision = decide(record, cast.dsl)
    response = login(cast.dsl).post(
        f"/records/decisions/{decision.code}/confirm/", {"recorded_on": "2025-11-13", "external_reference": "X"}
    )
    assert response.status_code == 200 and "cannot be in the future" in response.content.decode()
    decision.refresh_from_db()
    assert decision.confirmed_at is None


def test_a_second_confirmation_is_refused(cast, login, record):
    decision = decide(record, cast.dsl)
    url = f"/records/decisions/{decision.code}/confirm/"
    client = login(cast.dsl)
    client.post(url, {"recorded_on": "2025-11-11", "external_reference": "first"})
    again = client.post(url, {"recorded_on": "2025-11-12", "external_reference": "second"}, follow=True)
    assert "already confirmed" in again.content.decode()
    decision.refresh_from_db()
    assert decision.external_reference == "first" and decision.recorded_on == date(2025, 11, 11)
    assert AuditEvent.objects.filter(action="record.decision_confirmed").count() == 1


def test_only_the_key_person_confirms_and_the_supervisor_only_reads(cast, login, record):
    decision = decide(record, cast.dsl)
    url = f"/records/decisions/{decision.code}/confirm/"
    for person in (cast.supervisee, cast.head, cast.supervisee2, cast.supervisor2, cast.org_admin, cast.outsider):
        client = login(person)
        assert client.get(url).status_code == 404, person
        assert client.post(url, {"recorded_on": "2025-11-11"}).status_code == 404, person
    supervisor = login(cast.supervisor)
    page = supervisor.get(url)
    assert page.status_code == 200 and "has not yet confirmed" in page.content.decode()
    assert 'name="recorded_on"' not in page.content.decode()
    assert supervisor.post(url, {"recorded_on": "2025-11-11"}).status_code == 403
    decision.refresh_from_db()
    assert decision.confirmed_at is None


def test_the_key_person_is_emailed_once_when_the_record_is_signed(cast, record):
    decision = decide(record, cast.dsl)
    signed = signed_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)
    assert notifications.send_decision_notices(signed.id) == 0  # no decision there
    mail.outbox.clear()
    assert notifications.send_decision_notices(record.id) == 1
    assert notifications.send_decision_notices(record.id) == 0
    (message,) = mail.outbox
    # Issue 13: the child reference is in the body, never the subject.
    assert message.to == [cast.dsl.user.email] and "CP-0042" not in message.subject and "CP-0042" in message.body
    assert f"/records/decisions/{decision.code}/confirm/" in message.body
    assert "Refer to early help" not in message.body and NARRATIVE not in message.body


# --- Flag notification ---------------------------------------------------------------------------------


def test_a_flag_emails_the_dsl_and_head_of_the_setting_once_each(cast, record, django_capture_on_commit_callbacks):
    other_head = StaffFactory(
        organisation=cast.organisation, user__email="head2@cast.example", settings=[cast.secondary],
        roles=[(Role.HEAD, cast.secondary)],
    )  # fmt: skip
    trust_dsl = StaffFactory(
        organisation=cast.organisation, user__email="trust-dsl@cast.example", settings=[cast.secondary],
        roles=[(Role.DSL, None)],
    )  # fmt: skip
    mail.outbox.clear()
    flag = raise_flag(record, django_capture_on_commit_callbacks)
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == sorted([cast.dsl.user.email, cast.head.user.email, trust_dsl.user.email])
    assert other_head.user.email not in recipients and cast.outsider.user.email not in recipients
    # Running again (a retry, a second worker) sends nothing new.
    assert notifications.send_flag_notice(flag.id) == 0
    assert len(mail.outbox) == 3
    events = AuditEvent.objects.filter(action="record.flag_notified")
    assert sorted(e.details["recipient"] for e in events) == sorted(
        str(p.code) for p in (cast.dsl, cast.head, trust_dsl)
    )


def test_the_flag_email_names_the_flag_and_never_the_notes(cast, record, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    raise_flag(record, django_capture_on_commit_callbacks, kind=FlagKind.CHILD_PROTECTION)
    message = next(m for m in mail.outbox if m.to == [cast.dsl.user.email])
    html = message.alternatives[0][0]
    assert message.subject == "Confidentiality flag at Cast Primary: Breach of child protection policies"
    for body in (message.body, html):
        assert "Breach of child protection policies" in body
        assert "Cast Primary" in body and "Sam Supervisor" in body
        assert "Wed 12 Nov 2025, 09:00" in body
        assert "Spoke about a risk to a colleague" in body
        assert "/records/safeguarding/" in body
        assert NARRATIVE not in body
        assert "Sid Supervisee" not in body  # who it is about stays in the product


def test_a_supervisee_who_holds_the_role_is_not_told_of_a_flag_about_them(cast, django_capture_on_commit_callbacks):
    # The DSL is supervised by the head: a flag in that record goes to the head, not to the DSL.
    record = written_record(cast, supervisee=cast.dsl, supervisor=cast.head)
    mail.outbox.clear()
    raise_flag(record, django_capture_on_commit_callbacks)
    assert [m.to for m in mail.outbox] == [[cast.head.user.email]]


# --- The safeguarding page ----------------------------------------------------------------------------


def test_the_page_lists_open_flags_and_unconfirmed_decisions_for_the_head_and_dsl(
    cast, login, record, django_capture_on_commit_callbacks
):
    raise_flag(record, django_capture_on_commit_callbacks)
    decide(record, cast.supervisee, child="CP-0042")
    confirmed = decide(record, cast.supervisee, child="CP-0099")
    services.decision_confirm(actor=cast.supervisee, decision=confirmed, recorded_on=TODAY, external_reference="")
    sign_off(record)  # the page lists the decisions of signed records (issue 16)
    for person in (cast.head, cast.dsl):
        html = login(person).get("/records/safeguarding/").content.decode()
        main = html.split("<main")[1]
        assert "Harm to self or others" in main and "Spoke about a risk to a colleague" in main
        assert "Sam Supervisor" in main and "Cast Primary" in main
        assert "CP-0042" in main and "Sid Supervisee" in main  # the key person
        assert "CP-0099" not in main  # on file already
        assert NARRATIVE not in html and "Refer to early help" not in html  # metadata only
    for person in (cast.supervisor, cast.supervisee, cast.auditor, cast.org_admin):
        assert login(person).get("/records/safeguarding/").status_code == 403, person
    assert login(cast.head).post("/records/safeguarding/").status_code == 405


def test_leaders_see_only_their_settings(cast, login, record, django_capture_on_commit_callbacks):
    raise_flag(record, django_capture_on_commit_callbacks)
    decide(record, cast.supervisee)
    other_head = StaffFactory(
        organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.HEAD, cast.secondary)]
    )
    html = login(other_head).get("/records/safeguarding/").content.decode()
    assert "No open confidentiality flags" in html and "CP-0042" not in html
    outsider = login(cast.outsider).get("/records/safeguarding/").content.decode()
    assert "Harm to self or others" not in outsider and "CP-0042" not in outsider


def test_a_leader_does_not_see_a_flag_about_themselves(cast, login, django_capture_on_commit_callbacks):
    record = written_record(cast, supervisee=cast.dsl, supervisor=cast.head)
    flag = raise_flag(record, django_capture_on_commit_callbacks)
    assert "No open confidentiality flags" in login(cast.dsl).get("/records/safeguarding/").content.decode()
    assert login(cast.dsl).post(f"/records/flags/{flag.code}/resolve/", {"resolution": "x"}).status_code == 404


def test_resolving_a_flag_takes_it_off_the_open_list(cast, login, record, django_capture_on_commit_callbacks):
    flag = raise_flag(record, django_capture_on_commit_callbacks)
    url = f"/records/flags/{flag.code}/resolve/"
    client = login(cast.head)
    empty = client.post(url, {"resolution": "  "}, follow=True)
    assert "Say what was done" in empty.content.decode()
    response = client.post(url, {"resolution": "Referred to HR; support plan agreed"})
    assert response.status_code == 302 and response["Location"] == "/records/safeguarding/"
    flag.refresh_from_db()
    assert flag.resolved_by == cast.head and flag.resolution == "Referred to HR; support plan agreed"
    event = AuditEvent.objects.get(action="record.flag_resolved")
    assert event.actor == cast.head.user and event.details == {"flag": str(flag.code), "kind": FlagKind.HARM}
    html = login(cast.dsl).get("/records/safeguarding/").content.decode()
    opened, resolved = html.split('id="flags-heading"')[1].split("Resolved in the last 30 days")
    assert "Harm to self or others" not in opened and "No open confidentiality flags" in opened
    assert "Referred to HR; support plan agreed" in resolved and "Hana Head" in resolved
    again = client.post(url, {"resolution": "again"}, follow=True)
    assert "already resolved" in again.content.decode()


def test_only_leaders_of_the_setting_resolve_a_flag(cast, login, record, django_capture_on_commit_callbacks):
    flag = raise_flag(record, django_capture_on_commit_callbacks)
    url = f"/records/flags/{flag.code}/resolve/"
    other_head = StaffFactory(
        organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.HEAD, cast.secondary)]
    )
    assert login(other_head).post(url, {"resolution": "x"}).status_code == 404
    assert login(cast.outsider).post(url, {"resolution": "x"}).status_code == 404
    for person in (cast.supervisor, cast.supervisee, cast.org_admin, cast.auditor):
        assert login(person).post(url, {"resolution": "x"}).status_code == 403, person
    assert login(cast.head).get(url).status_code == 405
    flag.refresh_from_db()
    assert flag.resolved_at is None


def _fill(cast, capture, start, stop):
    """Records each with a flag and an unconfirmed decision; one flag in four resolved."""
    for i in range(start, stop):
        record = written_record(cast, days_ago=2 + 14 * i)
        flag = raise_flag(record, capture, note=f"Note {i}")
        decide(record, cast.supervisee, child=f"CP-{i:04d}")
        sign_off(record)
        if i % 4 == 0:
            follow_up.flag_resolve(actor=cast.dsl, flag=flag, resolution=f"Resolution {i}")


def _queries(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/records/safeguarding/").status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_for_few_and_many(cast, login, django_capture_on_commit_callbacks):
    client = login(cast.head)
    _fill(cast, django_capture_on_commit_callbacks, 0, 2)
    few = _queries(client)
    _fill(cast, django_capture_on_commit_callbacks, 2, 12)
    assert ConfidentialityFlag.objects.count() == 12 and SafeguardingDecision.objects.count() == 12
    assert _queries(client) == few


# --- Issue 16: each decision links to its record, and its key person can be reminded --------------------


def test_each_decision_links_to_its_record_for_the_leaders_who_may_open_it(cast, login, record):
    decision = decide(record, cast.supervisee)
    sign_off(record)
    link = f'href="/records/{record.code}/"'
    for person in (cast.head, cast.dsl):
        client = login(person)
        main = client.get("/records/safeguarding/").content.decode().split("<main")[1]
        assert f'id="decision-{decision.code}"' in main and link in main
        assert client.get(f"/records/{record.code}/").status_code == 200  # the link opens (metadata only)
    # Someone who may not open the record gets the decision's reference, never its address.
    record.refresh_from_db()
    assert follow_up.record_url_for(cast.head, record) == f"/records/{record.code}/"
    assert follow_up.record_url_for(cast.supervisor2, record) == ""
    assert follow_up.record_url_for(cast.supervisor, record) == f"/records/{record.code}/"


def test_a_leader_reminds_the_key_person_once_a_day(cast, login, record, django_capture_on_commit_callbacks):
    from supervision.models import Notification, NotificationKind

    decision = decide(record, cast.supervisee)
    sign_off(record)
    url = f"/records/decisions/{decision.code}/remind/"
    client = login(cast.dsl)
    page = client.get("/records/safeguarding/").content.decode()
    assert f'action="{url}"' in page and "Reminded " not in page.split("<main")[1]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == f"/records/safeguarding/#decision-{decision.code}"
    (notification,) = Notification.objects.filter(recipient=cast.supervisee, object_code=str(decision.code))
    assert notification.kind == NotificationKind.DECISION_UNCONFIRMED and notification.read_at is None
    assert notification.url == f"/records/decisions/{decision.code}/confirm/"
    assert "CP-0042" in notification.body and "CP-0042" not in notification.title
    (message,) = mail.outbox
    assert message.to == [cast.supervisee.user.email] and "CP-0042" not in message.subject
    assert f"/records/decisions/{decision.code}/confirm/" in message.body
    event = AuditEvent.objects.get(action="record.decision_reminded")
    assert event.actor == cast.dsl.user and event.details["decision"] == str(decision.code)
    shown = client.get(response["Location"]).content.decode()
    assert "Reminder sent to Sid Supervisee" in shown and "Reminded Wed 12 Nov 2025, 09:00" in shown

    # A second press within the day, by anyone, says when the reminder went and sends nothing.
    with time_machine.travel("2025-11-12 15:30 +0000", tick=False), django_capture_on_commit_callbacks(execute=True):
        again = login(cast.head).post(url, follow=True)
    assert "already reminded about CP-0042 on Wed 12 Nov 2025 at 09:00" in again.content.decode()
    assert len(mail.outbox) == 1 and Notification.objects.filter(object_code=str(decision.code)).count() == 1
    assert AuditEvent.objects.filter(action="record.decision_reminded").count() == 1
    # A day later it may go again.
    with time_machine.travel("2025-11-13 09:01 +0000", tick=False), django_capture_on_commit_callbacks(execute=True):
        login(cast.head).post(url)
    assert len(mail.outbox) == 2 and AuditEvent.objects.filter(action="record.decision_reminded").count() == 2


def test_a_reminder_is_refused_for_a_decision_not_yet_signed_or_already_confirmed(cast, login, record):
    from supervision.models import Notification

    draft = decide(record, cast.supervisee)
    client = login(cast.dsl)
    refused = client.post(f"/records/decisions/{draft.code}/remind/", follow=True).content.decode()
    assert "not signed yet" in refused
    confirmed = decide(record, cast.supervisee, child="CP-0099")
    services.decision_confirm(actor=cast.supervisee, decision=confirmed, recorded_on=TODAY, external_reference="")
    sign_off(record)
    refused = client.post(f"/records/decisions/{confirmed.code}/remind/", follow=True).content.decode()
    assert "already confirmed" in refused
    assert not Notification.objects.exists() and not AuditEvent.objects.filter(action="record.decision_reminded")


def test_only_leaders_of_the_setting_remind(cast, login, record):
    from supervision.models import Notification

    decision = decide(record, cast.supervisee)
    sign_off(record)
    url = f"/records/decisions/{decision.code}/remind/"
    other_head = StaffFactory(
        organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.HEAD, cast.secondary)]
    )
    assert login(other_head).post(url).status_code == 404
    assert login(cast.outsider).post(url).status_code == 404
    for person in (cast.supervisor, cast.supervisee, cast.org_admin, cast.auditor):
        assert login(person).post(url).status_code == 403, person
    assert login(cast.head).get(url).status_code == 405
    assert not Notification.objects.exists()


def test_the_page_costs_the_same_queries_with_reminders_sent(cast, login, django_capture_on_commit_callbacks):
    client = login(cast.head)

    def fill_and_remind(start, stop):
        _fill(cast, django_capture_on_commit_callbacks, start, stop)
        for decision in SafeguardingDecision.objects.filter(
            child_reference__in=[f"CP-{i:04d}" for i in range(start, stop)]
        ):
            assert client.post(f"/records/decisions/{decision.code}/remind/").status_code == 302

    fill_and_remind(0, 2)
    few = _queries(client)
    fill_and_remind(2, 12)
    html = client.get("/records/safeguarding/").content.decode()
    assert html.count("Reminded Wed 12 Nov 2025") == 12
    assert _queries(client) == few


# --- Issue 14: a trust-wide lead's backlog a page at a time ------------------------------------------------


def _rows(client, query=""):
    response = client.get(f"/records/safeguarding/{query}")
    assert response.status_code == 200
    main = response.content.decode().split("<main")[1]
    return main, main.count('id="flag-'), main.count('id="decision-')


def test_the_lists_come_a_page_at_a_time_and_a_link_opens_the_page_of_its_item(
    cast, login, monkeypatch, django_capture_on_commit_callbacks
):
    from records.views import actions

    monkeypatch.setattr(actions, "FLAGS_PER_PAGE", 2)
    monkeypatch.setattr(actions, "DECISIONS_PER_PAGE", 3)
    monkeypatch.setattr(actions, "RESOLVED_SHOWN", 1)
    _fill(cast, django_capture_on_commit_callbacks, 0, 8)  # flags 0 and 4 resolved: six open, eight decisions
    open_flags = list(ConfidentialityFlag.objects.filter(resolved_at__isnull=True).order_by("raised_at", "id"))
    decisions = list(SafeguardingDecision.objects.order_by("record__locked_at", "id"))
    assert len(open_flags) == 6 and len(decisions) == 8
    client = login(cast.dsl)

    main, flags, shown = _rows(client)
    assert (flags, shown) == (2, 3)
    # The badges count whole lists; each list has its own pages; the resolved list says what it leaves out.
    assert '<span class="badge text-bg-danger">6</span>' in main
    assert '<span class="badge text-bg-warning">8</span>' in main
    assert main.count("Page 1 of 3") == 2
    assert "Resolved in the last 30 days (2, the 1 most recent shown)" in main
    assert 'href="?flags=2#flags-heading"' in main and 'href="?decisions=2#decisions-heading"' in main

    # A list's links keep the other list's page.
    main, _, _ = _rows(client, "?flags=2&decisions=3")
    assert f'id="flag-{open_flags[2].code}"' in main and f'id="decision-{decisions[6].code}"' in main
    assert 'href="?decisions=3&amp;flags=3#flags-heading"' in main
    assert 'href="?flags=2&amp;decisions=2#decisions-heading"' in main
    assert '<input type="hidden" name="decisions" value="3">' in main

    # A link from an email or a notification names its item: the page holding it opens.
    main, _, _ = _rows(client, f"?decision={decisions[7].code}")
    assert f'id="decision-{decisions[7].code}"' in main and "Page 3 of 3" in main
    main, _, _ = _rows(client, f"?flag={open_flags[5].code}")
    assert f'id="flag-{open_flags[5].code}"' in main
    assert follow_up.safeguarding_url(decision=decisions[7]) == (
        f"/records/safeguarding/?decision={decisions[7].code}#decision-{decisions[7].code}"
    )

    # Reminding from page 3 comes back to page 3, at the decision.
    response = client.post(f"/records/decisions/{decisions[7].code}/remind/", {"decisions": "3"})
    assert response["Location"] == f"/records/safeguarding/?decisions=3#decision-{decisions[7].code}"


def test_bad_page_numbers_and_item_codes_show_the_first_pages(
    cast, login, monkeypatch, django_capture_on_commit_callbacks
):
    from records.views import actions

    monkeypatch.setattr(actions, "FLAGS_PER_PAGE", 2)
    monkeypatch.setattr(actions, "DECISIONS_PER_PAGE", 3)
    _fill(cast, django_capture_on_commit_callbacks, 0, 8)
    first = SafeguardingDecision.objects.order_by("record__locked_at", "id").first()
    client = login(cast.dsl)
    for query in (
        "?decisions=abc", "?decisions=-2", "?decisions=0", "?decisions=99999999999999", "?flags=%00",
        "?decision=not-a-code", f"?flag={first.code}", "?decisions=٣",
    ):  # fmt: skip
        main, flags, shown = _rows(client, query)
        assert (flags, shown) == (2, 3) and f'id="decision-{first.code}"' in main, query
    main, _, shown = _rows(client, "?decisions=7")  # past the end: the last page
    assert shown == 2 and "Page 3 of 3" in main


def test_a_code_from_another_setting_or_organisation_opens_nothing_of_theirs(
    cast, login, monkeypatch, django_capture_on_commit_callbacks
):
    from records.views import actions

    monkeypatch.setattr(actions, "DECISIONS_PER_PAGE", 1)
    _fill(cast, django_capture_on_commit_callbacks, 0, 3)
    last = SafeguardingDecision.objects.order_by("record__locked_at", "id").last()
    other_head = StaffFactory(
        organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.HEAD, cast.secondary)]
    )
    other_dsl = StaffFactory(
        organisation=cast.other_setting.organisation, settings=[cast.other_setting],
        roles=[(Role.DSL, cast.other_setting)],
    )  # fmt: skip
    for person in (other_head, other_dsl):
        response = login(person).get(f"/records/safeguarding/?decision={last.code}")
        assert response.status_code == 200
        body = response.content.decode()
        assert str(last.code) not in body and last.child_reference not in body
        assert "Every safeguarding decision is on the child's file" in body  # their own empty list


def test_each_flag_names_its_session_and_its_people_read_after_the_page(
    cast, login, django_capture_on_commit_callbacks
):
    from tests.records.test_participants import _group_record

    one_to_one = raise_flag(written_record(cast), django_capture_on_commit_callbacks, note="One to one")
    group = raise_flag(_group_record(cast), django_capture_on_commit_callbacks, note="In the group")
    resolved = raise_flag(written_record(cast, days_ago=9), django_capture_on_commit_callbacks, note="Done")
    follow_up.flag_resolve(actor=cast.dsl, flag=resolved, resolution="Sorted with HR")
    main = login(cast.head).get("/records/safeguarding/").content.decode().split("<main")[1]
    flag_row = main.split(f'id="flag-{one_to_one.code}"')[1].split("</li>")[0]
    assert f"({cast.supervisee.full_name})" in flag_row and f"raised by {cast.supervisor.full_name}" in flag_row
    group_row = main.split(f'id="flag-{group.code}"')[1].split("</li>")[0]
    assert "(group: Team)" in group_row and f"raised by {cast.dsl.full_name}" in group_row
    assert f"by {cast.dsl.full_name}: Sorted with HR" in main
    # A resolver no longer on the staff list (the link set empty) reads as someone who has left.
    ConfidentialityFlag.objects.filter(pk=resolved.pk).update(resolved_by=None)
    main = login(cast.head).get("/records/safeguarding/").content.decode().split("<main")[1]
    assert "by someone who has left: Sorted with HR" in main


def test_a_trust_wide_lead_sees_the_same_unconfirmed_decisions_however_they_are_looked_up(cast, login, record):
    """A DSL of the whole organisation (no setting) has the organisation's unconfirmed decisions looked up
    by key first (`decisions_awaiting_led_by`, issue 14): the same rows as the plain query, so never a
    decision of a record not yet signed, one already confirmed, or one of another organisation."""
    trust_dsl = trust_wide_dsl(cast)
    waiting = signed_decision(record, cast.dsl, child="CP-WAIT")
    done = signed_decision(
        written_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2), cast.dsl, child="CP-DONE"
    )
    services.decision_confirm(actor=cast.dsl, decision=done, recorded_on=TODAY, external_reference="FILE-1")
    decide(written_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2, days_ago=3), cast.dsl,
           child="CP-UNSIGNED")  # fmt: skip
    other_setting = cast.outsider.settings.first()
    other_supervisee = StaffFactory(organisation=cast.other_organisation, settings=[other_setting])
    foreign_record = written_record(cast, supervisee=other_supervisee, supervisor=cast.outsider)
    decide(foreign_record, cast.outsider, child="CP-FOREIGN")
    sign_off(foreign_record)

    others = SafeguardingDecision.objects.exclude(pk=waiting.pk)
    assert sorted((d.child_reference, d.record.status, d.confirmed_at is None) for d in others) == [
        ("CP-DONE", "signed", False), ("CP-FOREIGN", "signed", True), ("CP-UNSIGNED", "draft", True)
    ]  # fmt: skip
    plain = follow_up.decisions_led_by(trust_dsl).awaiting_confirmation()
    assert list(follow_up.decisions_awaiting_led_by(trust_dsl).order_by("id")) == list(plain.order_by("id"))
    assert list(follow_up.decisions_awaiting_led_by(trust_dsl)) == [waiting]
    # A head of one setting: the plain query, unchanged.
    assert list(follow_up.decisions_awaiting_led_by(cast.head)) == [waiting]
    for client in (login(trust_dsl), login(cast.dsl)):
        for url in ("/records/safeguarding/", "/"):
            html = client.get(url).content.decode()
            assert "CP-WAIT" in html, url
            assert not any(ref in html for ref in ("CP-DONE", "CP-UNSIGNED", "CP-FOREIGN")), url


def test_each_decision_names_its_key_person_and_supervisor_read_after_the_page(cast, login, record):
    """The decisions' two people are read by name after the page (`_name_decisions`, issue 14): each row
    names its own key person and its own record's supervisor, across two settings."""
    trust_dsl = trust_wide_dsl(cast)
    first = signed_decision(record, cast.supervisee, child="CP-FIRST")
    second = signed_decision(
        written_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2), cast.dsl, child="CP-SECOND"
    )
    main = login(trust_dsl).get("/records/safeguarding/").content.decode().split("<main")[1]
    row = main.split(f'id="decision-{first.code}"')[1].split("</tr>")[0]
    assert cast.supervisee.full_name in row and cast.supervisor.full_name in row
    assert cast.dsl.full_name not in row and cast.supervisor2.full_name not in row
    row = main.split(f'id="decision-{second.code}"')[1].split("</tr>")[0]
    assert cast.dsl.full_name in row and cast.supervisor2.full_name in row
    assert cast.supervisee.full_name not in row and cast.supervisor.full_name not in row
