"""The private calendar feed, its management page, and a session's downloadable invite."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from icalendar import Calendar

from supervision.models import CalendarFeed
from supervision.services import (
    contract_create,
    contract_sign,
    feed_renew,
    feed_revoke,
    session_book,
    session_cancel,
)
from tests.factories import PASSWORD

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2025, 10, 27, 8, 0, tzinfo=LONDON)  # Mon 27 Oct 2025
FIRST = datetime(2025, 11, 3, 9, 0, tzinfo=LONDON)  # Mon 3 Nov 2025


@pytest.fixture(autouse=True)
def now(time_machine):
    time_machine.move_to(NOW, tick=False)


def agreement(supervisee, supervisor):
    contract = contract_create(
        actor=supervisor, supervisee=supervisee, supervisor=supervisor, start_date=date(2025, 9, 1)
    )
    contract_sign(signer=supervisee, contract=contract, password=PASSWORD)
    contract_sign(signer=supervisor, contract=contract, password=PASSWORD)
    return contract


def book(contract, count, first=FIRST):
    """`count` sessions a week apart, without the time checks or emails (those are tested elsewhere)."""
    return [
        session_book(
            actor=contract.supervisor,
            contract=contract,
            starts_at=first + timedelta(weeks=i),
            minutes=30,
            check=False,
            send=False,
        )
        for i in range(count)
    ]


@pytest.fixture
def contract(cast):
    return agreement(cast.supervisee, cast.supervisor)


def feed_url(token):
    return reverse("supervision:feed", kwargs={"token": token})


def uids(response):
    return [str(event["UID"]) for event in Calendar.from_ical(response.content).events]


def test_the_feed_lists_the_persons_sessions_and_no_one_elses(client, cast, contract):
    mine = book(contract, 2)
    others = book(agreement(cast.supervisee2, cast.supervisor2), 2)
    cancelled = mine[1]
    session_cancel(actor=cast.supervisor, session=cancelled, reason="Training day")
    feed = feed_renew(staff=cast.supervisee)

    response = client.get(feed_url(feed.token))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=300"
    assert response["X-Content-Type-Options"] == "nosniff"
    calendar = Calendar.from_ical(response.content)
    assert "METHOD" not in calendar
    assert calendar["X-WR-CALNAME"] == "Supervision – Sid Supervisee"
    assert calendar.timezones[0]["TZID"] == "Europe/London"
    events = {str(e["UID"]): e for e in calendar.events}
    assert set(events) == {f"{s.code}@supervision" for s in mine}
    assert not {f"{s.code}@supervision" for s in others} & set(events)
    first = events[f"{mine[0].code}@supervision"]
    assert first["STATUS"] == "CONFIRMED"
    assert first["SEQUENCE"] == 0
    assert first.start == FIRST
    assert first["DTSTART"].params["TZID"] == "Europe/London"
    gone = events[f"{cancelled.code}@supervision"]
    assert gone["STATUS"] == "CANCELLED"
    assert gone["SEQUENCE"] == 1


def test_the_supervisor_sees_the_sessions_they_lead(client, cast, contract):
    sessions = book(contract, 2)
    feed = feed_renew(staff=cast.supervisor)
    assert uids(client.get(feed_url(feed.token))) == [f"{s.code}@supervision" for s in sessions]


def test_the_feed_keeps_six_weeks_of_history_and_everything_to_come(client, cast, contract, time_machine):
    """A subscription carries the recent past and the whole future (issue 14: an organisation admin who
    supervises a hundred heads had half a year of sessions, 212 KB, in every poll)."""
    old, recent = book(contract, 2, first=datetime(2025, 9, 15, 9, 0, tzinfo=LONDON))  # Mon 15 and 22 Sep 2025
    (later,) = book(contract, 1, first=datetime(2026, 7, 13, 9, 0, tzinfo=LONDON))  # Mon 13 Jul 2026
    time_machine.move_to(datetime(2025, 11, 2, 8, 0, tzinfo=LONDON), tick=False)  # six weeks after Sun 21 Sep
    feed = feed_renew(staff=cast.supervisee)
    assert uids(client.get(feed_url(feed.token))) == [f"{recent.code}@supervision", f"{later.code}@supervision"]
    # Cancelled within the window: still sent, so a calendar that holds it marks it cancelled.
    session_cancel(actor=cast.supervisor, session=recent, reason="Training day")
    events = Calendar.from_ical(client.get(feed_url(feed.token)).content).events
    assert [str(e["STATUS"]) for e in events] == ["CANCELLED", "CONFIRMED"]


def test_the_feed_is_icalendars_own_serialisation_byte_for_byte(cast, contract):
    """`ical.to_ical` folds the plain lines itself: long, short, accented, escaped and exactly-75 lines must
    come out as icalendar writes them."""
    from supervision import ical

    people = [cast.supervisee, cast.supervisor]
    cast.supervisee.user.full_name = "Zoë Ångström-Łukasiewicz, Headteacher; Key Stage 2 \\ Phase Lead^s"
    cast.supervisor.user.full_name = "A" * 60
    sessions = book(contract, 3)
    sessions[1].venue = "Room 12, the library; " + "x" * 120
    sessions[2].venue = "é" * 80
    calendar = ical._calendar()
    lengths = (73, 74, 75, 148, 149, 150)
    for length in lengths:  # ASCII lines either side of each fold
        calendar.add(f"X-LINE-{length}", "y" * (length - len(f"X-LINE-{length}:")))
    for session in sessions:
        session.supervisor, session.contract.supervisee = people[1], people[0]
        calendar.add_component(ical._event(session, cancelled=False))
    assert {len(line) for line in calendar.content_lines()} >= set(lengths)
    assert ical.to_ical(calendar) == calendar.to_ical()


def test_an_unknown_token_is_not_found(client, cast):
    assert client.get(feed_url("not-a-real-token")).status_code == 404


def test_a_revoked_token_is_not_found(client, cast, contract):
    book(contract, 1)
    feed = feed_renew(staff=cast.supervisee)
    assert client.get(feed_url(feed.token)).status_code == 200
    feed_revoke(staff=cast.supervisee)
    assert client.get(feed_url(feed.token)).status_code == 404


def test_renewing_retires_the_old_token(client, cast, contract):
    old = feed_renew(staff=cast.supervisee)
    new = feed_renew(staff=cast.supervisee)
    assert new.token != old.token
    assert client.get(feed_url(old.token)).status_code == 404
    assert client.get(feed_url(new.token)).status_code == 200


def test_a_deactivated_account_has_no_feed(client, cast):
    feed = feed_renew(staff=cast.supervisee)
    cast.supervisee.user.is_active = False
    cast.supervisee.user.save()
    assert client.get(feed_url(feed.token)).status_code == 404


def test_the_feed_only_answers_get(client, cast):
    feed = feed_renew(staff=cast.supervisee)
    assert client.post(feed_url(feed.token)).status_code == 405


def feed_queries(client, token) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(feed_url(token))
    assert response.status_code == 200
    return len(queries)


def test_the_feed_costs_the_same_queries_for_2_and_20_sessions(client, cast, contract):
    feed = feed_renew(staff=cast.supervisee)
    book(contract, 2)
    two = feed_queries(client, feed.token)
    book(contract, 18, first=FIRST + timedelta(weeks=2))
    assert len(uids(client.get(feed_url(feed.token)))) == 20
    assert feed_queries(client, feed.token) == two


# The management page


def test_the_page_offers_to_create_a_feed(login, cast):
    response = login(cast.supervisee).get(reverse("supervision:feed-manage"))
    assert response.status_code == 200
    assert b"Create my feed address" in response.content


def test_creating_shows_the_absolute_address(login, cast):
    client = login(cast.supervisee)
    response = client.post(reverse("supervision:feed-manage"), {"action": "renew"}, follow=True)
    token = CalendarFeed.objects.get(staff=cast.supervisee).token
    assert response.redirect_chain == [(reverse("supervision:feed-manage"), 302)]
    assert f'value="http://testserver{feed_url(token)}"' in response.content.decode()
    assert b"Your calendar feed is ready" in response.content
    assert b'<label for="feed-url"' in response.content


def test_renewing_from_the_page_changes_the_address(login, cast):
    old = feed_renew(staff=cast.supervisee)
    client = login(cast.supervisee)
    response = client.post(reverse("supervision:feed-manage"), {"action": "renew"})
    assert response.status_code == 302
    new = CalendarFeed.objects.get(staff=cast.supervisee)
    assert new.token != old.token
    assert client.get(feed_url(old.token)).status_code == 404


def test_revoking_from_the_page_switches_the_feed_off(login, cast):
    feed = feed_renew(staff=cast.supervisee)
    client = login(cast.supervisee)
    response = client.post(reverse("supervision:feed-manage"), {"action": "revoke"})
    assert response.status_code == 302
    assert not CalendarFeed.objects.filter(staff=cast.supervisee).exists()
    assert client.get(feed_url(feed.token)).status_code == 404


def test_an_unknown_action_changes_nothing(login, cast):
    feed = feed_renew(staff=cast.supervisee)
    response = login(cast.supervisee).post(reverse("supervision:feed-manage"), {"action": "delete-all"})
    assert response.status_code == 302
    assert CalendarFeed.objects.get(staff=cast.supervisee).token == feed.token


def test_the_page_needs_signing_in(client, cast):
    response = client.get(reverse("supervision:feed-manage"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# A session's invite


def ics_url(session):
    return reverse("supervision:session-ics", kwargs={"code": session.code})


def test_an_attendee_downloads_the_invite(login, cast, contract):
    (session,) = book(contract, 1)
    response = login(cast.supervisee).get(ics_url(session))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; method=REQUEST; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="invite.ics"'
    calendar = Calendar.from_ical(response.content)
    assert calendar["METHOD"] == "REQUEST"
    assert [str(e["UID"]) for e in calendar.events] == [f"{session.code}@supervision"]


def test_the_supervisor_downloads_the_cancellation(login, cast, contract):
    (session,) = book(contract, 1)
    session_cancel(actor=cast.supervisor, session=session, reason="Training day")
    response = login(cast.supervisor).get(ics_url(session))
    assert response.status_code == 200
    calendar = Calendar.from_ical(response.content)
    assert calendar["METHOD"] == "CANCEL"
    (event,) = calendar.events
    assert event["STATUS"] == "CANCELLED"


def test_a_head_of_the_setting_may_not_download_it(login, cast, contract):
    (session,) = book(contract, 1)
    assert login(cast.head).get(ics_url(session)).status_code == 403


@pytest.mark.parametrize("person", ["outsider", "supervisor2", "supervisee2"])
def test_strangers_do_not_find_it(login, cast, contract, person):
    (session,) = book(contract, 1)
    assert login(getattr(cast, person)).get(ics_url(session)).status_code == 404


def test_the_invite_only_answers_get(login, cast, contract):
    (session,) = book(contract, 1)
    assert login(cast.supervisee).post(ics_url(session)).status_code == 405
