"""Sign-off in the browser (issue 16, fault 2): Enter on the unticked "I agree" box sends nothing, and a
refused signature comes back with the error summary focused, the feedback kept and the password asked
again."""

from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from accounts.models import StaffMember
from records import services
from records.models import Record, RecordStatus, Signature

from .conftest import sign_in
from .test_records import held_session  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _submitted(session):
    sarah = StaffMember.objects.get(user__email="supervisor@riverside.example")
    record = services.record_start(actor=sarah, session=session)
    section = record.sections.first()
    services.section_save(actor=sarah, section=section, discussion="Tom is well.")
    services.record_submit(actor=sarah, record=record)
    return record


def test_enter_on_the_unticked_box_sends_nothing_and_a_refusal_focuses_the_summary(held_session, page):  # noqa: F811
    record = _submitted(held_session)
    sign_in(page, "staff@riverside.example", settings.DEMO_PASSWORD)
    page.goto(f"/records/{record.code}/")
    page.get_by_label("Your feedback on the session (optional)").fill("More time for reading, please.")
    page.get_by_label("Your password").fill(settings.DEMO_PASSWORD)
    box = page.get_by_label("I have read the record and agree it is accurate")
    box.focus()
    url = page.url
    # Implicit submission fires the form's submit event within the key press itself.
    page.evaluate("document.getElementById('feedback').addEventListener('submit', () => { window.sent = true; })")
    page.keyboard.press("Enter")
    assert page.evaluate("window.sent === undefined") and page.url == url
    assert page.evaluate("document.activeElement.id") == "id_agree"
    assert not Signature.objects.filter(record=record).exists()

    # Sent with the button, unticked: the summary at the top takes focus; what was typed is kept.
    page.get_by_role("button", name="Agree and sign").click()
    page.wait_for_load_state("load")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    feedback = page.get_by_label("Your feedback on the session (optional)")
    assert feedback.input_value() == "More time for reading, please."
    assert page.get_by_label("Your password").input_value() == ""
    assert page.get_by_text("For your security, enter your password again.").is_visible()
    # The summary's link takes the person to the box.
    page.locator("#error-summary").get_by_role("link").click()
    assert page.evaluate("document.activeElement.id") == "id_agree"

    page.get_by_label("Your password").fill(settings.DEMO_PASSWORD)
    box.check()
    page.get_by_role("button", name="Agree and sign").click()
    page.wait_for_load_state("load")
    record = Record.objects.get(pk=record.pk)
    assert record.status == RecordStatus.AWAITING_SUPERVISOR
    assert record.supervisee_feedback == "More time for reading, please."


def test_on_a_phone_the_record_links_to_its_sign_off_and_says_signed_at_the_top(held_session, page):  # noqa: F811
    from playwright.sync_api import expect

    record = _submitted(held_session)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, "staff@riverside.example", settings.DEMO_PASSWORD)
    page.goto(f"/records/{record.code}/")
    link = page.get_by_role("link", name="Go to sign-off")
    expect(link).to_be_in_viewport()
    sign_off = page.get_by_role("heading", name="Sign-off")
    expect(sign_off).not_to_be_in_viewport()
    link.click()
    expect(sign_off).to_be_in_viewport()

    page.get_by_label("Your password").fill(settings.DEMO_PASSWORD)
    page.get_by_label("I have read the record and agree it is accurate").check()
    page.get_by_role("button", name="Agree and sign").click()
    page.wait_for_load_state("load")
    signature = Signature.objects.get(record=record, signer__user__email="staff@riverside.example")
    when = signature.signed_at.astimezone(ZoneInfo("Europe/London"))
    # Opened again, the record says at the top that the person has signed, and when.
    page.goto(f"/records/{record.code}/")
    signed = page.locator("#signed-by-me")
    expect(signed).to_be_in_viewport()
    expect(signed).to_have_text(f"Signed by you on {when:%a} {when.day} {when:%b %Y} at {when:%H:%M}.")

    # On a desktop the sign-off box sits beside the record: no link needed.
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_role("link", name="Go to sign-off")).to_be_hidden()
