"""Issue 16: on the booking page a suggested free time, pressed, fills in the date and time (static/js/app.js,
no inline script), and the session books at that time."""

from datetime import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import demo
from supervision import services as supervision_services
from supervision.models import Contract, Session
from supervision.slots import LONDON

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def agreement():
    """Sarah supervises Tom; the agreement is signed; the trust has its school calendar."""
    today = timezone.localdate()
    organisation = demo.seed_people(today)
    supervision_services.ensure_calendar(organisation, today)
    tom = organisation.staff.get(user__email="staff@riverside.example")
    sarah = organisation.staff.get(user__email="supervisor@riverside.example")
    contract = supervision_services.contract_create(actor=sarah, supervisee=tom, supervisor=sarah, start_date=today)
    Contract.objects.filter(pk=contract.pk).update(
        supervisee_signed_at=timezone.now(), supervisor_signed_at=timezone.now()
    )
    return contract


def test_a_suggested_time_fills_the_form_and_books(agreement, page):
    sign_in(page, "supervisor@riverside.example", settings.DEMO_PASSWORD)
    page.goto(f"/calendar/book/?contract={agreement.code}")
    first = page.get_by_role("button", name="Use this time").first
    day, hour = first.get_attribute("data-fill-date"), first.get_attribute("data-fill-time")
    assert page.locator("#id_date").input_value() != day or page.locator("#id_time").input_value() != hour
    first.click()
    assert "date=" not in page.url  # filled in place, no reload
    assert page.locator("#id_date").input_value() == day
    assert page.locator("#id_time").input_value() == hour
    assert first.get_attribute("aria-pressed") == "true"
    booking = page.get_by_role("button", name="Book the session")
    assert booking.evaluate("button => button === document.activeElement")
    booking.click()
    page.wait_for_load_state("load")
    session = Session.objects.get(contract=agreement)
    assert session.starts_at == datetime.fromisoformat(f"{day}T{hour}").replace(tzinfo=LONDON)
