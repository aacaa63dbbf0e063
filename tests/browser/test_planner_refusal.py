"""Two people plan the same half term in their own browsers; the second confirmation is refused with a
summary at the top that takes focus, and nothing is booked twice (issue 17, finding 4)."""

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


def test_a_refused_confirmation_says_so_at_the_top_and_books_nothing(demo_trust, new_page):
    head, supervisor = new_page(), new_page()
    for page, email in ((head, "head@riverside.example"), (supervisor, "supervisor@riverside.example")):
        sign_in(page, email, settings.DEMO_PASSWORD)
        page.goto("/calendar/plan/")
        page.wait_for_load_state("load")
    # The head opens on their own supervisees (issue 16, fault 4) and widens the plan to the school.
    head.get_by_role("link", name="Riverside Primary School").click()
    head.wait_for_load_state("load")
    assert head.get_by_label("Date for Tom Baker").count() == 1

    supervisor.get_by_role("button", name="Check the ticked sessions").click()
    supervisor.wait_for_load_state("load")
    supervisor.get_by_role("button", name="Book these sessions").click()
    supervisor.wait_for_load_state("load")
    assert supervisor.get_by_text("sessions booked").is_visible()
    booked = Session.objects.count()

    head.get_by_role("button", name="Check the ticked sessions").click()
    head.wait_for_load_state("load")
    summary = head.locator("[data-error-summary]")
    assert summary.get_by_role("heading", name="Nothing was booked").is_visible()
    assert head.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    assert "Tom Baker" in summary.inner_text()
    assert Session.objects.count() == booked
