import pytest
from django.conf import settings
from django.utils import timezone

from accounts import demo

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_trust():
    return demo.seed_people(timezone.localdate())


def test_demo_supervisor_signs_in_and_sees_their_home(demo_trust, page):
    sign_in(page, "supervisor@riverside.example", settings.DEMO_PASSWORD)
    assert page.get_by_role("heading", name="Hello, Sarah").is_visible()
    caseload = page.get_by_role("region", name="People I supervise")
    assert caseload.get_by_text("Tom Baker").is_visible()
    # The organisation's name shows under the greeting (the navigation bar keeps it for wide screens).
    assert page.get_by_text("Key Stage 1 Phase Lead · Riverside Learning Trust").is_visible()


def test_wrong_password_says_so_next_to_the_form(demo_trust, page):
    sign_in(page, "supervisor@riverside.example", "not-the-password")
    assert page.get_by_role("alert").get_by_text("correct email address and password").is_visible()


def test_demo_admin_filters_the_staff_list(demo_trust, page):
    sign_in(page, "admin@riverside.example", settings.DEMO_PASSWORD)
    # Staff is one of an admin's daily pages: top-level, not under "More".
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff", exact=True).click()
    # htmx starts on the loaded page; typing before that would not search.
    page.wait_for_load_state("load")
    page.get_by_label("Search").fill("Zara")
    page.wait_for_url("**/staff/?*q=Zara*")
    table = page.locator("#staff-table")
    table.get_by_text("Zara Wright").wait_for()
    assert table.get_by_text("Tom Baker").count() == 0
