"""Agreements: created from the organisation's template, signed by both, changed with history kept."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditEvent
from supervision import services
from supervision.models import Contract
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _new(cast, **kwargs):
    return services.contract_create(
        actor=cast.supervisor,
        supervisee=cast.supervisee,
        supervisor=cast.supervisor,
        start_date=date(2025, 9, 1),
        **kwargs,
    )


def test_agreement_copies_the_built_in_template(cast):
    contract = _new(cast)
    assert "attend regularly and on time" in contract.supervisee_responsibilities
    assert "reviewed every year" in contract.supervisor_responsibilities
    assert "gross misconduct" in contract.confidentiality_terms
    assert contract.review_date == date(2026, 8, 31)


def test_active_only_when_both_have_signed(cast):
    contract = _new(cast)
    assert not Contract.objects.active(date(2025, 10, 1)).filter(pk=contract.pk).exists()
    services.contract_sign(signer=cast.supervisee, contract=contract, password=PASSWORD)
    assert contract.status(date(2025, 10, 1)) == "awaiting signatures"
    services.contract_sign(signer=cast.supervisor, contract=contract, password=PASSWORD)
    assert Contract.objects.active(date(2025, 10, 1)).filter(pk=contract.pk).exists()
    assert contract.signed_hash == services.contract_content_hash(contract)
    events = AuditEvent.objects.filter(action="contract.signed", object_code=str(contract.code))
    assert {e.details["capacity"] for e in events} == {"supervisee", "supervisor"}


def test_signing_needs_the_right_password_and_a_party(cast):
    contract = _new(cast)
    with pytest.raises(ValidationError):
        services.contract_sign(signer=cast.supervisee, contract=contract, password="wrong")
    with pytest.raises(ValidationError):
        services.contract_sign(signer=cast.head, contract=contract, password=PASSWORD)
    contract.refresh_from_db()
    assert contract.supervisee_signed_at is None


def test_a_change_after_a_signature_voids_it(cast):
    contract = _new(cast)
    services.contract_sign(signer=cast.supervisee, contract=contract, password=PASSWORD)
    services.contract_update(actor=cast.supervisor, contract=contract, changes={"session_minutes": 45})
    contract.refresh_from_db()
    assert contract.supervisee_signed_at is None and contract.signed_hash == ""


def test_changing_supervisor_ends_one_agreement_and_starts_another(cast):
    contract = _new(cast)
    new = services.contract_change_supervisor(
        actor=cast.head, contract=contract, supervisor=cast.supervisor2, on=date(2026, 1, 5)
    )
    contract.refresh_from_db()
    assert contract.end_date == date(2026, 1, 4)
    assert new.previous == contract and new.supervisor == cast.supervisor2 and not new.is_signed
    cast.supervisee.refresh_from_db()
    assert cast.supervisee.supervisor == cast.supervisor2


def test_one_current_agreement_per_supervisee(cast):
    _new(cast)
    with pytest.raises(ValidationError):
        _new(cast)


def test_annual_review_renews_with_history(cast):
    contract = _new(cast)
    renewed = services.contract_renew(actor=cast.supervisor, contract=contract, on=date(2026, 9, 1))
    assert renewed.previous == contract and renewed.review_date == date(2027, 8, 31)
    assert contract.status(date(2026, 9, 2)) == "ended"


def test_supervisors_are_themselves_supervised(cast):
    """Seeds 000 and 003: supervision of supervision."""
    theirs = services.contract_create(
        actor=cast.head, supervisee=cast.supervisor, supervisor=cast.head, start_date=date(2025, 9, 1)
    )
    ours = _new(cast)
    assert theirs.supervisee == ours.supervisor


def test_agreement_pages(cast, login):
    contract = _new(cast)
    client = login(cast.supervisee)
    page = client.get(f"/contracts/{contract.code}/")
    assert page.status_code == 200 and "Sign the agreement" in page.content.decode()
    response = client.post(f"/contracts/{contract.code}/sign/", {"password": PASSWORD, "agree": "on"})
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.supervisee_signed_at is not None
    assert login(cast.supervisee2).get(f"/contracts/{contract.code}/").status_code == 404
    assert login(cast.outsider).get(f"/contracts/{contract.code}/").status_code == 404
    assert login(cast.head).get(f"/contracts/{contract.code}/").status_code == 200
    assert login(cast.supervisee).get(f"/contracts/{contract.code}/edit/").status_code == 403


def test_creating_an_agreement_in_the_browser_form(cast, login):
    client = login(cast.supervisor)
    response = client.post(
        "/contracts/new/",
        {
            "supervisee": cast.supervisee.id,
            "supervisor": cast.supervisor.id,
            "frequency": "half_termly",
            "session_minutes": 30,
            "venue": "Room 4",
            "start_date": "2025-09-01",
            "confidentiality_terms": "Confidential.",
        },
    )
    assert response.status_code == 302
    assert Contract.objects.filter(supervisee=cast.supervisee, venue="Room 4").exists()
    again = client.post(
        "/contracts/new/",
        {
            "supervisee": cast.supervisee.id,
            "supervisor": cast.supervisor.id,
            "frequency": "half_termly",
            "session_minutes": 30,
            "start_date": "2025-09-01",
            "confidentiality_terms": "Confidential.",
        },
    )
    assert again.status_code == 200 and "already has a current agreement" in again.content.decode()


# --- The agreement's form pages -----------------------------------------------------------------------


def _signed(cast):
    contract = _new(cast)
    for signer in (cast.supervisee, cast.supervisor):
        services.contract_sign(signer=signer, contract=contract, password=PASSWORD)
    return contract


def test_raising_the_frequency_through_its_page(cast, login):
    contract = _signed(cast)
    url = f"/contracts/{contract.code}/override/"
    client = login(cast.supervisor)
    assert "Raise the frequency" in client.get(url).content.decode()
    bad = client.post(url, {"frequency": "monthly", "reason": "Casework", "starts": "2025-11-10", "ends": "2025-11-01"})
    assert bad.status_code == 200 and "must end on or after" in bad.content.decode()
    assert not contract.overrides.exists()
    good = client.post(
        url, {"frequency": "monthly", "reason": "Casework", "starts": "2025-11-01", "ends": "2025-12-19"}
    )
    assert good.status_code == 302 and good["Location"] == f"/contracts/{contract.code}/"
    assert contract.overrides.get().reason == "Casework"


def test_changing_the_supervisor_goes_to_the_new_agreement(cast, login):
    contract = _signed(cast)
    url = f"/contracts/{contract.code}/change-supervisor/"
    client = login(cast.supervisor)
    missing = client.post(url, {"on": "2025-11-03"})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    assert Contract.objects.count() == 1
    response = client.post(url, {"supervisor": cast.supervisor2.pk, "on": "2025-11-03"})
    successor = Contract.objects.get(previous=contract)
    assert response.status_code == 302 and response["Location"] == f"/contracts/{successor.code}/"
    assert successor.supervisor == cast.supervisor2 and not successor.is_signed
    contract.refresh_from_db()
    assert contract.end_date == date(2025, 11, 2)


def test_ending_an_agreement_through_its_page(cast, login):
    contract = _signed(cast)
    url = f"/contracts/{contract.code}/end/"
    client = login(cast.supervisor)
    missing = client.post(url, {"end_date": "2025-12-19"})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    contract.refresh_from_db()
    assert contract.end_date is None
    response = client.post(url, {"end_date": "2025-12-19", "reason": "Moving school"})
    assert response.status_code == 302 and response["Location"] == f"/contracts/{contract.code}/"
    contract.refresh_from_db()
    assert contract.end_date == date(2025, 12, 19)
    # An ended agreement has no more form pages.
    assert client.get(url).status_code == 403
