import re
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
    # Booking is two steps since issue 16 (fault 4): the check page, then its own button.
    page.get_by_role("button", name="Check the ticked sessions").click()
    page.wait_for_load_state("load")
    assert Session.objects.count() == before
    page.get_by_role("button", name="Book these sessions").click()
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


def test_enter_in_the_plan_shows_the_check_page_and_books_nothing(demo_trust, page):
    """Issue 16, fault 4: a head once booked a whole school with one Enter."""
    sign_in(page, "head@riverside.example", settings.DEMO_PASSWORD)
    page.goto("/calendar/plan/")
    page.wait_for_load_state("load")
    # The head opens on their own supervisees; Tom is Sarah's, so the school is one click away.
    assert page.get_by_text("You are planning your own supervisees only.").is_visible()
    assert page.get_by_label("Date for Tom Baker").count() == 0
    page.get_by_role("link", name="Riverside Primary School").click()
    page.wait_for_load_state("load")
    page.get_by_label("Book a session for Tom Baker").uncheck()
    before = Session.objects.count()
    toms = Session.objects.filter(contract__supervisee__user__email="staff@riverside.example").count()

    page.get_by_label("Time for Amy Hughes").press("Enter")
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name="Check before booking").is_visible()
    summary = page.locator("#check-summary").inner_text()
    assert re.fullmatch(r"\d+ sessions? for \d+ supervisors?; \d+ invitations? will be sent\.", summary.strip()), (
        summary
    )
    assert Session.objects.count() == before

    page.get_by_role("button", name="Go back and change").click()
    page.wait_for_load_state("load")
    assert not page.get_by_label("Book a session for Tom Baker").is_checked()
    assert page.get_by_label("Book a session for Amy Hughes").is_checked()
    assert Session.objects.count() == before

    page.get_by_role("button", name="Check the ticked sessions").click()
    page.wait_for_load_state("load")
    sessions = int(page.locator("#check-summary").inner_text().split()[0])
    page.get_by_role("button", name="Book these sessions").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("sessions booked").is_visible()
    assert Session.objects.count() == before + sessions
    # Tom's row stayed unticked through the check and back: nothing was booked for him.
    assert Session.objects.filter(contract__supervisee__user__email="staff@riverside.example").count() == toms
