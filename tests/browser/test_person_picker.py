"""A form of a large organisation searches its people instead of listing them (issue 14): a head sets up a
group by typing names, keeps each person ticked while searching for the next, and the page passes axe."""

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import demo, pickers
from supervision.models import SupervisionGroup

from .conftest import sign_in
from .test_accessibility import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def large_trust(monkeypatch):
    # The demo's primary school has a dozen people: above this, its forms search them.
    monkeypatch.setattr(pickers, "PICKER_LIMIT", 5)
    return demo.seed_people(timezone.localdate())


def test_a_head_finds_group_members_by_searching(large_trust, page):
    sign_in(page, "head@riverside.example", settings.DEMO_PASSWORD)
    page.goto("/groups/new/")
    assert page.get_by_label("Tom Baker (Year 2 Teacher)").count() == 0  # nobody listed until searched for
    page.locator("#id_name").fill("Year 2 and Reception")
    members = page.get_by_label("Find people by name or email address")
    members.fill("tom")
    page.get_by_label("Tom Baker (Year 2 Teacher)").check()
    assert page.locator("#id_members_status").inner_text() == "1 person matches “tom”."
    # Searching again keeps Tom ticked; Enter searches instead of sending the half-filled form.
    members.fill("hughes")
    members.press("Enter")
    page.get_by_label("Amy Hughes (Reception Teacher)").check()
    assert page.get_by_label("Tom Baker (Year 2 Teacher)").is_checked()
    assert page.url.endswith("/groups/new/")
    assert axe_violations(page) == []
    page.get_by_label("Confidentiality boundaries").fill("What is said here stays here.")
    page.get_by_role("button", name="Create the group").click()
    page.wait_for_load_state("load")
    group = SupervisionGroup.objects.get(name="Year 2 and Reception")
    assert {m.full_name for m in group.members.all()} == {"Tom Baker", "Amy Hughes"}
    assert group.supervisor.full_name == "Margaret Ellis"  # the head, chosen at the start, untouched
