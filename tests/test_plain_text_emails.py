"""Issue 16, fault 3: the plain-text part of every email (and every subject) shows names as typed, never
HTML-escaped ("Dear Ciarán O&#x27;Neill")."""

from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string

from accounts.tasks import send_invitation
from tests.factories import StaffFactory

NAME = "Ciarán O'Neill & <Tom>"
ESCAPES = ("&#x27;", "&#39;", "&amp;", "&lt;", "&gt;", "&quot;")
DATE_ATTRIBUTES = set(dir(datetime))
EMAIL_TEMPLATES = Path(settings.BASE_DIR) / "templates" / "emails"


class Anything(str):
    """Stands for any object a template asks for: every attribute, item, call and loop gives the name
    again, so each variable a template prints is the awkward name."""

    def __new__(cls):
        return super().__new__(cls, NAME)

    def __getattr__(self, name):
        if name.startswith("__") or name in DATE_ATTRIBUTES:
            # Not a date: the date filters give "" for it, as they do for any other non-date.
            raise AttributeError(name)
        return Anything()

    def __getitem__(self, key):
        return Anything()

    def __iter__(self):
        return iter([Anything()])


def _text_templates():
    return sorted(p.name for p in EMAIL_TEMPLATES.glob("*.txt"))


def test_every_text_template_is_checked():
    names = _text_templates()
    assert len(names) >= 20 and all(n.endswith(("_body.txt", "_subject.txt")) for n in names)


@pytest.mark.parametrize("name", _text_templates())
def test_a_text_template_prints_names_as_typed(name):
    context = {key: Anything() for key in (
        "staff", "recipient", "record", "session", "decision", "organisation", "setting", "flag", "kind",
        "notification", "button", "link", "change", "actor", "raised_by", "email", "site_url", "site_name",
        "user", "title", "starts", "ends", "venue", "supervisor", "people", "attendees",
    )}  # fmt: skip
    context.update({"protocol": "https", "domain": "example.org", "uid": "MQ", "token": "set-password"})
    text = render_to_string(f"emails/{name}", context)
    assert not any(escape in text for escape in ESCAPES), text
    source = (EMAIL_TEMPLATES / name).read_text()
    if "{{" in source.replace("{{ protocol }}://{{ domain }}", ""):
        assert NAME in text, f"{name} printed no name at all: {text!r}"


@pytest.mark.django_db
def test_the_invitation_greets_the_person_by_their_name(cast):
    newcomer = StaffFactory(organisation=cast.organisation, settings=[cast.primary], user__full_name="Ciarán O'Neill")
    newcomer.user.set_unusable_password()
    newcomer.user.save()
    send_invitation(newcomer.id)
    (message,) = mail.outbox
    assert "Dear Ciarán O'Neill," in message.body
    assert "O&#x27;Neill" in message.alternatives[0][0]  # the HTML part is still escaped, as HTML must be
