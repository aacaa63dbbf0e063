"""A signed PDF's statements are prepared and planned once a connection (config.prepared, issue 14).

PostgreSQL with psycopg 3 only: elsewhere `prepared_plans()` changes nothing, and the PDF's other tests
run there as here. What matters is that the statements are run again, not prepared anew for each PDF,
and that each PDF, made on one connection after PostgreSQL has settled on one plan for any record,
still shows its own record and its own people.
"""

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import AuditEvent
from records.models import Record
from records.pdf import store_record_pdf

from .helpers import signed_record
from .test_pdf import pdf_text

pytestmark = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"], reason="prepared statements: PostgreSQL"
)

ROUNDS = 7  # PostgreSQL plans a prepared statement's first five runs for their values, then may keep one


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    settings.PRIVATE_ROOT = tmp_path / "private"
    settings.RECORDS_SIGNING_CERT = settings.RECORDS_SIGNING_KEY = settings.RECORDS_SIGNING_KEY_PASSPHRASE = ""


def _prepared() -> dict[str, int]:
    """The statements this connection has prepared, with how many times each has run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def test_each_pdf_runs_the_same_prepared_statements_and_shows_its_own_record(cast):
    records = [
        signed_record(cast, supervisee=cast.supervisee if n % 2 else cast.supervisee2, days_ago=2 + n)
        for n in range(ROUNDS)
    ]
    before = _prepared()
    for record in records:
        assert store_record_pdf(record.id) is not None
    prepared = {statement: runs for statement, runs in _prepared().items() if statement not in before}
    # The record's own statement, with its organisation and session joined, prepared once and run for
    # every PDF; likewise the record's sections.
    record_runs = [runs for s, runs in prepared.items() if s.startswith('SELECT "records_record"."id"') and "JOIN" in s]
    assert record_runs and max(record_runs) >= ROUNDS
    assert any(runs >= ROUNDS for s, runs in prepared.items() if 'FROM "records_recordsection"' in s)

    for record in records:
        record.refresh_from_db()
        supervisee = record.session.attendees.get()
        text = " ".join(pdf_text((settings.PRIVATE_ROOT / record.pdf_path).read_bytes()).split())
        assert str(record.code) in text
        assert supervisee.full_name in text
        other = cast.supervisee2 if supervisee == cast.supervisee else cast.supervisee
        assert other.full_name not in text
        stored = AuditEvent.objects.get(action="record.pdf_stored", object_code=str(record.code))
        assert stored.details["sha256"] == record.pdf_sha256
    assert Record.objects.filter(pk__in=[r.pk for r in records], pdf_path="").count() == 0
