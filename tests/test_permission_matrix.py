"""Every URL of the project, for every person of the cast and for anonymous visitors.

The expected outcomes live in `tests/permissions.py`; this module walks the URL patterns, checks the
table covers them all, and requests each URL as each person for each case (own, other, foreign).
"""

import copy
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLResolver, get_resolver, include, path, reverse

from .conftest import module_transaction
from .permissions import (
    ANONYMOUS,
    ARGUMENTS,
    CASES,
    EVERYONE,
    FORBIDDEN,
    LOGIN,
    NO_CASE,
    NOT_FOUND,
    OK,
    TABLE,
    Row,
    build_matrix_cast,
    world,
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


# The matrix. The cast and its world are built once for the module; each request runs in a savepoint
# rolled back at once, on a fresh copy of the cast's objects and a fresh client, so no request sees
# what another did. One test per URL and method walks every case and person and reports every
# mismatch at once, each naming its URL, method, person and case.


@pytest.fixture(scope="module")
def matrix_cast(django_db_setup, django_db_blocker):
    with module_transaction(django_db_blocker) as building:
        with building():
            built = build_matrix_cast()
            world(built)
        yield built


def _request(client, cast, name, method, case, person):
    row = TABLE[name]
    staff = None if person == ANONYMOUS else getattr(cast, person)
    kwargs = ARGUMENTS[row.kind](cast, staff, case) if row.kind else {}
    if staff is not None:
        client.force_login(staff.user)
    url = reverse(name, kwargs=kwargs)
    # The test client skips CSRF checks, so an empty POST reaches the view's access rules.
    return url, client.get(url) if method == "GET" else client.post(url)


def fresh_cast(shared_cast):
    """A copy of the cast's people for one request. Signing in writes `last_login` on the person's user,
    which password-reset and invitation tokens hash: a request must not see what an earlier one set. The
    world's objects are shared, not copied (copying them was most of a request's cost): only their codes
    are read, and each view loads its own rows from the database."""
    world_objects = getattr(shared_cast, "_world", None)
    return copy.deepcopy(shared_cast, {id(world_objects): world_objects})


def isolated_request(shared_cast, name, method, case, person):
    """One request as one person, in a savepoint rolled back afterwards: (url, response)."""
    with transaction.atomic():
        result = _request(Client(), fresh_cast(shared_cast), name, method, case, person)
        transaction.set_rollback(True)
    return result


def mismatches(shared_cast, name, method) -> tuple[int, list[str]]:
    """(how many requests were checked, a line for each whose outcome is not the table's)."""
    checked, wrong = 0, []
    for case in CASES[TABLE[name].kind]:
        for person in EVERYONE:
            expected = TABLE[name].outcome(person, case, method)
            try:
                url, response = isolated_request(shared_cast, name, method, case, person)
            except Exception as error:  # noqa: BLE001 - reported with the others, naming the request
                wrong.append(f"{method} {name} as {person} ({case}): expected {expected}, raised {error!r}")
            else:
                got = outcome(response)
                if got != expected:
                    wrong.append(
                        f"{method} {url} ({name}) as {person} ({case}): expected {expected}, "
                        f"got {got} ({response.status_code})"
                    )
                # Nothing a signed-in person is shown may be kept by a browser or a proxy.
                cache_control = response.get("Cache-Control", "")
                if person != ANONYMOUS and 200 <= response.status_code < 300 and "no-store" not in cache_control:
                    wrong.append(
                        f"{method} {url} ({name}) as {person} ({case}): expected Cache-Control no-store, "
                        f"got {cache_control!r}"
                    )
            checked += 1
    return checked, wrong


def _urls_and_methods():
    for name, row in TABLE.items():
        for method in row.methods:
            yield pytest.param(name, method, id=f"{name}-{method}")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method"), list(_urls_and_methods()))
def test_permission(matrix_cast, name, method):
    checked, wrong = mismatches(matrix_cast, name, method)
    assert checked == len(CASES[TABLE[name].kind]) * len(EVERYONE)
    assert wrong == [], f"{len(wrong)} of {checked} requests to {name} by {method} were wrong:\n" + "\n".join(wrong)


def _wrong_methods():
    for name, row in TABLE.items():
        for method in sorted({"GET", "POST"} - set(row.methods)):
            yield pytest.param(name, method, id=f"{name}-{method}")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method"), list(_wrong_methods()))
def test_wrong_method_is_refused(matrix_cast, name, method):
    row = TABLE[name]
    case = CASES[row.kind][0]
    # Someone the row lets in, so the answer is about the method and not about access.
    person = next(p for p in EVERYONE if row.outcome(p, case) == OK)
    url, response = isolated_request(matrix_cast, name, method, case, person)
    assert response.status_code == 405, f"{method} {url} as {person}: {response.status_code}"


# The matrix fails when it should: a wrong expectation, and a URL without a row.


@pytest.mark.django_db
def test_a_wrong_expectation_is_reported_naming_the_request(matrix_cast, monkeypatch):
    name, person, case = "accounts:staff-list", "supervisee", NO_CASE
    row = TABLE[name]
    flipped = {**row.expect, person: OK}  # the supervisee is refused in truth
    monkeypatch.setitem(TABLE, name, Row(row.kind, row.methods, flipped, row.post_expect))
    checked, wrong = mismatches(matrix_cast, name, "GET")
    assert checked == len(EVERYONE)
    assert wrong == [f"GET /staff/ ({name}) as {person} ({case}): expected ok, got 403 (403)"]


@pytest.mark.django_db
def test_a_signed_in_page_without_no_store_is_reported(matrix_cast, monkeypatch):
    monkeypatch.setattr("config.middleware.NO_STORE", "private")
    name = "accounts:staff-list"
    checked, wrong = mismatches(matrix_cast, name, "GET")
    let_in = [p for p in EVERYONE if TABLE[name].outcome(p, NO_CASE) == OK and p != ANONYMOUS]
    assert let_in
    assert wrong == [
        f"GET /staff/ ({name}) as {p} ({NO_CASE}): expected Cache-Control no-store, got 'private'" for p in let_in
    ]
