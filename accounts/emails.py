"""Emails about accounts, rendered from templates/emails/<name>_{subject,body}.{txt,html}."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .validators import CONTROL


def one_line(text: str) -> str:
    """A subject as one line: line breaks and other control characters become spaces, runs of space
    one. Django refuses a header with a line break, so one in a name would stop the email going."""
    text = "".join(" " if ch in CONTROL else ch for ch in text)
    return " ".join(text.split())


def render_subject(template_name: str, context: dict) -> str:
    """Every email subject of the product is rendered here (templates/emails/*_subject.txt)."""
    return one_line(render_to_string(template_name, context))


def send_templated_email(name: str, to: str, context: dict) -> None:
    context = {"site_url": settings.SITE_URL, **context}
    subject = render_subject(f"emails/{name}_subject.txt", context)
    text = render_to_string(f"emails/{name}_body.txt", context)
    html = render_to_string(f"emails/{name}_body.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()
