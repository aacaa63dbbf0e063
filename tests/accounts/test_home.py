"""Each person's home page: what exists for them, at a cost that does not grow with their caseload."""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from accounts.models import Role
from supervision.models import Contract
from supervision.services import contract_create

from ..factories import StaffFactory


def _home_queries(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def _supervisees(cast, count):
    for i in range(count):
        StaffFactory(
            organisation=cast.organisation,
            settings=[cast.primary, cast.secondary] if i % 2 else [cast.primary],
            supervisor=cast.head,
            days=[1, 3] if i % 2 else None,
            roles=[(Role.SUPERVISOR, cast.primary)] if i % 3 == 0 else [],
        )


def test_home_queries_do_not_grow_with_the_number_of_supervisees(cast, login):
    client = login(cast.head)
    _supervisees(cast, 3)
    small, response = _home_queries(client)
    assert len(response.context["supervisees"]) == 2 + 3  # the DSL and the supervisor, and the new three
    _supervisees(cast, 30)
    large, response = _home_queries(client)
    assert len(response.context["supervisees"]) == 2 + 33
    assert small == large


def test_home_queries_of_an_org_admin_do_not_grow_with_the_organisation(cast, login):
    client = login(cast.org_admin)
    small, _ = _home_queries(client)
    _supervisees(cast, 30)
    large, response = _home_queries(client)
    assert response.context["admin_counts"]["current"] == 8 + 30
    assert small == large


def test_home_shows_a_supervisee_their_supervisor_settings_and_days(cast, login):
    response = login(cast.supervisee).get("/")
    page = response.content.decode()
    assert response.context["my_supervisor"] == cast.supervisor
    assert "Sam Supervisor" in page
    assert "Cast Primary" in page
    assert "Mon Tue Wed Thu Fri" in page
    # Nothing of the supervisor's or admin's panels.
    assert "supervisees" not in response.context
    assert "admin_counts" not in response.context
    assert "recent_events" not in response.context


def test_the_supervisor_shown_is_the_one_named_for_the_person_even_when_their_agreement_names_another(cast, login):
    """The home's supervisor is the one the organisation admin named (`StaffMember.supervisor`). It is taken
    from the agreement, loaded already, only when that names the same person: one query fewer (issue 14)."""
    contract_create(actor=None, supervisee=cast.supervisee, supervisor=cast.supervisor, start_date=timezone.localdate())
    client = login(cast.supervisee)
    same, response = _home_queries(client)
    assert response.context["my_agreement"].supervisor == cast.supervisor
    assert response.context["my_supervisor"] == cast.supervisor
    assert "Sam Supervisor" in response.content.decode()

    cast.supervisee.supervisor = cast.supervisor2  # named since; the agreement still names Sam
    cast.supervisee.save(update_fields=["supervisor"])
    other, response = _home_queries(client)
    assert response.context["my_agreement"].supervisor == cast.supervisor
    assert response.context["my_supervisor"] == cast.supervisor2
    assert cast.supervisor2.user.full_name in response.content.decode()
    assert other == same + 1


def test_home_shows_a_head_the_settings_they_lead(cast, login):
    response = login(cast.head).get("/")
    assert [(s.name, s.people) for s in response.context["led_settings"]] == [("Cast Primary", 6)]


def test_a_head_of_the_whole_organisation_sees_each_setting_counting_each_current_person_once(cast, login):
    today = timezone.localdate()
    counted = {s.name: s.people for s in login(cast.head).get("/").context["led_settings"]}  # Cast Primary only
    StaffFactory(organisation=cast.organisation, settings=[cast.primary, cast.secondary])  # in both: once in each
    StaffFactory(organisation=cast.organisation, settings=[cast.primary], leaving_date=today + timedelta(days=9))
    StaffFactory(organisation=cast.organisation, settings=[cast.primary], leaving_date=today - timedelta(days=1))
    executive = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.HEAD, None)])
    led = login(executive).get("/").context["led_settings"]
    shown = {s.name: s.people for s in led}
    assert [s.name for s in led] == ["Cast Primary", "Cast Secondary"]  # by name, as the organisation lists them
    secondary = cast.secondary.staff.exclude(leaving_date__lt=today).count()
    assert shown == {"Cast Primary": counted["Cast Primary"] + 3, "Cast Secondary": secondary}
    assert secondary >= 1


def test_a_lead_of_many_settings_sees_the_first_ten_and_how_many_more(cast, login):
    """A trust's head of every setting: the home lists the first ten settings by name with their staff
    (counted for those ten only) and says how many more there are, with the dashboard to choose them on."""
    from records.views.home import HOME_LIST

    from ..factories import SettingFactory

    extra = [SettingFactory(organisation=cast.organisation, name=f"Zed Academy {n:02}") for n in range(HOME_LIST)]
    StaffFactory(organisation=cast.organisation, settings=[extra[0], extra[1]])
    executive = StaffFactory(organisation=cast.organisation, settings=[cast.primary], roles=[(Role.HEAD, None)])
    every = sorted(s.name for s in cast.organisation.settings.all())
    more = len(every) - HOME_LIST
    assert more >= 2
    response = login(executive).get("/")
    led = response.context["led_settings"]
    assert [s.name for s in led] == every[:HOME_LIST]
    today = timezone.localdate()
    for s in led:
        assert s.people == s.staff.exclude(leaving_date__lt=today).count(), s.name
    page = response.content.decode()
    assert f"And {more} more settings: choose any of them on the" in page
    assert 'href="/dashboard/"' in page.split('id="settings-more"')[1].split("</p>")[0]
    # A head of one setting has nothing more.
    one = login(cast.head).get("/")
    assert one.context["led_settings_more"] == 0 and 'id="settings-more"' not in one.content.decode()


def _group_record(cast):
    """A group record with the supervisee and the supervisor as participants, with them to sign."""
    from datetime import timedelta

    from django.utils import timezone

    from records import services
    from supervision import services as supervision_services
    from tests.supervision.helpers import at

    group = supervision_services.group_create(
        actor=cast.head, name="Team", setting=cast.primary, supervisor=cast.dsl,
        members=[cast.supervisee, cast.supervisor], confidentiality_boundaries="Stays in the room.",
    )  # fmt: skip
    session = supervision_services.session_book(
        actor=cast.dsl, group=group, starts_at=at(timezone.localdate() - timedelta(days=1), 14), minutes=45,
        check=False, send=False,
    )  # fmt: skip
    record = services.record_start(actor=cast.dsl, session=session)
    services.section_save(actor=cast.dsl, section=record.sections.first(), discussion="We discussed the week.")
    services.record_submit(actor=cast.dsl, record=record)
    return record


def test_a_group_participant_whose_signature_was_voided_is_asked_to_sign_again(cast, login):
    from records import services
    from records.models import RecordStatus, Signature

    from ..factories import PASSWORD

    record = _group_record(cast)
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    assert record in login(cast.supervisor).get("/").context["records_to_sign"]
    assert record not in login(cast.supervisee).get("/").context["records_to_sign"]
    # The other participant's feedback changes the record: the supervisee's signature is voided, and
    # theirs stands once they sign. The supervisee must sign again, and their home says so.
    services.record_set_feedback(actor=cast.supervisor, record=record, feedback="Helpful.")
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISEE
    assert Signature.objects.filter(record=record, signer=cast.supervisee, voided_at__isnull=False).exists()
    assert list(login(cast.supervisee).get("/").context["records_to_sign"]) == [record]
    assert record not in login(cast.supervisor).get("/").context["records_to_sign"]
    # Once both have signed, it waits for the supervisor of the group, and for nobody else.
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    assert list(login(cast.dsl).get("/").context["records_to_sign"]) == [record]
    assert record not in login(cast.supervisee).get("/").context["records_to_sign"]


def test_home_records_to_sign_cost_the_same_queries_however_many(cast, login):
    from records import services
    from tests.records.helpers import written_record

    def submitted():
        record = written_record(cast)
        services.record_submit(actor=cast.supervisor, record=record)

    client = login(cast.supervisee)
    submitted()
    small, response = _home_queries(client)
    assert len(response.context["records_to_sign"]) == 1
    for _ in range(3):
        submitted()
    large, response = _home_queries(client)
    assert len(response.context["records_to_sign"]) == 4
    assert small == large


def test_a_supervisor_with_many_agreements_to_sign_sees_their_own_first_and_a_way_to_the_rest(cast, login):
    """Found starting a school from nothing (issue 15): a new supervisor had eleven agreements waiting,
    the home showed ten in no order, and which one was left out changed with the database."""
    today = timezone.localdate()
    contract_create(actor=None, supervisee=cast.supervisor, supervisor=cast.head, start_date=today)
    contract_create(actor=None, supervisee=cast.supervisee, supervisor=cast.supervisor, start_date=today)
    client = login(cast.supervisor)
    small, response = _home_queries(client)
    assert not response.context["more_contracts_to_sign"]
    assert "the agreements page" not in response.content.decode()

    names = [f"Zed Person {n:02}" for n in range(12)] + ["Abe Early"]
    for name in names:
        person = StaffFactory(organisation=cast.organisation, settings=[cast.primary], user__full_name=name)
        contract_create(actor=None, supervisee=person, supervisor=cast.supervisor, start_date=today)
    large, response = _home_queries(client)
    shown = [(c.supervisee.full_name, c.supervisor.full_name) for c in response.context["contracts_to_sign"]]
    assert shown[0] == ("Sam Supervisor", "Hana Head")  # their own
    assert [name for name, _ in shown[1:]] == ["Abe Early", "Sid Supervisee", *names[:7]]  # then by name
    assert response.context["more_contracts_to_sign"]
    assert 'href="/contracts/">the agreements page</a>' in response.content.decode()


# --- What needs each person first (issue 16) ----------------------------------------------------------


def test_records_to_sign_are_named_by_the_other_person_in_them(cast, login):
    from records import services
    from tests.factories import PASSWORD
    from tests.records.helpers import written_record

    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    day = f"{record.session.starts_at:%a} {record.session.starts_at.day} {record.session.starts_at:%b %Y}"
    page = login(cast.supervisee).get("/").content.decode()
    assert f"Your supervision with Sam Supervisor, {day} – sign now" in page
    assert "the session of" not in page
    services.record_sign(actor=cast.supervisee, record=record, password=PASSWORD)
    page = login(cast.supervisor).get("/").content.decode()
    assert f"Your supervision with Sid Supervisee, {day} – sign now" in page
    assert f'href="/records/{record.code}/"' in page


def test_no_my_supervision_block_for_an_unsupervised_head(cast, login):
    # The head has no supervisor and no agreement as supervisee: nothing of "My supervision".
    response = login(cast.head).get("/")
    page = response.content.decode()
    assert response.context["supervised"] is False
    assert 'id="my-supervision"' not in page
    assert "My supervision" not in page
    # Someone with an agreement as supervisee keeps it, with the agreement's frequency.
    from tests.supervision.helpers import signed_contract

    signed_contract(cast.head, cast.dsl)
    page = login(cast.head).get("/").content.decode()
    assert 'id="my-supervision"' in page
    assert "Half-termly, since" in page


def test_an_auditor_home_shows_their_live_grant(cast, login):
    from tests.records.helpers import live_grant

    page = login(cast.auditor).get("/").content.decode()
    assert "You have no live access, so you see no records." in page
    grant = live_grant(cast, covers_from=date(2024, 9, 1), covers_until=date(2025, 8, 31))
    response = login(cast.auditor).get("/")
    assert response.context["grants"].live == [grant]
    page = response.content.decode()
    section = page[page.index('id="grants"') :]
    assert "Inspection" in section
    assert "Cast Primary, Cast Secondary" in section
    assert "sessions from Sun 1 Sep 2024 to Sun 31 Aug 2025" in section
    assert f"open until {timezone.localtime(grant.expires_at):%a} {timezone.localtime(grant.expires_at).day}" in section
    assert "You have no live access" not in page


def test_an_auditor_home_costs_the_same_queries_however_many_grants(cast, login):
    from tests.records.helpers import live_grant

    live_grant(cast)
    client = login(cast.auditor)
    small, response = _home_queries(client)
    assert len(response.context["grants"].live) == 1
    for _ in range(3):
        live_grant(cast)
    large, response = _home_queries(client)
    assert len(response.context["grants"].live) == 4
    assert small == large


def _overdue_people(cast, count, *, caught_up=False):
    """People of the primary school with an agreement since September and no session held in Autumn 1."""
    from supervision.models import Session, SessionKind, SessionStatus
    from tests.supervision.helpers import at

    people = []
    for _ in range(count):
        person = StaffFactory(organisation=cast.organisation, settings=[cast.primary], start_date=date(2024, 9, 1))
        contract = signed_contract_at_start(person, cast.supervisor)
        if caught_up:
            session = Session.objects.create(
                organisation=cast.organisation, setting=cast.primary, kind=SessionKind.ONE_TO_ONE, contract=contract,
                supervisor=cast.supervisor, starts_at=at(date(2025, 11, 10), 10),
                ends_at=at(date(2025, 11, 10), 10) + timedelta(minutes=30), status=SessionStatus.HELD,
            )  # fmt: skip
            session.attendees.add(person)
        people.append(person)
    return people


@pytest.fixture
def autumn2(cast):
    """Thu 20 Nov 2025, in Autumn 2: Autumn 1 (to Fri 24 Oct) is the last half term to have ended."""
    from supervision.services import ensure_calendar

    with time_machine.travel("2025-11-20 09:00 +0000", tick=False):
        ensure_calendar(cast.organisation, date(2025, 11, 20))
        yield


def test_a_head_home_names_who_is_overdue(cast, login, autumn2):
    late = _overdue_people(cast, 2)
    caught_up = _overdue_people(cast, 1, caught_up=True)
    elsewhere = StaffFactory(organisation=cast.organisation, settings=[cast.secondary], start_date=date(2024, 9, 1))
    signed_contract_at_start(elsewhere, cast.supervisor2)
    response = login(cast.head).get("/")
    page = response.content.decode()
    section = page[page.index('id="overdue"') :]
    section = section[: section.index("</section>")]
    assert "No session was held in Autumn 1" in section
    for person in late:
        contract = Contract.objects.get(supervisee=person)
        # Names are HTML-escaped in the page: the factory's names include O'Donnell and the like.
        assert f'<a href="/contracts/{contract.code}/">{escape(person.user.full_name)}</a>' in section
    assert "1 other had a session since." in section
    # The half term running today: who has nothing held or booked in it yet.
    running = section[section.index("Autumn 2 2025/26, until Fri 19 Dec 2025") :]
    assert "Nothing held or booked yet for:" in running
    for person in late:
        assert escape(person.user.full_name) in running
    assert escape(caught_up[0].user.full_name) not in section
    assert [r.contract.supervisee for r in response.context["overdue"].not_booked] == sorted(
        late, key=lambda p: p.user.full_name
    )
    # Another school's people are not the head's.
    assert escape(elsewhere.user.full_name) not in section


def test_a_head_with_nobody_overdue_is_told_so(cast, login, autumn2):
    page = login(cast.head).get("/").content.decode()
    assert "Nobody is overdue: everyone owed supervision in Autumn 1" in page


def test_a_head_home_costs_the_same_queries_however_many_are_overdue(cast, login, autumn2):
    client = login(cast.head)
    _overdue_people(cast, 2)
    small, response = _home_queries(client)
    assert len(response.context["overdue"].rows) == 2
    _overdue_people(cast, 12)
    large, response = _home_queries(client)
    assert len(response.context["overdue"].rows) == 10
    assert response.context["overdue"].more == 4
    assert len(response.context["overdue"].not_booked) == 10
    assert response.context["overdue"].not_booked_more == 4
    assert small == large


def signed_contract_at_start(supervisee, supervisor):
    from tests.supervision.helpers import at, signed_contract

    contract = signed_contract(supervisee, supervisor, start=date(2025, 9, 1))
    Contract.objects.filter(pk=contract.pk).update(
        supervisee_signed_at=at(date(2025, 9, 1), 9), supervisor_signed_at=at(date(2025, 9, 1), 9)
    )
    return contract


def _decision(cast, *, key_person, child="CP-1001", flag=None):
    """A signed record of Sid's session with a decision for the key person (and a flag, if given)."""
    from records import services
    from tests.records.helpers import sign_off, written_record

    record = written_record(cast)
    services.decision_add(
        actor=cast.supervisor, record=record, child_reference=child, decision="Tell the family worker.",
        key_person=key_person,
    )  # fmt: skip
    if flag:
        services.flag_raise(actor=cast.supervisor, record=record, kind=flag)
    return sign_off(record)


def test_a_key_person_home_lists_the_decisions_to_confirm(cast, login):
    from records.models import SafeguardingDecision

    page = login(cast.supervisee2).get("/").content.decode()
    assert "Safeguarding decisions to record" not in page
    _decision(cast, key_person=cast.supervisee2, child="CP-2024-17")
    decision = SafeguardingDecision.objects.get(child_reference="CP-2024-17")
    page = login(cast.supervisee2).get("/").content.decode()
    section = page[page.index('id="decisions-to-confirm"') :]
    link = f'<a href="/records/decisions/{decision.code}/confirm/">'
    assert f"{link}The decision about CP-2024-17: read and confirm</a>" in section
    assert "Decided by Sam Supervisor" in section
    assert "Signed today" in section


def test_a_dsl_home_lists_escalations(cast, login):
    from records.models import FlagKind

    page = login(cast.dsl).get("/").content.decode()
    assert "Nothing is escalated to you" in page
    _decision(cast, key_person=cast.supervisee2, child="CP-77", flag=FlagKind.HARM)
    page = login(cast.dsl).get("/").content.decode()
    section = page[page.index('id="escalations"') :]
    section = section[: section.index("</section>")]
    assert "Harm to self or others" in section
    assert "Cast Primary" in section
    assert "About CP-77, not yet on the child's file" in section
    assert "key person Sal Supervisee" in section
    assert 'href="/records/safeguarding/"' in section
    # Only names, kinds and dates: never the decision's wording.
    assert "Tell the family worker." not in page


def test_a_dsl_home_costs_the_same_queries_however_many_escalations(cast, login):
    from records.models import FlagKind

    client = login(cast.dsl)
    _decision(cast, key_person=cast.supervisee2, flag=FlagKind.HARM)
    small, response = _home_queries(client)
    assert len(response.context["escalations"].flags) == 1
    for kind in (FlagKind.DISREPUTE, FlagKind.DISCIPLINE):
        _decision(cast, key_person=cast.supervisee2, flag=kind)
    large, response = _home_queries(client)
    assert len(response.context["escalations"].flags) == 3
    assert len(response.context["escalations"].decisions) == 3
    assert small == large
