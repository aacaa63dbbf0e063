"""Issue 11, finding 9: every password re-confirmation (a record, an addendum, an agreement, a change of
password) counts in the sign-in lockout, a locked account signs nothing, and each failure is audited."""

from datetime import date

from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from records import services as record_services
from records.models import RecordStatus
from supervision import services as supervision_services
from tests.records.helpers import signed_record, written_record

from ..factories import PASSWORD

NEW_PASSWORD = "a-long-new-passphrase-42"


def signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def sign(client, record, password):
    return client.post(
        reverse("records:record-sign", kwargs={"code": record.code}), {"password": password, "agree": "on"}
    )


def failures(purpose=None):
    qs = AuditEvent.objects.filter(action="auth.password_reconfirm_failed")
    return list(qs.filter(details__purpose=purpose) if purpose else qs)


def test_guessing_the_password_on_a_record_locks_the_account_and_signs_nothing(cast):
    record = written_record(cast)
    record_services.record_submit(actor=cast.supervisor, record=record)
    client = signed_in(cast.supervisee)
    statuses = [sign(client, record, f"guess-{i}").status_code for i in range(1, 13)]
    assert statuses[:4] == [200] * 4  # the record page again, the error beside the password (issue 16)
    assert statuses[4] == 429  # the fifth wrong password locks, as at sign-in
    response = sign(client, record, PASSWORD)  # the thirteenth: the right one
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISEE
    assert not record.signatures.exists()
    # The session that guessed was ended; even signed in again, the locked account signs nothing.
    assert response.status_code == 302 and reverse("accounts:login") in response.url
    again = signed_in(cast.supervisee)
    assert sign(again, record, PASSWORD).status_code == 429
    record.refresh_from_db()
    assert not record.signatures.exists()
    # ... and cannot sign in from here either.
    response = Client().post(reverse("accounts:login"), {"username": "supervisee@cast.example", "password": PASSWORD})
    assert response.status_code == 429
    events = failures("record.sign")
    assert len(events) >= 5
    assert all(e.actor == cast.supervisee.user and e.object_code == str(record.code) for e in events)
    assert events[0].details["locked_out"] is True


def test_wrong_passwords_at_sign_in_and_on_an_agreement_share_one_count(cast):
    contract = supervision_services.contract_create(
        actor=cast.supervisor, supervisee=cast.supervisee, supervisor=cast.supervisor, start_date=date(2025, 9, 1)
    )
    anonymous = Client()
    for i in range(3):
        anonymous.post(reverse("accounts:login"), {"username": "supervisee@cast.example", "password": f"x-{i}"})
    client = signed_in(cast.supervisee)
    url = reverse("supervision:contract-sign", kwargs={"code": contract.code})
    assert client.post(url, {"password": "wrong-4", "agree": "on"}).status_code == 302
    assert client.post(url, {"password": "wrong-5", "agree": "on"}).status_code == 429
    assert signed_in(cast.supervisee).post(url, {"password": PASSWORD, "agree": "on"}).status_code == 429
    contract.refresh_from_db()
    assert contract.supervisee_signed_at is None
    assert len(failures("contract.sign")) == 3  # two wrong, and the right one refused while locked


def test_a_locked_account_signs_no_addendum(cast):
    record = signed_record(cast)
    addendum = record_services.addendum_add(actor=cast.supervisor, record=record, text="A correction.")
    client = signed_in(cast.supervisor)
    url = reverse("records:addendum-sign", kwargs={"code": record.code, "addendum": addendum.code})
    for i in range(5):
        client.post(url, {"password": f"guess-{i}", "agree": "on"})
    assert signed_in(cast.supervisor).post(url, {"password": PASSWORD, "agree": "on"}).status_code == 429
    assert not addendum.signatures.exists()
    assert len(failures("record.addendum_sign")) >= 5


def test_guessing_the_current_password_on_the_change_page_locks_too(cast):
    client = signed_in(cast.supervisor2)
    url = reverse("accounts:password-change")
    data = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    for i in range(4):
        response = client.post(url, {"old_password": f"guess-{i}", **data})
        assert response.status_code == 200
        assert "That password is not right." in response.content.decode()
    assert client.post(url, {"old_password": "guess-5", **data}).status_code == 429
    assert signed_in(cast.supervisor2).post(url, {"old_password": PASSWORD, **data}).status_code == 429
    cast.supervisor2.user.refresh_from_db()
    assert cast.supervisor2.user.check_password(PASSWORD)
    assert len(failures("auth.password_change")) >= 5


def test_a_right_password_signs_and_clears_the_count(cast):
    record = written_record(cast)
    record_services.record_submit(actor=cast.supervisor, record=record)
    client = signed_in(cast.supervisee)
    for i in range(4):
        sign(client, record, f"guess-{i}")
    assert sign(client, record, PASSWORD).status_code == 302
    record.refresh_from_db()
    assert record.status == RecordStatus.AWAITING_SUPERVISOR
    # The count starts again, as after a sign-in.
    for i in range(4):
        response = Client().post(
            reverse("accounts:login"), {"username": "supervisee@cast.example", "password": f"later-{i}"}
        )
        assert response.status_code == 200
