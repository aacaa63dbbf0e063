"""The DSL's journey (issue 6): the dashboard, the overdue list behind it, a record's notes read after
giving a reason, and the supervisee seeing who read them and why."""

import io
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import expect

from accounts.models import AuditEvent
from records.demo import NOTES
from records.models import RecordAccess

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "Amy missed supervision last half term: checking what support was agreed at her last session."


@pytest.fixture
def demo_trust(monkeypatch):
    """The whole demo, as `make run` seeds it. Its signed records' PDFs are left to the worker there;
    here nobody renders them (this journey does not download one)."""
    from records.tasks import render_record_pdf

    monkeypatch.setattr(render_record_pdf, "delay", lambda *args, **kwargs: None)
    call_command("seed_demo", quiet_logins=True, stdout=io.StringIO())


def test_the_dsl_reads_an_overdue_supervisees_record_with_a_reason_and_she_sees_it(
    demo_trust, page, new_page, live_server
):
    sign_in(page, "dsl@riverside.example", settings.DEMO_PASSWORD)
    page.get_by_role("link", name="Dashboard", exact=True).click()
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name=re.compile("Compliance")).first.is_visible()

    # The half term that has ended: who had no session held in it.
    page.get_by_role("link", name=re.compile(r"\d+ agreements? overdue")).click()
    page.wait_for_load_state("load")
    row = page.get_by_role("row").filter(has_text="Amy Hughes")
    assert row.get_by_text("Sarah Collins").is_visible()
    # Overdue by so many days, or (issue 16) the day she was seen once it ended.
    assert row.get_by_text(re.compile(r"^(\d+ days|Caught up on \w{3} \d{1,2} \w{3} \d{4})$")).is_visible()

    # Her last record: the metadata only, until the DSL says why.
    row.get_by_role("link", name=re.compile("the record of Amy Hughes")).click()
    page.wait_for_load_state("load")
    assert page.locator("#notes-closed").is_visible()
    # Which sections a demo supervisor filled in depends on the day the demo was made: any of them will do.
    any_notes = re.compile("|".join(re.escape(text) for text in NOTES.values() if text))
    assert page.get_by_text(any_notes).count() == 0
    page.get_by_role("link", name="Read the notes").click()
    page.wait_for_load_state("load")

    # A reason too short is refused next to the field, and nothing is opened.
    page.get_by_label("Why do you need to read this record?").fill("Checking")
    page.get_by_role("button", name="Read the record").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("Say why in at least").is_visible()
    assert RecordAccess.objects.count() == 0

    page.get_by_label("Why do you need to read this record?").fill(REASON)
    page.get_by_role("button", name="Read the record").click()
    page.wait_for_load_state("load")
    assert page.locator("#reading-reason").get_by_text(REASON).is_visible()
    # Waits for it (the page's scripts may still be laying the notes out) rather than looking once.
    expect(page.get_by_text(any_notes).first).to_be_visible()
    record_path = page.url.removeprefix(live_server.url)
    access = RecordAccess.objects.get()
    assert access.viewer.user.email == "dsl@riverside.example" and access.reason == REASON
    assert AuditEvent.objects.filter(action="record.reasoned_access", details__reason=REASON).exists()

    # Amy, in a browser of her own, sees who read her record, when and why.
    amy = new_page()
    sign_in(amy, "amy.hughes@riverside.example", settings.DEMO_PASSWORD)
    amy.goto(record_path)
    readings = amy.get_by_role("region", name="Who has read this record")
    reading = readings.get_by_role("row").filter(has_text="Daniel Price")
    assert reading.get_by_text(REASON).is_visible()
    assert reading.get_by_text("Designated safeguarding lead").is_visible()
