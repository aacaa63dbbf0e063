from datetime import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import demo
from supervision import demo as supervision_demo
from supervision.models import Session

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_trust():
    today = timezone.localdate()
    organisation = demo.seed_people(today)
    supervision_demo.seed_demo(organisation, today)
    return organisation


def test_supervisor_plans_a_half_term_and_the_supervisee_prepares(demo_trust, page, new_page):
    sign_in(page, "supervisor@riverside.example", settings.DEMO_PASSWORD)
    page.get_by_role("link", name="Calendar", exact=True).click()
    page.get_by_role("link", name="Plan a half term").click()
    page.wait_for_load_state("load")
    date_value = page.get_by_label("Date for Tom Baker").input_value()
    time_value = page.get_by_label("Time for Tom Baker").input_value()
    before = Session.objects.count()
    page.get_by_role("button", name="Book the ticked sessions").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("sessions booked").is_visible()
    booked = Session.objects.count() - before
    assert booked >= 4  # Sarah's signed agreements: Amy, Chloe, David, Tom

    # The supervisee, in a browser of their own, sees the session and adds to its agenda.
    tom = new_page()
    sign_in(tom, "staff@riverside.example", settings.DEMO_PASSWORD)
    tom.goto("/calendar/")
    when = datetime.strptime(f"{date_value} {time_value[:5]}", "%Y-%m-%d %H:%M")
    label = f"{when:%a} {when.day} {when:%b %Y, %H:%M}"
    tom.get_by_role("link", name=label).click()
    tom.wait_for_load_state("load")
    tom.get_by_label("Add an agenda item").fill("Managing my Year 2 workload")
    tom.get_by_role("button", name="Add", exact=True).click()
    tom.locator("#agenda-panel").get_by_text("Managing my Year 2 workload", exact=True).wait_for()
    tom.reload()
    assert tom.locator("#agenda-panel").get_by_text("Managing my Year 2 workload", exact=True).is_visible()
