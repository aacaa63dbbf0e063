"""Each person's home page: what exists for them, at a cost that does not grow with their caseload."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
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


def test_home_shows_a_head_the_settings_they_lead(cast, login):
    response = login(cast.head).get("/")
    assert [(s.name, s.people) for s in response.context["led_settings"]] == [("Cast Primary", 6)]


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
    assert small == large
