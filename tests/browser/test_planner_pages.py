"""An organisation admin plans a large organisation a setting at a time and a page at a time, and books a
page (issue 14). The demo trust is small, so the page size is lowered to make it large."""

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import demo
from supervision import demo as supervision_demo
from supervision.models import Session
from supervision.views import planner as planner_view

from .conftest import sign_in
from .test_accessibility import axe_violations, overflows_sideways, settle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_trust(monkeypatch):
    monkeypatch.setattr(planner_view, "PAGE_ROWS", 3)
    today = timezone.localdate()
    organisation = demo.seed_people(today)
    supervision_demo.seed_demo(organisation, today)
    return organisation


def test_the_admin_plans_the_trust_a_setting_and_a_page_at_a_time(demo_trust, page):
    sign_in(page, "admin@riverside.example", settings.DEMO_PASSWORD)
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/calendar/plan/?caseload=organisation")
    page.wait_for_load_state("load")
    assert not overflows_sideways(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    settle(page)
    assert axe_violations(page) == []
    chooser = page.get_by_label("Setting", exact=True)
    first = chooser.input_value()
    options = chooser.locator("option").all_inner_texts()
    assert len(options) >= 2 and all("to plan)" in text for text in options)

    # The next setting by its link, then back with the chooser.
    page.get_by_role("link", name="Next setting:").click()
    page.wait_for_load_state("load")
    assert page.get_by_label("Setting", exact=True).input_value() != first
    assert page.get_by_role("link", name="Previous setting:").is_visible()
    page.get_by_label("Setting", exact=True).select_option(first)
    page.get_by_role("button", name="Show this setting").click()
    page.wait_for_load_state("load")
    assert page.get_by_label("Setting", exact=True).input_value() == first

    # A setting with more rows than a page: its second page is checked and booked on its own.
    pages = page.get_by_role("navigation", name="Pages of proposed sessions")
    if pages.count() == 0:
        for _ in options:
            page.get_by_role("link", name="Next setting:").click()
            page.wait_for_load_state("load")
            if pages.count():
                break
    pages.get_by_role("link", name="Next page").click()
    page.wait_for_load_state("load")
    assert axe_violations(page) == []
    rows = page.get_by_role("checkbox").count()
    assert 1 <= rows <= 3
    before = Session.objects.count()
    page.get_by_role("button", name="Check the ticked sessions").click()
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Book these sessions").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("sessions booked").or_(page.get_by_text("session booked")).first.is_visible()
    assert Session.objects.count() == before + rows
