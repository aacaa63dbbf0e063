"""Issue 11 part 2, findings 6 and 7: an auditor sees only what a live grant covers, and the audit trail
shows safeguarding details (child references, flag kinds) only to those who may read them."""

import csv
import io
from datetime import timedelta

from django.utils import timezone

from accounts.models import AuditEvent, Role
from records import services
from records.models import FlagKind
from records.oversight import auditor_grant_revoke

from ..factories import StaffFactory
from ..records.helpers import live_grant, signed_record, written_record

CHILD = "CP-REF-4471"


def test_an_auditor_without_a_live_grant_sees_no_trail_dashboard_or_compliance_csv(cast, login):
    client = login(cast.auditor)
    for url in ("/audit/", "/dashboard/", "/dashboard/overdue/", "/exports/compliance.csv"):
        assert client.get(url).status_code == 403, url


def test_a_revoked_grant_closes_the_trail_again(cast, login):
    grant = live_grant(cast)
    assert login(cast.auditor).get("/audit/").status_code == 200
    auditor_grant_revoke(actor=cast.org_admin, grant=grant)
    assert login(cast.auditor).get("/audit/").status_code == 403
    assert login(cast.auditor).get("/dashboard/").status_code == 403


def test_an_auditor_sees_only_events_of_records_inside_the_grant(cast, login):
    inside = signed_record(cast)  # primary school
    outside = signed_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)  # secondary
    live_grant(cast, settings=[cast.primary])
    page = login(cast.auditor).get("/audit/", {"action": "record.signed"}).content.decode()
    assert str(inside.code) in page or inside.session.starts_at.strftime("%-d %b %Y") in page
    rows = login(cast.auditor).get("/audit/").context["rows"]
    codes = {e.object_code for e in rows}
    assert str(inside.code) in codes and str(outside.code) not in codes
    assert all(e.object_type == "record" for e in rows)


def test_an_auditors_trail_is_paged_as_the_covered_events_are(cast, login, monkeypatch):
    """An auditor's page reads its rows newest first, each tested against the covered records (issue 14):
    the same events and order as the plain query of the trail, page after page, with and without a filter.
    Filtered, the page counts them; the whole trail is paged without a count (`UncountedPaginator`)."""
    from accounts import views_audit
    from records.access import audit_events_in_grants

    monkeypatch.setattr(views_audit, "PAGE_SIZE", 3)
    signed_record(cast)
    signed_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)  # outside the grant
    written_record(cast)
    live_grant(cast, settings=[cast.primary])
    client = login(cast.auditor)
    trail = audit_events_in_grants(cast.auditor, AuditEvent.objects.visible_to(cast.auditor))
    for filters in ({}, {"action": "record.signed"}):
        expected = list(trail.filter(**filters).order_by("-created_at", "-id").values_list("id", flat=True))
        assert len(expected) > 3 or filters
        shown, number = [], 1
        while True:
            response = client.get("/audit/", {**filters, "page": number})
            page = response.context["page"]
            assert page.paginator.count == (len(expected) if filters else None)
            assert page.number == number
            shown += [e.id for e in response.context["rows"]]
            if not page.has_next():
                break
            number += 1
        assert shown == expected
        assert number == -(-len(expected) // 3)  # as many pages as a count would have made


def test_an_auditors_whole_trail_says_it_is_not_counted_and_pages_by_newer_and_older(cast, login, monkeypatch):
    from accounts import views_audit
    from records.access import audit_events_in_grants

    monkeypatch.setattr(views_audit, "PAGE_SIZE", 2)
    for _ in range(2):
        signed_record(cast)  # each started, submitted and signed: events about covered records
    live_grant(cast, settings=[cast.primary])
    client = login(cast.auditor)
    total = audit_events_in_grants(cast.auditor, AuditEvent.objects.visible_to(cast.auditor)).count()
    pages = -(-total // 2)
    assert pages >= 3
    first = client.get("/audit/").content.decode()
    assert "Events about the records your audit access covers, newest first" in first
    assert "Page 1</span>" in first and "Page 1 of" not in first
    assert "page=2" in first and "Newer" not in first
    middle = client.get("/audit/", {"page": 2}).content.decode()
    assert "page=1" in middle and "page=3" in middle and "Page 2</span>" in middle
    last = client.get("/audit/", {"page": pages})
    assert last.context["page"].number == pages and len(last.context["rows"]) == total - 2 * (pages - 1)
    assert not last.context["page"].has_next() and "Older" not in last.content.decode()
    # Past the end, or not a number: the first page, as for a counted trail's bad page number.
    for number in (pages + 1, 99, "x", 0, -1):
        assert client.get("/audit/", {"page": number}).context["page"].number == 1
    # Filtered, the events are counted.
    signed = audit_events_in_grants(cast.auditor, AuditEvent.objects.filter(action="record.signed")).count()
    filtered = client.get("/audit/", {"action": "record.signed"}).content.decode()
    assert signed >= 2 and f"{signed} events match these filters, newest first" in filtered


def test_an_auditor_is_offered_every_record_action_and_no_other_object(cast, login):
    """An auditor's choices are the product's record actions, not read from the trail: one that does not
    occur in the covered records matches nothing."""
    from accounts.audit_words import ACTION_SENTENCES

    signed_record(cast)
    live_grant(cast, settings=[cast.primary])
    client = login(cast.auditor)
    form = client.get("/audit/").context["form"]
    [(heading, options)] = form.fields["action"].choices[1:]
    assert heading == "Records"
    offered = {value for value, _ in options}
    assert offered == {"record.*"} | {a for a in ACTION_SENTENCES if a.startswith("record.")}
    assert {"record.viewed_by_auditor", "record.flag_raised", "record.signed"} <= offered
    assert form.fields["object_type"].choices == [("", "Any object"), ("record", "Record")]
    response = client.get("/audit/", {"action": "record.flag_raised"})
    assert response.status_code == 200 and response.context["rows"] == []
    assert "Nothing matches these filters" in response.content.decode()


def test_an_auditors_trail_costs_the_same_queries_however_many_records_it_covers(cast, login):
    """The auditor's page (its rows newest first, counted when filtered): a fixed number of queries, at one
    covered record and at four."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    live_grant(cast, settings=[cast.primary])
    client = login(cast.auditor)

    def measure(query):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/audit/", query)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.context["rows"])

    signed_record(cast)
    small = [measure(q) for q in ({}, {"action": "record.signed"})]
    for _ in range(3):
        signed_record(cast)
    large = [measure(q) for q in ({}, {"action": "record.signed"})]
    for (queries_small, rows_small), (queries_large, rows_large) in zip(small, large, strict=True):
        assert rows_large > rows_small
        assert queries_small == queries_large


def _decision_and_flag(cast):
    record = written_record(cast)
    services.decision_add(
        actor=cast.supervisor, record=record, child_reference=CHILD, decision="Refer to children's services",
        key_person=cast.dsl,
    )  # fmt: skip
    services.flag_raise(actor=cast.supervisor, record=record, kind=FlagKind.HARM)
    return record


def test_events_keep_codes_not_child_references(cast):
    _decision_and_flag(cast)
    added = AuditEvent.objects.get(action="record.decision_added")
    raised = AuditEvent.objects.get(action="record.flag_raised")
    assert CHILD not in str(added.details) and set(added.details) == {"decision", "key_person"}
    assert FlagKind.HARM not in str(raised.details) and set(raised.details) == {"flag"}


def test_an_organisation_admin_sees_that_a_decision_was_added_but_not_the_child(cast, login):
    _decision_and_flag(cast)
    client = login(cast.org_admin)
    page = client.get("/audit/", {"action": "record.decision_added"}).content.decode()
    decision = AuditEvent.objects.get(action="record.decision_added")
    assert CHILD not in page and decision.details["decision"][:8] in page
    page = client.get("/audit/", {"action": "record.flag_raised"}).content.decode()
    assert FlagKind.HARM.value not in page and FlagKind.HARM.label not in page
    response = client.get("/audit/", {"format": "csv"})
    text = b"".join(response.streaming_content).decode()
    assert CHILD not in text and f'"{FlagKind.HARM.value}"' not in text

    # Events written before codes replaced them are withheld too.
    AuditEvent.objects.create(
        organisation=cast.organisation, action="record.decision_added", object_type="record",
        object_code=decision.object_code, details={"child_reference": "OLD-REF-1", "key_person": "Dev Dsl"},
    )  # fmt: skip
    page = client.get("/audit/", {"action": "record.decision_added"}).content.decode()
    assert "OLD-REF-1" not in page and "withheld" in page


def test_a_head_of_the_setting_who_is_also_admin_sees_the_child_reference(cast, login):
    _decision_and_flag(cast)
    head_admin = StaffFactory(
        organisation=cast.organisation,
        settings=[cast.primary],
        roles=[(Role.ORG_ADMIN, None), (Role.HEAD, cast.primary)],
    )
    page = login(head_admin).get("/audit/", {"action": "record.decision_added"}).content.decode()
    assert CHILD in page
    page = login(head_admin).get("/audit/", {"action": "record.flag_raised"}).content.decode()
    assert FlagKind.HARM.value in page
    # A head of another setting, also admin, does not.
    other = StaffFactory(
        organisation=cast.organisation, settings=[cast.secondary],
        roles=[(Role.ORG_ADMIN, None), (Role.HEAD, cast.secondary)],
    )  # fmt: skip
    assert CHILD not in login(other).get("/audit/", {"action": "record.decision_added"}).content.decode()


def test_an_auditor_within_a_live_grant_sees_the_child_reference(cast, login):
    record = signed_record(cast)
    AuditEvent.objects.create(
        organisation=cast.organisation, action="record.decision_added", object_type="record",
        object_code=str(record.code), details={"child_reference": CHILD, "key_person": "Dev Dsl"},
        created_at=timezone.now() - timedelta(minutes=1),
    )  # fmt: skip
    live_grant(cast, settings=[cast.primary])
    response = login(cast.auditor).get("/audit/", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert any(CHILD in row[9] for row in rows[1:])


def test_an_auditor_sees_child_references_only_of_records_the_grant_covers_by_setting_and_date(cast, login):
    """Which of a page's records show their safeguarding details to an auditor is decided for the page's
    codes alone, each record's session tested against the grant (issue 14): its setting and its dates,
    whatever form the trail keeps the code in. Another setting's record, and one held outside the grant's
    dates, keep the reference withheld."""
    inside = signed_record(cast)  # primary school
    other_setting = signed_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)  # secondary
    held = timezone.localdate(inside.session.starts_at)
    live_grant(cast, settings=[cast.primary], covers_from=held - timedelta(days=30), covers_until=held)
    later = signed_record(cast)  # primary school, but held after the grant's last day
    later.session.starts_at += timedelta(days=2)
    later.session.ends_at += timedelta(days=2)
    later.session.save(update_fields=["starts_at", "ends_at"])
    codes = [str(inside.code).replace("-", "").upper(), str(other_setting.code), str(later.code)]
    for n, code in enumerate(codes):
        AuditEvent.objects.create(
            organisation=cast.organisation, action="record.decision_added", object_type="record",
            object_code=code, details={"child_reference": f"{CHILD}-{n}", "key_person": "Dev Dsl"},
        )  # fmt: skip
    # The auditor lists the covered record's events only, with its reference.
    page = login(cast.auditor).get("/audit/", {"action": "record.decision_added"}).content.decode()
    assert f"{CHILD}-0" in page
    assert f"{CHILD}-1" not in page and f"{CHILD}-2" not in page
    # Also an organisation admin, the same person lists the whole trail: all three events, and the
    # reference of the covered record only.
    cast.auditor.role_assignments.create(role=Role.ORG_ADMIN)
    page = login(cast.auditor).get("/audit/", {"action": "record.decision_added"}).content.decode()
    assert page.count("withheld") == 4  # the child reference and the key person, of two events
    assert f"{CHILD}-0" in page
    assert f"{CHILD}-1" not in page and f"{CHILD}-2" not in page


def test_an_auditors_home_shows_the_newest_covered_events_whether_or_not_the_newest_hold_them(cast, login, monkeypatch):
    """The home's recent activity (issue 14): the newest events of the trail are tested one by one against
    the grant, and only when too few of the newest are covered is the set of every covered record built.
    Either way: the same events as the trail's own query, newest first, never one outside the grant, of
    another organisation, or whose code is not a record's (text that is not a UUID is never cast)."""
    from records import access
    from tests.factories import OrganisationFactory

    inside = signed_record(cast)  # primary school
    outside = signed_record(cast, supervisee=cast.supervisee2, supervisor=cast.supervisor2)  # secondary
    live_grant(cast, settings=[cast.primary])
    other = OrganisationFactory()
    for n in range(3):
        AuditEvent.objects.create(
            organisation=cast.organisation, action="record.viewed", object_type="record",
            object_code=str(outside.code).upper(), object_repr="Outside",
        )  # fmt: skip
        AuditEvent.objects.create(
            organisation=cast.organisation, action="record.viewed", object_type="record",
            object_code=f"not a code {n}", object_repr="Malformed",
        )  # fmt: skip
        AuditEvent.objects.create(
            organisation=other, action="record.viewed", object_type="record", object_code=str(inside.code),
            object_repr="Another organisation's",
        )  # fmt: skip
    # The code as the trail may keep it: without dashes, in capitals.
    AuditEvent.objects.create(
        organisation=cast.organisation, action="record.viewed", object_type="record",
        object_code=str(inside.code).replace("-", "").upper(), object_repr="Inside",
    )  # fmt: skip
    visible = AuditEvent.objects.visible_to(cast.auditor)
    trail = access.audit_events_in_grants(cast.auditor, visible).order_by("-created_at", "-id")
    client = login(cast.auditor)
    for window in (2000, 2):  # the newest hold the eight, or do not and the set is built
        monkeypatch.setattr(access, "NEWEST_WINDOW", window)
        for count in (1, 3, 8):
            newest = access.newest_events_in_grants(cast.auditor, visible, count)
            assert [e.id for e in newest] == list(trail.values_list("id", flat=True)[:count]), (window, count)
            assert {e.organisation_id for e in newest} == {cast.organisation.id}
            assert all(e.object_code.replace("-", "").lower() == inside.code.hex for e in newest)
        shown = client.get("/").context["recent_events"]
        assert [e.id for e, _ in shown] == list(trail.values_list("id", flat=True)[:8])
        assert shown[0][0].object_repr == "Inside" and len(shown) > 1
