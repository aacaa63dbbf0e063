"""Issue 12 in the browser: the demo DSL, under the organisation's rule, is made to set up an authenticator
app, signs out and back in with a code from it, and signs a record with the next code."""

from datetime import timedelta

import pyotp
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from accounts import demo
from records import services as record_services
from records.models import RecordStatus
from tests.records.helpers import written_record

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def record_for_the_dsl():
    """The demo trust with its rule on; the DSL supervised Tom, who has signed the record already."""
    organisation = demo.seed_people(timezone.localdate())
    organisation.require_second_factor = True
    organisation.save(update_fields=["require_second_factor"])
    dsl = organisation.staff.select_related("user").get(user__email="dsl@riverside.example")
    tom = organisation.staff.get(user__email="staff@riverside.example")
    record = written_record(None, supervisee=tom, supervisor=dsl)
    record_services.record_submit(actor=dsl, record=record)
    record_services.record_sign(actor=tom, record=record, password=settings.DEMO_PASSWORD)
    return dsl, record


def test_the_dsl_enrols_signs_in_with_a_code_and_signs_a_record_with_one(record_for_the_dsl, page):
    dsl, record = record_for_the_dsl
    # Real time moves on; each step below waits for the app's next code by moving the clock 30 seconds.
    with time_machine.travel(timezone.now(), tick=True) as clock:
        sign_in(page, "dsl@riverside.example", settings.DEMO_PASSWORD)
        assert page.url.endswith("/accounts/security/")
        page.goto("/dashboard/")
        assert page.url.endswith("/accounts/security/")  # no way round it
        assert page.get_by_text("Add a passkey or set up an authenticator app to go on").is_visible()

        page.get_by_role("button", name="Set up an authenticator app").click()
        key = page.get_by_test_id("setup-key").inner_text().replace(" ", "")
        app = pyotp.TOTP(key)
        page.get_by_role("textbox", name="Code").fill(app.now())
        page.get_by_role("button", name="Turn it on").click()
        assert page.get_by_role("heading", name="Your authenticator app is on").is_visible()
        assert page.get_by_test_id("recovery-codes").locator("li").count() == 10
        page.get_by_role("link", name="I have kept them safe").click()

        page.get_by_role("button", name=dsl.user.full_name).click()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/accounts/login/")

        clock.shift(timedelta(seconds=30))
        sign_in(page, "dsl@riverside.example", settings.DEMO_PASSWORD)
        assert page.url.endswith("/accounts/login/code/")
        page.get_by_role("textbox", name="Code").fill(app.now())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
        assert page.url.endswith("/")

        clock.shift(timedelta(seconds=30))
        page.goto(f"/records/{record.code}/")
        page.get_by_label("Code from your authenticator app").fill(app.now())
        page.get_by_label("I have read the record and agree it is accurate").check()
        page.get_by_role("button", name="Sign and lock the record").click()
        page.wait_for_load_state("load")
    record.refresh_from_db()
    assert record.status == RecordStatus.SIGNED
    assert record.signatures.filter(signer=dsl, voided_at__isnull=True).exists()
