"""Signing a record through its page (issue 16, faults 1 and 2): the supervisee's end-of-session feedback
goes in with the signature, and a refused signature shows its errors beside the fields, keeps what was
typed and changes nothing."""

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import AuditEvent
from records import services
from records.models import RecordStatus, Signature
from records.pdf import record_pdf_context
from tests.factories import PASSWORD

from .helpers import written_record

pytestmark = pytest.mark.django_db


def submitted(cast):
    record = written_record(cast)
    services.record_submit(actor=cast.supervisor, record=record)
    return record


def sign_url(record):
    return reverse("records:record-sign", args=[record.code])


def test_feedback_typed_beside_the_signature_is_signed_with_it_and_reaches_the_pdf(cast, login, client):
    record = submitted(cast)
    response = login(cast.supervisee).post(
        sign_url(record), {"feedback": "Helpful session; more time next time.", "agree": "on", "password": PASSWORD}
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISOR
    assert record.supervisee_feedback == "Helpful session; more time next time."
    signature = Signature.objects.get(record=record, signer=cast.supervisee)
    # The signature covers the feedback: it is in the content the supervisee signed.
    assert signature.content_hash == services.content_hash(record)
    assert AuditEvent.objects.filter(action="record.feedback_saved", object_code=str(record.code)).exists()
    services.record_sign(actor=cast.supervisor, record=record, password=PASSWORD)
    record.refresh_from_db()
    html = render_to_string("records/pdf/record.html", record_pdf_context(record))
    assert "Helpful session; more time next time." in html
    assert "No feedback was recorded." not in html


def test_the_sign_form_holds_the_feedback_box(cast, login):
    record = submitted(cast)
    services.record_set_feedback(actor=cast.supervisee, record=record, feedback="Saved earlier")
    page = login(cast.supervisee).get(reverse("records:record-detail", args=[record.code])).content.decode()
    form = page[page.index(f'action="{sign_url(record)}"') :]
    form = form[: form.index("</form>")]
    assert 'name="feedback"' in form and "Saved earlier" in form
    assert 'name="agree"' in form and 'name="password"' in form


def test_feedback_is_kept_when_the_signature_is_refused(cast, login):
    record = submitted(cast)
    client = login(cast.supervisee)
    response = client.post(sign_url(record), {"feedback": "Kept for me", "password": PASSWORD})
    assert response.status_code == 200  # the page again, with the errors: no redirect that loses them
    page = response.content.decode()
    assert "Kept for me" in page
    record.refresh_from_db()
    assert record.supervisee_feedback == "" and not Signature.objects.filter(record=record).exists()


def test_sign_off_errors_sit_beside_their_fields_with_a_summary(cast, login):
    record = submitted(cast)
    page = login(cast.supervisee).post(sign_url(record), {"password": "wrong", "feedback": "x"}).content.decode()
    # The summary at the top, which the page's script focuses, links to each field.
    assert 'id="error-summary"' in page and 'tabindex="-1"' in page
    summary = page[page.index('id="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert 'href="#id_agree"' in summary
    # Beside the tick box, not only at the top.
    agree = page[page.index('id="id_agree"') :]
    assert "Tick to say you have read the record and agree it is accurate." in agree[:1500]
    # The password box is emptied, and the page says why beside it.
    assert "For your security, enter your password again." in page
    assert 'value="wrong"' not in page
    assert "js/error_summary.js" in page


def test_a_wrong_password_is_shown_beside_the_password_and_the_tick_kept(cast, login):
    record = submitted(cast)
    response = login(cast.supervisee).post(sign_url(record), {"password": "not it", "agree": "on"})
    assert response.status_code == 200
    page = response.content.decode()
    field = page[page.index('id="id_password"') :][:1500]
    assert "That password is not right." in field
    agree = page[page.index('id="id_agree"') - 300 :][:400]
    assert "checked" in agree
    assert not Signature.objects.filter(record=record).exists()


def test_a_refused_signature_is_still_a_logged_read_and_a_stranger_gets_nothing(cast, login):
    record = submitted(cast)
    before = AuditEvent.objects.filter(action="record.viewed", object_code=str(record.code)).count()
    login(cast.supervisee).post(sign_url(record), {"password": PASSWORD})
    assert AuditEvent.objects.filter(action="record.viewed", object_code=str(record.code)).count() == before + 1
    assert login(cast.supervisee2).post(sign_url(record), {"password": PASSWORD}).status_code == 404
