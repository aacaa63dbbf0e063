"""The audit trail and "Recent activity" read as sentences (issue 16): every action the code writes has
one, and none shows its code or an ISO date."""

import ast
import re
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings

from accounts.audit import audit_event
from accounts.audit_words import ACTION_SENTENCES, event_sentence
from accounts.models import AuditEvent
from supervision.slots import LONDON

ACTION = re.compile(r"^[a-z_]+\.[a-z_]+$")
# Actions written from an f-string, and every value the formatted part takes.
FORMATTED = {"session.{status}": {"session.held", "session.missed"}}


def _action_strings(node, path):
    """The action names an `action=` expression can give: string constants, f-strings listed in FORMATTED,
    and module constants by name (resolved later)."""
    strings, names = set(), set()
    for part in ast.walk(node):
        if isinstance(part, ast.Constant) and isinstance(part.value, str) and ACTION.match(part.value):
            strings.add(part.value)
        elif isinstance(part, ast.JoinedStr):
            pattern = "".join(
                v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in part.values
            )
            assert pattern in FORMATTED, f"{path}: an action from an f-string nobody listed: {pattern}"
            strings |= FORMATTED[pattern]
        elif isinstance(part, ast.Name) and part.id.isupper():
            names.add(part.id)
    return strings, names


def actions_in_code() -> set[str]:
    """Every action name passed as `action=` anywhere in the project's code (tests and migrations aside),
    directly or through a module constant (`FLAG_NOTIFIED = "record.flag_notified"`)."""
    found, names, constants = set(), set(), {}
    root = Path(settings.BASE_DIR)
    for app in ("accounts", "supervision", "records", "config"):
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            for statement in tree.body:
                if (
                    isinstance(statement, ast.Assign)
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                ):
                    for target in statement.targets:
                        if isinstance(target, ast.Name):
                            constants[target.id] = statement.value.value
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    for keyword in node.keywords:
                        if keyword.arg == "action":
                            strings, used = _action_strings(keyword.value, path)
                            found |= strings
                            names |= used
    unresolved = {name for name in names if name not in constants}
    assert not unresolved, f"action= names whose value this test cannot find: {unresolved}"
    return found | {constants[name] for name in names if ACTION.match(constants[name])}


def test_the_code_writes_the_actions_this_test_expects():
    found = actions_in_code()
    # The collector itself finds what it should: a plain one, one from a dict, one from an f-string, one
    # through a module constant.
    assert {"record.pdf_stored", "auth.code_failed", "session.held", "demo.seeded", "record.flag_notified"} <= found
    assert len(found) > 100


def test_every_action_the_code_writes_has_a_sentence():
    assert sorted(actions_in_code() - set(ACTION_SENTENCES)) == []


def test_no_sentence_for_an_action_the_code_no_longer_writes():
    assert sorted(set(ACTION_SENTENCES) - actions_in_code()) == []


def _event(action, actor_name="", object_repr="", when=datetime(2026, 11, 10, 14, 2, tzinfo=LONDON)):
    return AuditEvent(action=action, actor_name=actor_name, object_repr=object_repr, created_at=when)


def test_an_event_reads_as_a_sentence_with_the_weekday():
    pdf = _event("record.pdf_stored", object_repr="Record of 1:1 supervision: Amy Hughes")
    assert event_sentence(pdf) == "PDF stored for the record of 1:1 supervision: Amy Hughes, Tue 10 Nov 2026 at 14:02"
    signed = _event("record.signed", "Sarah Collins", "Record of 1:1 supervision: Amy Hughes")
    assert event_sentence(signed, with_time=False) == "Sarah Collins signed the record of 1:1 supervision: Amy Hughes"
    # Summer time: the London hour, not UTC's.
    summer = _event("auth.signed_in", "Sarah Collins", when=datetime(2026, 6, 9, 8, 5, tzinfo=LONDON))
    assert event_sentence(summer) == "Sarah Collins signed in, Tue 9 Jun 2026 at 08:05"
    nobody = _event("auth.password_reconfirm_failed")
    assert event_sentence(nobody, with_time=False) == "Someone entered a wrong password to confirm"


@pytest.mark.django_db
def test_recent_activity_and_the_audit_trail_show_sentences_not_codes(cast, login):
    with time_machine.travel(datetime(2026, 11, 10, 14, 2, tzinfo=LONDON), tick=False):
        audit_event(action="staff.leaver_marked", actor=cast.org_admin.user, obj=cast.supervisee)
    home = login(cast.org_admin).get("/").content.decode()
    assert f"Ada Admin set a leaving date for {cast.supervisee}, Tue 10 Nov 2026 at 14:02" in home
    assert "staff.leaver_marked" not in home.replace('data-action="staff.leaver_marked"', "")
    trail = login(cast.org_admin).get("/audit/").content.decode()
    assert f"Ada Admin set a leaving date for {cast.supervisee}" in trail
    assert "<code" not in trail.split("<tbody>")[1]
    # ISO dates only in machine-read attributes.
    shown = re.sub(r'datetime="[^"]*"', "", trail.split("<tbody>")[1])
    assert not re.search(r"\d{4}-\d{2}-\d{2}", shown)
