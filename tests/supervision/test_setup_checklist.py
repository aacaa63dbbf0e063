"""The setup checklist on an organisation admin's home (issue 15), walked through on a new organisation."""

from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Organisation, Role
from supervision import services
from supervision.bulk_agreements import people_needing_agreements
from supervision.models import Contract, SetupCheck
from supervision.setup import organisation_create, setup_checklist
from supervision.slots import LONDON
from tests.factories import SettingFactory, StaffFactory

pytestmark = pytest.mark.django_db

HOME = reverse("home")
TERMS = reverse("supervision:terms")


@pytest.fixture
def fresh(django_capture_on_commit_callbacks):
    """An organisation made by create_organisation's service, and its first admin (no second factor,
    so the test signs in with a password only: docs/decisions.md)."""
    with django_capture_on_commit_callbacks(execute=True):
        made = organisation_create(name="Fresh Start Trust", admin_email="first@fresh.example", admin_name="Fay First")
    Organisation.objects.filter(pk=made.organisation.pk).update(require_second_factor=False)
    made.organisation.refresh_from_db()
    return made


def done_steps(response) -> set[str]:
    return {step.key for step in response.context["setup"].steps if step.done}


def test_a_new_organisation_starts_with_nothing_done(fresh, client):
    client.force_login(fresh.admin.user)
    response = client.get(HOME)
    checklist = response.context["setup"]
    assert [s.key for s in checklist.steps] == [
        "settings", "term_dates", "agreement_wording", "record_forms", "staff", "supervisors", "agreements",
        "first_half_term",
    ]  # fmt: skip
    assert done_steps(response) == set()
    page = response.content.decode()
    assert '<progress class="w-100 mb-3" max="8" value="0"' in page
    assert "0 of 8 steps done." in page
    for step in checklist.steps:
        assert f'href="{step.url}"' in page
    assert page.count("Not done") == 8


def test_each_step_is_done_by_the_work_it_names(fresh, client, django_capture_on_commit_callbacks):
    admin, organisation = fresh.admin, fresh.organisation
    client.force_login(admin.user)

    SettingFactory(organisation=organisation, name="Fresh Primary")  # the settings page is issue 15's other part
    assert done_steps(client.get(HOME)) == {"settings"}

    response = client.post(TERMS, {"action": "checked"})
    assert response.status_code == 302
    [check] = SetupCheck.objects.filter(organisation=organisation)
    assert (check.step, check.checked_by) == ("term_dates", admin)
    [event] = AuditEvent.objects.filter(action="setup.checked")
    assert event.actor == admin.user and event.details["step"] == "term_dates"
    page = client.get(TERMS).content.decode()
    assert "Checked by Fay First on" in page
    assert done_steps(client.get(HOME)) == {"settings", "term_dates"}

    wording = client.get(reverse("supervision:contract-template")).context["form"].initial
    client.post(reverse("supervision:contract-template"), wording)  # saved unchanged: still checked
    assert "agreement_wording" in done_steps(client.get(HOME))

    form = client.get(reverse("records:template-defaults")).context["form"]
    client.post(reverse("records:template-defaults"), {name: field.initial for name, field in form.fields.items()})
    assert "record_forms" in done_steps(client.get(HOME))

    setting = organisation.settings.get()
    supervisor = StaffFactory(organisation=organisation, settings=[setting], roles=[(Role.SUPERVISOR, setting)])
    assert {"staff"} <= done_steps(client.get(HOME))
    assert "supervisors" not in done_steps(client.get(HOME))
    people = [StaffFactory(organisation=organisation, settings=[setting], supervisor=supervisor) for _ in range(2)]
    assert "supervisors" in done_steps(client.get(HOME))
    assert "agreements" not in done_steps(client.get(HOME))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("supervision:contract-bulk"))
    assert Contract.objects.filter(organisation=organisation).count() == 2
    response = client.get(HOME)
    assert done_steps(response) == {s.key for s in response.context["setup"].steps} - {"first_half_term"}
    assert "7 of 8 steps done." in response.content.decode()

    contract = Contract.objects.get(supervisee=people[0])
    day = timezone.localdate() + timedelta(days=7)
    services.session_book(
        actor=supervisor, contract=contract, starts_at=datetime.combine(day, time(10), tzinfo=LONDON), minutes=30,
        check=False, send=False,
    )  # fmt: skip
    response = client.get(HOME)
    assert response.context["setup"] is None  # every step done: the list goes
    assert 'id="setup-checklist"' not in response.content.decode()


def test_someone_new_without_an_agreement_undoes_the_agreements_step(fresh):
    organisation = fresh.organisation
    setting = SettingFactory(organisation=organisation)
    supervisor = StaffFactory(organisation=organisation, settings=[setting])
    first = StaffFactory(organisation=organisation, settings=[setting], supervisor=supervisor)
    services.contract_create(actor=supervisor, supervisee=first, supervisor=supervisor, start_date=timezone.localdate())
    assert {s.key: s.done for s in setup_checklist(organisation).steps}["agreements"]
    StaffFactory(organisation=organisation, settings=[setting], supervisor=supervisor)
    step = {s.key: s for s in setup_checklist(organisation).steps}["agreements"]
    assert not step.done
    assert step.text.startswith("1 person with a supervisor and no agreement yet")


def test_waiting_counts_whom_a_bulk_run_would_make_agreements_for(fresh):
    """ "Waiting" is the bulk run's rule (`people_needing_agreements`): a supervisor who has left does not
    count, one leaving later does, and nor do people who have left themselves or already have one."""
    organisation = fresh.organisation
    today = timezone.localdate()
    setting = SettingFactory(organisation=organisation)
    staying = StaffFactory(organisation=organisation, settings=[setting])
    leaving_later = StaffFactory(organisation=organisation, settings=[setting], leaving_date=today + timedelta(days=30))
    gone = StaffFactory(organisation=organisation, settings=[setting], leaving_date=today - timedelta(days=1))
    StaffFactory(organisation=organisation, settings=[setting], supervisor=staying)  # waiting
    StaffFactory(organisation=organisation, settings=[setting], supervisor=leaving_later)  # waiting
    StaffFactory(organisation=organisation, settings=[setting], supervisor=gone)  # the supervisor has left
    StaffFactory(
        organisation=organisation, settings=[setting], supervisor=staying, leaving_date=today - timedelta(days=2)
    )  # has left
    agreed = StaffFactory(organisation=organisation, settings=[setting], supervisor=staying)
    services.contract_create(actor=staying, supervisee=agreed, supervisor=staying, start_date=today)
    other = StaffFactory(supervisor=None)  # another organisation's leaver supervising there
    StaffFactory(organisation=other.organisation, supervisor=StaffFactory(organisation=other.organisation))

    step = {s.key: s for s in setup_checklist(organisation).steps}["agreements"]
    assert step.text.startswith("2 people with a supervisor and no agreement yet")
    assert people_needing_agreements(fresh.admin).count() == 2


def test_the_checklist_costs_the_same_whatever_the_number_of_staff(fresh, client):
    organisation = fresh.organisation
    setting = SettingFactory(organisation=organisation)
    supervisor = StaffFactory(organisation=organisation, settings=[setting])
    client.force_login(fresh.admin.user)
    client.get(HOME)
    with CaptureQueriesContext(connection) as small:
        client.get(HOME)
    for _ in range(12):
        StaffFactory(organisation=organisation, settings=[setting], supervisor=supervisor)
    with CaptureQueriesContext(connection) as large:
        response = client.get(HOME)
    assert "12 people have a supervisor" in response.content.decode()
    assert len(large) == len(small)
    with CaptureQueriesContext(connection) as alone:
        setup_checklist(organisation)
    assert len(alone) == 2


def test_only_organisation_wide_admins_see_it(cast, login):
    assert login(cast.org_admin).get(HOME).context["setup"] is not None
    for person in (cast.head, cast.supervisor, cast.auditor):
        assert "setup" not in login(person).get(HOME).context
    setting_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    assert "setup" not in login(setting_admin).get(HOME).context


def test_only_an_organisation_wide_admin_marks_the_term_dates_checked(cast, login):
    services.ensure_calendar(cast.organisation)
    setting_admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.primary], roles=[(Role.ORG_ADMIN, cast.primary)]
    )
    assert login(setting_admin).post(TERMS, {"action": "checked"}).status_code == 403
    assert login(cast.head).post(TERMS, {"action": "checked"}).status_code == 403
    assert not SetupCheck.objects.exists()
    assert not AuditEvent.objects.filter(action="setup.checked").exists()


def test_term_dates_cannot_be_checked_before_there_are_any(cast, login):
    response = login(cast.org_admin).post(TERMS, {"action": "checked"}, follow=True)
    assert "There are no term dates to check yet" in response.content.decode()
    assert not SetupCheck.objects.exists()
