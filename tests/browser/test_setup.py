"""Issue 15 in a browser: a new organisation's first admin accepts the invitation create_organisation
printed, works the setup checklist, and makes everyone's agreements; a background run's progress updates
by itself (HTMX polling, nothing inline for the Content Security Policy to refuse)."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Organisation, Role, StaffMember
from supervision.bulk_agreements import agreements_run
from supervision.models import AgreementRun, Contract
from tests.factories import PASSWORD as FACTORY_PASSWORD
from tests.factories import SettingFactory, StaffFactory

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-new-password-1"


def test_the_first_admin_accepts_the_invitation_and_works_the_checklist(page, new_page):
    out = StringIO()
    call_command("create_organisation", "--name", "Fresh Start Trust", "--admin-email", "first@fresh.example",
                 "--admin-name", "Fay First", stdout=out)  # fmt: skip
    link = re.search(r"https?://[^/\s]+(/accounts/invitation/\S+/)", out.getvalue()).group(1)
    admin = StaffMember.objects.get(user__email="first@fresh.example")
    organisation = admin.organisation
    # The second factor is tested where it is the subject (tests/accounts/test_second_factor.py).
    Organisation.objects.filter(pk=organisation.pk).update(require_second_factor=False)

    page.goto(link)
    page.locator("#id_new_password1").fill(PASSWORD)
    page.locator("#id_new_password2").fill(PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    page.wait_for_load_state("load")
    sign_in(page, "first@fresh.example", PASSWORD)
    checklist = page.locator("#setup-checklist")
    assert checklist.get_by_text("0 of 8 steps done.").is_visible()
    assert checklist.locator("progress").get_attribute("value") == "0"

    checklist.locator('[data-step="term_dates"]').get_by_role("link", name="School calendar").click()
    page.get_by_role("button", name="I have checked these dates").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("Checked by Fay First on").is_visible()
    page.goto("/")
    assert page.locator("#setup-checklist").get_by_text("1 of 8 steps done.").is_visible()

    setting = SettingFactory(organisation=organisation, name="Fresh Primary")
    supervisor = StaffFactory(organisation=organisation, settings=[setting], roles=[(Role.SUPERVISOR, setting)])
    for _ in range(2):
        StaffFactory(organisation=organisation, settings=[setting], supervisor=supervisor)
    page.reload()
    page.locator('#setup-checklist [data-step="agreements"]').get_by_role("link").click()
    page.get_by_role("button", name="Make 2 agreements and ask 3 people to sign").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("Finished").is_visible()
    assert Contract.objects.filter(organisation=organisation).count() == 2


def test_a_background_run_updates_its_progress_by_itself(page):
    organisation = Organisation.objects.create(name="Large Trust", require_second_factor=False)
    setting = SettingFactory(organisation=organisation)
    admin = StaffFactory(
        organisation=organisation, settings=[setting], roles=[(Role.ORG_ADMIN, None)], user__email="admin@large.example"
    )
    supervisor = StaffFactory(organisation=organisation, settings=[setting])
    for _ in range(5):
        StaffFactory(organisation=organisation, settings=[setting], supervisor=supervisor)
    run = AgreementRun.objects.create(organisation=organisation, requested_by=admin, total=5, in_background=True)

    sign_in(page, "admin@large.example", FACTORY_PASSWORD)
    page.goto(f"/contracts/for-everyone/{run.code}/")
    assert page.get_by_text("Waiting for a worker to start it.").is_visible()
    agreements_run(run.id)  # the worker, meanwhile
    page.get_by_text("Finished").wait_for()
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
    assert page.locator("#run-created").inner_text() == "5"
