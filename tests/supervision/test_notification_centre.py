"""`/notifications/`: a person's own reminders, unread first; marking read; email preferences; the bell."""

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent
from supervision.models import ALWAYS_EMAILED, Notification, NotificationKind, NotificationPreference
from supervision.notify import notify
from supervision.slots import LONDON

pytestmark = pytest.mark.django_db

LIST = reverse("supervision:notification-list")
READ_ALL = reverse("supervision:notification-read-all")
PREFERENCES = reverse("supervision:notification-preferences")
NOW = datetime(2025, 11, 12, 9, 0, tzinfo=LONDON)  # a Wednesday


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(NOW, tick=False):
        yield


def read_url(notification):
    return reverse("supervision:notification-read", kwargs={"code": notification.code})


def add(recipient, title="Prepare your agenda for Monday", *, kind=NotificationKind.AGENDA_PROMPT, at=None, **fields):
    """One notification through the ledger, then the state a test needs (read, emailed...)."""
    notification = notify(
        recipient=recipient,
        kind=kind,
        object_type="session",
        object_code=title,
        period="2025-11-12",
        title=title,
        body=f"Body of {title}.",
        url="/calendar/",
    )
    fields["created_at"] = at or NOW
    Notification.objects.filter(pk=notification.pk).update(**fields)
    notification.refresh_from_db()
    return notification


def page(client, url=LIST):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def badge(html):
    """The number on the bell, or None when it shows none."""
    count = re.search(r'<span id="notification-count">(.*?)</a>', html, re.S).group(1)
    match = re.search(r'notification-badge" aria-hidden="true">([\d+]+)<', count)
    if match is None:
        assert '<span class="visually-hidden">Notifications</span>' in count
        return None
    assert f'<span class="visually-hidden">Notifications, {match.group(1)} unread</span>' in count
    return match.group(1)


# --- The list --------------------------------------------------------------------------------------


def test_the_list_shows_only_my_notifications_unread_first_then_newest(cast, login):
    add(cast.supervisee, "Old unread", at=NOW - timedelta(days=5))
    add(cast.supervisee, "New read", at=NOW - timedelta(days=1), read_at=NOW)
    add(cast.supervisee, "New unread", at=NOW - timedelta(days=2))
    add(cast.supervisee, "Old read", at=NOW - timedelta(days=9), read_at=NOW)
    add(cast.supervisor, "The supervisor's own")
    add(cast.outsider_staff, "Someone else's organisation")

    html = page(login(cast.supervisee))
    titles = re.findall(r'<h2 class="h6 mb-1 notification-title">(.*?)</h2>', html)
    assert titles == ["New unread", "Old unread", "New read", "Old read"]
    assert html.count("notification-unread") == 2
    assert html.count(">Unread</span>") == 2  # a word, not colour alone
    assert "The supervisor&#x27;s own" not in html
    assert "Someone else's organisation" not in html
    assert re.findall(r'notification-title">(.*?)<', page(login(cast.supervisor))) == ["The supervisor&#x27;s own"]


def test_each_notification_shows_its_kind_time_email_state_and_a_way_to_open_it(cast, login):
    at = datetime(2025, 11, 3, 7, 0, tzinfo=LONDON)
    emailed = add(cast.supervisee, "Emailed one", at=at, emailed_at=at)
    add(cast.supervisee, "Kept here", kind=NotificationKind.ACTION_DUE, at=at, email_skipped=True)
    add(cast.supervisee, "Waiting for 07:00", kind=NotificationKind.SIGNATURE_PENDING, at=at)

    html = page(login(cast.supervisee))
    assert "Prepare your agenda" in html and "Action due tomorrow" in html  # the kinds' labels
    assert "Record waiting for your signature" in html
    assert "Mon 3 Nov 2025, 07:00" in html
    assert "Body of Emailed one." in html
    assert "Emailed to you Mon 3 Nov 2025, 07:00" in html
    assert "Kept in the product only: you switched this email off" in html
    assert "Email to follow" in html
    assert f'action="{read_url(emailed)}"' in html
    assert '<input type="hidden" name="next" value="/calendar/">' in html
    assert 'Open<span class="visually-hidden"> “Emailed one”</span>' in html


def test_an_empty_list_says_nothing_needs_attention(cast, login):
    html = page(login(cast.supervisee))
    assert "Nothing needs your attention" in html
    assert "Mark all as read" not in html
    assert PREFERENCES in html


def test_the_list_is_paginated_30_a_page(cast, login):
    for i in range(35):
        add(cast.supervisee, f"Reminder {i:02}", at=NOW - timedelta(hours=i))
    client = login(cast.supervisee)
    first = page(client)
    assert first.count("notification-title") == 30 and "Page 1 of 2" in first
    second = page(client, LIST + "?page=2")
    assert second.count("notification-title") == 5 and "Reminder 34" in second


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return queries


def test_the_list_costs_the_same_queries_for_3_and_40_notifications(cast, login):
    client = login(cast.supervisee)
    for i in range(3):
        add(cast.supervisee, f"Few {i}", at=NOW - timedelta(hours=i), read_at=NOW if i % 2 else None)
    few = len(_queries(client, LIST))
    for i in range(37):
        add(cast.supervisee, f"Many {i}", at=NOW - timedelta(days=1, hours=i), read_at=NOW if i % 2 else None)
    assert Notification.objects.filter(recipient=cast.supervisee).count() == 40
    assert len(_queries(client, LIST)) == few


# --- Marking read ------------------------------------------------------------------------------------


def test_marking_read_is_idempotent_and_keeps_the_first_time(cast, login):
    notification = add(cast.supervisee)
    client = login(cast.supervisee)
    response = client.post(read_url(notification))
    assert response.status_code == 302 and response.url == LIST
    notification.refresh_from_db()
    first = notification.read_at
    assert first == NOW

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        assert client.post(read_url(notification)).status_code == 302
    notification.refresh_from_db()
    assert notification.read_at == first


def test_marking_read_with_htmx_returns_the_item_and_the_new_count(cast, login):
    notification = add(cast.supervisee, "First")
    add(cast.supervisee, "Second")
    response = login(cast.supervisee).post(read_url(notification), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(
        f'<li class="list-group-item notification-item" id="notification-{notification.code}"'
    )
    assert "Unread" not in html and "Read Wed 12 Nov 2025, 09:00" in html
    assert 'id="notification-count" hx-swap-oob="true"' in html
    assert '<span class="visually-hidden">Notifications, 1 unread</span>' in html
    assert "<html" not in html


def test_open_marks_read_and_goes_to_the_thing_to_do(cast, login):
    notification = add(cast.supervisee)
    response = login(cast.supervisee).post(read_url(notification), {"next": "/calendar/?week=2025-11-17"})
    assert response.status_code == 302 and response.url == "/calendar/?week=2025-11-17"
    notification.refresh_from_db()
    assert notification.read_at is not None


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/path", "javascript:alert(1)"])
def test_open_never_sends_anyone_off_the_site(cast, login, target):
    notification = add(cast.supervisee)
    response = login(cast.supervisee).post(read_url(notification), {"next": target})
    assert response.status_code == 302 and response.url == LIST


@pytest.mark.parametrize("person", ["supervisor", "outsider"])
def test_someone_elses_notification_is_not_found(cast, login, person):
    notification = add(cast.supervisee)
    client = login(getattr(cast, person))
    assert client.post(read_url(notification)).status_code == 404
    assert client.post(read_url(notification), HTTP_HX_REQUEST="true").status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_mark_all_as_read_marks_only_mine(cast, login):
    mine = [add(cast.supervisee, f"Mine {i}") for i in range(3)]
    earlier = add(cast.supervisee, "Read before", read_at=NOW - timedelta(days=1))
    theirs = add(cast.supervisor, "Theirs")
    client = login(cast.supervisee)
    response = client.post(READ_ALL, follow=True)
    assert response.redirect_chain == [(LIST, 302)]
    assert "Marked 3 notifications as read." in response.content.decode()
    assert not Notification.objects.filter(pk__in=[n.pk for n in mine], read_at__isnull=True).exists()
    earlier_read_at = earlier.read_at
    earlier.refresh_from_db()
    assert earlier.read_at == earlier_read_at
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert "You had no unread notifications." in client.post(READ_ALL, follow=True).content.decode()


# --- Preferences -------------------------------------------------------------------------------------


def test_the_preferences_page_has_a_checkbox_per_kind_and_safeguarding_locked_on(cast, login):
    NotificationPreference.objects.create(staff=cast.supervisee, kind=NotificationKind.ACTION_DUE, email=False)
    html = page(login(cast.supervisee), PREFERENCES)
    for kind in NotificationKind:
        tag = re.search(rf'<input type="checkbox" name="{kind.value}"[^>]*>', html).group(0)
        assert ("checked" in tag) == (kind != NotificationKind.ACTION_DUE), kind
        assert ("disabled" in tag) == (kind in ALWAYS_EMAILED), kind
        assert kind.label.replace("'", "&#x27;") in html
    assert "Safeguarding escalations are always emailed" in html
    assert "recorded in your" in html and "whatever you choose here" in html


def test_saving_preferences_writes_the_choices_and_an_audit_event(cast, login):
    client = login(cast.supervisee)
    ticked = {kind.value: "on" for kind in NotificationKind if kind not in ALWAYS_EMAILED}
    del ticked[NotificationKind.AGENDA_PROMPT]
    del ticked[NotificationKind.CONTRACT_REVIEW_DUE]
    response = client.post(PREFERENCES, ticked, follow=True)
    assert response.redirect_chain == [(PREFERENCES, 302)]
    assert "Your notification preferences are saved." in response.content.decode()
    assert dict(NotificationPreference.objects.filter(staff=cast.supervisee).values_list("kind", "email")) == {
        "agenda_prompt": False,
        "contract_review_due": False,
    }
    event = AuditEvent.objects.get(action="notifications.preferences_changed")
    assert event.actor == cast.supervisee.user and event.object_code == str(cast.supervisee.code)
    assert event.details == {"email": {"agenda_prompt": False, "contract_review_due": False}}

    # Switching one back on updates its row; saving the same again changes nothing and audits nothing.
    ticked[NotificationKind.AGENDA_PROMPT] = "on"
    client.post(PREFERENCES, ticked)
    assert NotificationPreference.objects.get(staff=cast.supervisee, kind="agenda_prompt").email is True
    assert NotificationPreference.objects.filter(staff=cast.supervisee).count() == 2
    assert AuditEvent.objects.filter(action="notifications.preferences_changed").count() == 2
    assert "Nothing changed." in client.post(PREFERENCES, ticked, follow=True).content.decode()
    assert AuditEvent.objects.filter(action="notifications.preferences_changed").count() == 2
    # Other people's choices are their own.
    assert not NotificationPreference.objects.exclude(staff=cast.supervisee).exists()


def test_safeguarding_escalations_cannot_be_switched_off(cast, login):
    client = login(cast.dsl)
    # Nothing ticked at all: a forged form that leaves out the locked boxes, or says "off" for them.
    client.post(PREFERENCES, {})
    client.post(PREFERENCES, {kind.value: "" for kind in ALWAYS_EMAILED})
    client.post(PREFERENCES, {kind.value: "false" for kind in ALWAYS_EMAILED})
    prefs = dict(NotificationPreference.objects.filter(staff=cast.dsl).values_list("kind", "email"))
    assert len(prefs) == len(NotificationKind) - len(ALWAYS_EMAILED)
    assert not set(prefs) & {kind.value for kind in ALWAYS_EMAILED}
    assert not any(prefs.values())
    html = page(client, PREFERENCES)
    for kind in ALWAYS_EMAILED:
        tag = re.search(rf'<input type="checkbox" name="{kind.value}"[^>]*>', html).group(0)
        assert "checked" in tag and "disabled" in tag


def test_the_notification_is_recorded_in_the_product_whatever_the_email_choice(cast, login):
    client = login(cast.supervisee)
    client.post(PREFERENCES, {})  # every optional email off
    add(cast.supervisee, "Still here", email_skipped=True)
    html = page(client)
    assert "Still here" in html and "Kept in the product only" in html


# --- The bell --------------------------------------------------------------------------------------


def test_the_bell_shows_the_unread_count_to_every_signed_in_person(cast, login):
    for i in range(3):
        add(cast.supervisee, f"Unread {i}")
    add(cast.supervisee, "Read", read_at=NOW)
    html = page(login(cast.supervisee), "/calendar/")
    assert badge(html) == "3"
    assert f'href="{LIST}" title="Notifications"' in html
    assert '<span class="visually-hidden">Notifications, 3 unread</span>' in html
    for name, person in cast.people().items():
        html = page(login(person), "/calendar/")
        assert badge(html) == ("3" if name == "supervisee" else None), name
        assert f'href="{LIST}"' in html


def test_the_bell_shows_no_badge_when_everything_is_read(cast, login):
    add(cast.supervisee, read_at=NOW)
    html = page(login(cast.supervisee), PREFERENCES)
    assert badge(html) is None and '<i class="bi bi-bell" aria-hidden="true"></i>' in html


def _count_queries(queries):
    return [q["sql"] for q in queries if "supervision_notification" in q["sql"] and "COUNT(" in q["sql"].upper()]


def test_the_unread_count_is_one_query_and_none_for_anonymous_visitors(cast, login, client):
    add(cast.supervisee)
    assert len(_count_queries(_queries(client, reverse("accounts:login")))) == 0
    client = login(cast.supervisee)
    assert len(_count_queries(_queries(client, "/calendar/"))) == 1
    assert len(_count_queries(_queries(client, PREFERENCES))) == 1


# --- Methods and sign-in -----------------------------------------------------------------------------


def test_wrong_methods_are_refused(cast, login):
    notification = add(cast.supervisee)
    client = login(cast.supervisee)
    assert client.post(LIST).status_code == 405
    assert client.get(READ_ALL).status_code == 405
    assert client.get(read_url(notification)).status_code == 405
    assert client.put(PREFERENCES).status_code == 405
    notification.refresh_from_db()
    assert notification.read_at is None


def test_anonymous_visitors_are_sent_to_sign_in(cast, client):
    notification = add(cast.supervisee)
    for method, url in (
        ("get", LIST),
        ("post", READ_ALL),
        ("get", PREFERENCES),
        ("post", PREFERENCES),
        ("post", read_url(notification)),
    ):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response.url.startswith(reverse("accounts:login")), url
    notification.refresh_from_db()
    assert notification.read_at is None
