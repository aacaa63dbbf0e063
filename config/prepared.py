"""Prepared statements for the queries of one person's page, with plans PostgreSQL keeps (issue 14).

A person's home asks a score of small questions of their own rows (their agreement, sessions, records to
sign, actions, decisions), each by index and answered in a fraction of a millisecond; PostgreSQL took
longer to plan them than to run them (a head's home: about 10 ms planning, 4 ms running). Inside
`prepared_plans()`, each statement is prepared once a connection (`config.postgresql`) and run again with
new values. PostgreSQL plans the first five runs with their values and then, where a plan for any values
costs no more than theirs, keeps one plan and plans no more.

Only where the best plan does not depend on whose rows are asked for: statements that find one person's
rows by an index on that person, the few open flags and decisions of the settings a lead leads, and a
record found by its unique code for the person opening it (`records.access.get_record_for_user`: a join
of eleven tables PostgreSQL took 7 ms to plan and 0.4 ms to run), and the statements that make and store
a record's signed PDF, each by the record's id (`records.pdf.store_record_pdf`: 5-6 ms a PDF,
which an export of missing PDFs pays a thousand times). Not a
dashboard's or a list's statements over a scope of settings or an organisation, whose best plan changes
with its size (a trust of 12,000 staff beside a nursery of ten in the same database), and which keep
being planned with their values every time.

Only PostgreSQL with psycopg 3, reading moments in UTC (our settings), prepares; elsewhere (SQLite)
this changes nothing.
"""

from contextlib import contextmanager
from contextvars import ContextVar

PREPARED = ContextVar("prepared_plans", default=False)


@contextmanager
def prepared_plans():
    """Statements run inside are prepared and kept by the connection (`config.postgresql`)."""
    token = PREPARED.set(True)
    try:
        yield
    finally:
        PREPARED.reset(token)
