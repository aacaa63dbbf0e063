"""The record's whole loop in the browser, and draft autosave."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import demo
from records.models import Record, RecordStatus
from supervision import services as supervision_services
from supervision.models import Contract
from tests.supervision.helpers import at

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def held_session():
    """Sarah supervised Tom yesterday; the agreement is signed."""
    today = timezone.localdate()
    organisation = demo.seed_people(today)
    tom = organisation.staff.get(user__email="staff@riverside.example")
    sarah = organisation.staff.get(user__email="supervisor@riverside.example")
    contract = supervision_services.contract_create(actor=sarah, supervisee=tom, supervisor=sarah, start_date=today)
    Contract.objects.filter(pk=contract.pk).update(
        supervisee_signed_at=timezone.now(), supervisor_signed_at=timezone.now()
    )
    contract.refresh_from_db()
    return supervision_services.session_book(
        actor=sarah, contract=contract, starts_at=at(today - timedelta(days=1), 10), minutes=30, check=False, send=False
    )


def _save_status(page, section_heading):
    card = page.get_by_role("region", name=section_heading)
    return card.locator(".save-status")


def test_draft_text_survives_a_reload(held_session, page):
    sign_in(page, "supervisor@riverside.example", settings.DEMO_PASSWORD)
    page.goto(f"/sessions/{held_session.code}/")
    page.get_by_role("button", name="Write the record").click()
    page.wait_for_load_state("load")
    box = page.get_by_label("Discussion and reflection: Health and Welfare")
    box.fill("Tom is well; the new timetable has helped his workload.")
    _save_status(page, "Health and Welfare").get_by_text("Saved at").wait_for()
    page.reload()
    assert page.get_by_label("Discussion and reflection: Health and Welfare").input_value() == (
        "Tom is well; the new timetable has helped his workload."
    )


def test_the_whole_loop(held_session, page, new_page):
    # The supervisor records and submits.
    sign_in(page, "supervisor@riverside.example", settings.DEMO_PASSWORD)
    page.goto(f"/sessions/{held_session.code}/")
    page.get_by_role("button", name="Write the record").click()
    page.wait_for_load_state("load")
    page.get_by_label("Discussion and reflection: Practice Progress").fill("Strong phonics teaching observed.")
    _save_status(page, "Practice Progress").get_by_text("Saved at").wait_for()
    page.get_by_role("button", name="Submit to Tom to agree").click()
    page.wait_for_load_state("load")
    record = Record.objects.get(session=held_session)
    assert record.status == RecordStatus.AWAITING_SUPERVISEE

    # The supervisee comments.
    tom = new_page()
    sign_in(tom, "staff@riverside.example", settings.DEMO_PASSWORD)
    tom.goto(f"/records/{record.code}/")
    tom.get_by_label("Your comment").fill("Please also record the reading scheme training I asked for.")
    tom.get_by_role("button", name="Send back with my comment").click()
    tom.wait_for_load_state("load")
    record.refresh_from_db()
    assert record.status == RecordStatus.DRAFT

    # The supervisor revises and submits again.
    page.goto(f"/records/{record.code}/")
    assert page.get_by_text("Please also record the reading scheme training").is_visible()
    page.get_by_label("Discussion and reflection: Professional Development").fill("Reading scheme training booked.")
    _save_status(page, "Professional Development").get_by_text("Saved at").wait_for()
    page.get_by_role("button", name="Submit to Tom to agree").click()
    page.wait_for_load_state("load")

    # Both sign: the supervisee first.
    tom.goto(f"/records/{record.code}/")
    tom.get_by_label("Your password").fill(settings.DEMO_PASSWORD)
    tom.get_by_label("I have read the record and agree it is accurate").check()
    tom.get_by_role("button", name="Agree and sign").click()
    tom.wait_for_load_state("load")
    page.goto(f"/records/{record.code}/")
    page.get_by_label("Your password").fill(settings.DEMO_PASSWORD)
    page.get_by_label("I have read the record and agree it is accurate").check()
    page.get_by_role("button", name="Sign and lock the record").click()
    page.wait_for_load_state("load")
    record.refresh_from_db()
    assert record.status == RecordStatus.SIGNED and record.pdf_path

    # The supervisee downloads the signed PDF.
    tom.goto(f"/records/{record.code}/")
    with tom.expect_download() as download_info:
        tom.get_by_role("link", name="Signed PDF").click()
    path = download_info.value.path()
    with open(path, "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
