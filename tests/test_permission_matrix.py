"""Every URL of the project, for every person of the cast and for anonymous visitors.

The expected outcomes live in `tests/permissions.py`; this module walks the URL patterns, checks the
table covers them all, and requests each URL as each person for each case (own, other, foreign).
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.urls import URLResolver, get_resolver, include, path, reverse

from .permissions import (
    ANONYMOUS,
    ARGUMENTS,
    CASES,
    EVERYONE,
    FORBIDDEN,
    LOGIN,
    NOT_FOUND,
    OK,
    TABLE,
)


def walk_url_patterns(patterns, namespace=""):
    """Yield ("namespace:name" or None when unnamed, route) for every pattern, into every include."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk_url_patterns(pattern.url_patterns, inner)
        else:
            yield (f"{namespace}{pattern.name}" if pattern.name else None), str(pattern.pattern)


def unnamed_patterns(patterns) -> list[str]:
    return [route for name, route in walk_url_patterns(patterns) if name is None]


def all_project_url_names() -> list[str]:
    return sorted({name for name, _route in walk_url_patterns(get_resolver().url_patterns) if name})


def missing_rows(url_names, table) -> list[str]:
    """URL names the permission table says nothing about."""
    return sorted(set(url_names) - set(table))


def stale_rows(url_names, table) -> list[str]:
    """Rows for URL names that no longer exist."""
    return sorted(set(table) - set(url_names))


def outcome(response) -> str:
    if 300 <= response.status_code < 400:
        location = urlsplit(response["Location"])
        if location.path == resolve_url(settings.LOGIN_URL) and "next" in parse_qs(location.query):
            return LOGIN
        return OK
    if 200 <= response.status_code < 300:
        return OK
    return {403: FORBIDDEN, 404: NOT_FOUND}.get(response.status_code, str(response.status_code))


# The table itself


def test_every_url_has_a_row():
    assert missing_rows(all_project_url_names(), TABLE) == []


def test_every_row_is_a_url():
    assert stale_rows(all_project_url_names(), TABLE) == []


def test_every_url_pattern_has_a_name():
    assert unnamed_patterns(get_resolver().url_patterns) == []


def test_a_url_without_a_row_is_reported():
    names = [*TABLE, "accounts:brand-new-page"]
    assert missing_rows(names, TABLE) == ["accounts:brand-new-page"]
    assert stale_rows(names[1:], TABLE) == [next(iter(TABLE))]


def test_a_pattern_without_a_name_is_reported():
    def view(request):
        return HttpResponse()

    patterns = [path("named/", view, name="named"), path("app/", include(([path("anonymous/", view)], "app")))]
    assert unnamed_patterns(patterns) == ["anonymous/"]
    assert [name for name, _ in walk_url_patterns(patterns)] == ["named", None]


def test_every_row_gives_an_outcome_for_every_person_and_case():
    for name, row in TABLE.items():
        assert row.kind is None or row.kind in ARGUMENTS, name
        assert set(row.expect) == set(EVERYONE), name
        for person, expected in row.expect.items():
            if isinstance(expected, dict):
                assert set(expected) == set(CASES[row.kind]), (name, person)


# The matrix


def _matrix():
    for name, row in TABLE.items():
        for method in row.methods:
            for case in CASES[row.kind]:
                for person in EVERYONE:
                    yield pytest.param(name, method, case, person, id=f"{name}-{method}-{case}-{person}")


def _request(client, cast, name, method, case, person):
    row = TABLE[name]
    staff = None if person == ANONYMOUS else getattr(cast, person)
    kwargs = ARGUMENTS[row.kind](cast, staff, case) if row.kind else {}
    if staff is not None:
        client.force_login(staff.user)
    url = reverse(name, kwargs=kwargs)
    # The test client skips CSRF checks, so an empty POST reaches the view's access rules.
    return url, client.get(url) if method == "GET" else client.post(url)


@pytest.mark.parametrize(("name", "method", "case", "person"), list(_matrix()))
def test_permission(client, cast, name, method, case, person):
    url, response = _request(client, cast, name, method, case, person)
    expected = TABLE[name].outcome(person, case, method)
    assert outcome(response) == expected, f"{method} {url} as {person} ({case}): {response.status_code}"


def _wrong_methods():
    for name, row in TABLE.items():
        for method in sorted({"GET", "POST"} - set(row.methods)):
            yield pytest.param(name, method, id=f"{name}-{method}")


@pytest.mark.parametrize(("name", "method"), list(_wrong_methods()))
def test_wrong_method_is_refused(client, cast, name, method):
    row = TABLE[name]
    case = CASES[row.kind][0]
    # Someone the row lets in, so the answer is about the method and not about access.
    person = next(p for p in EVERYONE if row.outcome(p, case) == OK)
    url, response = _request(client, cast, name, method, case, person)
    assert response.status_code == 405, f"{method} {url} as {person}: {response.status_code}"
