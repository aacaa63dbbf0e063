"""Agreements for everyone (issue 15): one action makes every missing agreement and asks each pair to sign."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Role
from supervision import bulk_agreements, services
from supervision.models import AgreementRun, Contract, Notification, NotificationKind
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

BULK = reverse("supervision:contract-bulk")


def status_url(run):
    return reverse("supervision:contract-bulk-status", kwargs={"code": run.code})


def current(person):
    return Contract.objects.filter(supervisee=person, end_date__isnull=True)


def to_sign():
    return Notification.objects.filter(kind=NotificationKind.CONTRACT_TO_SIGN)


def supervised(cast, count, **kwargs):
    return [
        StaffFactory(organisation=cast.organisation, settings=[cast.primary], supervisor=cast.supervisor, **kwargs)
        for _ in range(count)
    ]


# The cast: the supervisee, the DSL and the supervisor of the primary school and the supervisee of the
# secondary have a supervisor and no agreement (4 agreements); asked to sign are those four and the head
# and second supervisor (6 people: the supervisor is both a supervisee and a supervisor).


def test_the_confirmation_page_says_how_many_agreements_and_people(cast, login):
    response = login(cast.org_admin).get(BULK)
    assert response.status_code == 200
    assert response.context["plan"] == {"agreements": 4, "people": 6}
    page = response.content.decode()
    assert "Make 4 agreements and ask 6 people to sign" in page
    assert Contract.objects.count() == 0  # looking changes nothing


def test_the_confirmation_page_costs_the_same_at_two_sizes(cast, login):
    client = login(cast.org_admin)
    client.get(BULK)
    with CaptureQueriesContext(connection) as small:
        client.get(BULK)
    supervised(cast, 15)
    with CaptureQueriesContext(connection) as large:
        response = client.get(BULK)
    assert response.context["plan"]["agreements"] == 19
    assert len(large) == len(small)


def test_a_run_makes_each_missing_agreement_from_the_wording_and_asks_each_pair_once(
    cast, login, django_capture_on_commit_callbacks
):
    template = services.contract_template_for(cast.organisation)
    template.purpose = "Our own purpose, as the trust wrote it."
    template.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = login(cast.org_admin).post(BULK)

    run = AgreementRun.objects.get()
    assert response.status_code == 302
    assert response.url == status_url(run)
    assert (run.status, run.in_background, run.total, run.created, run.skipped, run.asked) == (
        "done", False, 4, 4, 0, 8,
    )  # fmt: skip
    made = {c.supervisee: c for c in Contract.objects.select_related("supervisee", "supervisor")}
    assert set(made) == {cast.supervisee, cast.supervisee2, cast.dsl, cast.supervisor}
    for supervisee, contract in made.items():
        assert contract.supervisor == supervisee.supervisor
        assert contract.purpose == "Our own purpose, as the trust wrote it."
        assert contract.frequency == cast.organisation.default_frequency
        assert contract.start_date == timezone.localdate()
        assert not contract.is_signed
        assert contract.created_by == cast.org_admin
    # Each party of each agreement asked once, in the product and by email.
    pairs = sorted((n.recipient_id, n.object_code) for n in to_sign())
    expected = sorted(
        (person.id, str(c.code)) for c in made.values() for person in (c.supervisee, c.supervisor)
    )  # fmt: skip
    assert pairs == expected
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        p.user.email for c in made.values() for p in (c.supervisee, c.supervisor)
    )
    assert all(n.url == reverse("supervision:contract-detail", kwargs={"code": n.object_code}) for n in to_sign())
    # Audited: each agreement by the existing service, and the run once with its counts.
    assert AuditEvent.objects.filter(action="contract.created", actor=cast.org_admin.user).count() == 4
    [event] = AuditEvent.objects.filter(action="contract.bulk_run")
    assert event.actor == cast.org_admin.user
    assert event.organisation == cast.organisation
    assert event.details == {
        "status": "done", "people": 4, "created": 4, "skipped": 0, "asked_to_sign": 8, "in_background": False,
    }  # fmt: skip

    page = login(cast.org_admin).get(status_url(run)).content.decode()
    assert 'aria-valuenow="100"' in page
    assert "hx-trigger" not in page  # finished: nothing polls


def test_running_it_again_makes_nothing_new(cast, login, django_capture_on_commit_callbacks):
    client = login(cast.org_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(BULK)
    emails = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(BULK, follow=True)
    assert "Everyone with a supervisor already has an agreement" in response.content.decode()
    assert AgreementRun.objects.count() == 1
    assert Contract.objects.count() == 4
    assert to_sign().count() == 8
    assert len(mail.outbox) == emails
    assert client.get(BULK).context["plan"] == {"agreements": 0, "people": 0}


def test_who_is_left_out(cast, login, django_capture_on_commit_callbacks):
    """Someone with an agreement already, a leaver, someone whose supervisor has left, someone with no
    supervisor, and another organisation's people."""
    yesterday = timezone.localdate() - timedelta(days=1)
    existing = services.contract_create(
        actor=cast.supervisor, supervisee=cast.supervisee, supervisor=cast.supervisor, start_date=yesterday
    )
    [leaver] = supervised(cast, 1, leaving_date=yesterday)
    gone = StaffFactory(organisation=cast.organisation, leaving_date=yesterday)
    [orphan] = supervised(cast, 1)
    orphan.supervisor = gone
    orphan.save()
    assert login(cast.org_admin).get(BULK).context["plan"]["agreements"] == 3
    with django_capture_on_commit_callbacks(execute=True):
        login(cast.org_admin).post(BULK)
    assert list(current(cast.supervisee)) == [existing]
    assert not current(leaver).exists()
    assert not current(orphan).exists()
    assert not current(cast.head).exists()
    assert not Contract.objects.filter(organisation=cast.other_organisation).exists()
    assert Contract.objects.count() == 4


def test_an_admin_of_one_setting_makes_that_settings_agreements_only(cast, login, django_capture_on_commit_callbacks):
    admin = StaffFactory(
        organisation=cast.organisation, settings=[cast.secondary], roles=[(Role.ORG_ADMIN, cast.secondary)]
    )
    assert login(admin).get(BULK).context["plan"] == {"agreements": 1, "people": 2}
    with django_capture_on_commit_callbacks(execute=True):
        login(admin).post(BULK)
    assert [c.supervisee for c in Contract.objects.all()] == [cast.supervisee2]


def test_two_runs_that_overlap_give_nobody_two_agreements(cast):
    """Two runs started at the same moment (the second before the first finished): the second looks
    again under the lock and finds everyone done."""
    first = AgreementRun.objects.create(organisation=cast.organisation, requested_by=cast.org_admin, total=4)
    second = AgreementRun.objects.create(organisation=cast.organisation, requested_by=cast.org_admin, total=4)
    bulk_agreements.agreements_run(first.id)
    bulk_agreements.agreements_run(second.id)
    bulk_agreements.agreements_run(second.id)  # delivered twice: a finished run returns at once
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.created, first.skipped) == (4, 0)
    assert (second.status, second.created, second.skipped) == ("done", 0, 0)
    for person in (cast.supervisee, cast.supervisee2, cast.dsl, cast.supervisor):
        assert current(person).count() == 1
    assert AuditEvent.objects.filter(action="contract.bulk_run").count() == 2


def test_people_already_done_when_their_batch_is_locked_are_skipped(cast, monkeypatch):
    """The batch's people are chosen, then locked and looked at again: one whose agreement another run
    made in between is skipped, and the database would refuse a second in any case."""
    run = AgreementRun.objects.create(organisation=cast.organisation, requested_by=cast.org_admin, total=4)
    real = bulk_agreements.people_needing_agreements
    calls = []

    def another_run_got_there(admin, today=None):
        calls.append(1)
        if len(calls) == 2:  # under the lock: another run has just made the supervisee's agreement
            services.contract_create(
                actor=admin, supervisee=cast.supervisee, supervisor=cast.supervisor, start_date=timezone.localdate()
            )
        return real(admin, today)

    monkeypatch.setattr(bulk_agreements, "people_needing_agreements", another_run_got_there)
    bulk_agreements.agreements_run(run.id)
    run.refresh_from_db()
    assert (run.created, run.skipped, run.done) == (3, 1, 4)
    assert current(cast.supervisee).count() == 1


def test_a_start_while_a_run_is_under_way_returns_that_run(cast):
    under_way = AgreementRun.objects.create(organisation=cast.organisation, requested_by=cast.org_admin, total=4)
    assert bulk_agreements.agreements_start(actor=cast.org_admin) == under_way
    # A run lost for over an hour (its worker died) no longer holds others back.
    AgreementRun.objects.filter(pk=under_way.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert bulk_agreements.agreements_start(actor=cast.org_admin) != under_way


def test_a_large_organisation_runs_in_the_background_with_a_progress_bar(
    cast, login, settings, django_capture_on_commit_callbacks
):
    settings.AGREEMENTS_IN_BACKGROUND_OVER = 20
    people = supervised(cast, 60)
    client = login(cast.org_admin)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(BULK)
    run = AgreementRun.objects.get()
    assert response.url == status_url(run)
    assert run.in_background and run.status == "queued" and run.total == 64
    assert Contract.objects.count() == 0  # nothing is made in the request

    # While it waits for a worker, the page polls a small status URL (no script of its own).
    page = client.get(status_url(run)).content.decode()
    assert f'hx-get="{status_url(run)}"' in page and 'hx-trigger="every 1s"' in page
    assert 'role="progressbar"' in page and 'aria-valuenow="0"' in page
    assert "<script" not in page.split("<main", 1)[-1]
    partial = client.get(status_url(run), headers={"HX-Request": "true"})
    assert partial.templates[0].name == "supervision/includes/bulk_status.html"
    assert "hx-trigger" in partial.content.decode()

    # The worker (Celery, eager in the tests) runs the queued task.
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    run.refresh_from_db()
    assert (run.status, run.done, run.created, run.asked) == ("done", 64, 64, 128)
    assert all(current(p).count() == 1 for p in people)
    partial = client.get(status_url(run), headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in partial and 'aria-valuenow="100"' in partial
    assert "64" in partial
    event = AuditEvent.objects.get(action="contract.bulk_run")
    assert event.details["in_background"] is True and event.details["created"] == 64

    # And again: nothing left to do.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(BULK)
    assert AgreementRun.objects.count() == 1
    assert Contract.objects.count() == 64


def test_progress_shows_part_way(cast, login):
    run = AgreementRun.objects.create(
        organisation=cast.organisation, requested_by=cast.org_admin, total=400, done=150, status="running",
        in_background=True,
    )  # fmt: skip
    page = login(cast.org_admin).get(status_url(run), headers={"HX-Request": "true"}).content.decode()
    assert "150 of 400 people looked at" in page
    assert 'aria-valuenow="37"' in page


def test_a_failed_run_says_so_and_is_audited(cast, login, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(bulk_agreements, "contract_create", broken)
    response = login(cast.org_admin).post(BULK, follow=True)
    run = AgreementRun.objects.get()
    assert run.status == "failed"
    assert "It did not finish" in response.content.decode()
    assert "Run it again" in response.content.decode()
    event = AuditEvent.objects.get(action="contract.bulk_run")
    assert event.details["status"] == "failed" and event.details["created"] == 0
    assert Contract.objects.count() == 0


def test_only_organisation_admins_start_it(cast, login):
    for person in (cast.head, cast.supervisor, cast.supervisee):
        assert login(person).post(BULK).status_code == 403
    assert not AgreementRun.objects.exists()
    assert Contract.objects.count() == 0
