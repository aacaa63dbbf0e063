"""Two runs of "agreements for everyone" at the same moment, on two database connections (PostgreSQL):
the row locks make the second wait and then find the people done, so nobody gets two agreements.

SQLite has no row locks (it serialises whole writes), so this runs on PostgreSQL only; the same rule is
tested step by step on any database in test_bulk_agreements.py.
"""

import threading

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import AuditEvent, Role
from supervision import bulk_agreements
from supervision.models import AgreementRun, Contract
from tests.factories import OrganisationFactory, SettingFactory, StaffFactory

pytestmark = [
    pytest.mark.serial,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"], reason="row locks: PostgreSQL"),
]

PEOPLE = 120


def test_two_runs_at_once_give_everyone_exactly_one_agreement():
    organisation = OrganisationFactory()
    setting = SettingFactory(organisation=organisation)
    admin = StaffFactory(organisation=organisation, settings=[setting], roles=[(Role.ORG_ADMIN, None)])
    supervisors = [
        StaffFactory(organisation=organisation, settings=[setting], roles=[(Role.SUPERVISOR, setting)])
        for _ in range(4)
    ]
    people = [
        StaffFactory(organisation=organisation, settings=[setting], supervisor=supervisors[i % 4], days=[])
        for i in range(PEOPLE)
    ]
    runs = [AgreementRun.objects.create(organisation=organisation, requested_by=admin, total=PEOPLE) for _ in range(2)]
    start = threading.Barrier(2)
    errors = []

    def work(run):
        try:
            start.wait()
            bulk_agreements.agreements_run(run.id)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    for run in runs:
        run.refresh_from_db()
        assert run.status == "done", run.error
    assert sum(run.created for run in runs) == PEOPLE
    assert Contract.objects.filter(organisation=organisation, end_date__isnull=True).count() == PEOPLE
    for person in people:
        assert Contract.objects.filter(supervisee=person, end_date__isnull=True).count() == 1
    assert AuditEvent.objects.filter(organisation=organisation, action="contract.created").count() == PEOPLE
