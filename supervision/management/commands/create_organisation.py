from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import invitation_path
from supervision.setup import organisation_create, organisation_resend_invitation

FIELDS = {"name": "--name", "admin_email": "--admin-email", "admin_name": "--admin-name"}


class Command(BaseCommand):
    help = (
        "Create an organisation with the England calendar for this academic year and the next, and its first "
        "organisation admin, who is emailed an invitation (the link is printed too). Running it again with the "
        "same name and email makes nothing new."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The organisation's name, as people will see it.")
        parser.add_argument("--admin-email", required=True, help="The first organisation admin's email address.")
        parser.add_argument("--admin-name", default="", help="Their full name (by default, from the email address).")
        parser.add_argument(
            "--resend-invitation",
            action="store_true",
            help="When the organisation exists and its first admin has not accepted yet, send a new invitation.",
        )

    def handle(self, *args, name, admin_email, admin_name, resend_invitation, **options):
        try:
            result = organisation_create(name=name, admin_email=admin_email, admin_name=admin_name)
        except ValidationError as error:
            raise CommandError(_message(error)) from None
        organisation, admin = result.organisation, result.admin
        link = settings.SITE_URL + invitation_path(admin.user)
        if result.created:
            self.stdout.write(self.style.SUCCESS(f"Created the organisation {organisation.name}."))
            self.stdout.write(f"Its calendar for England holds {_years(organisation)}.")
            self.stdout.write(f"An invitation is on its way to {admin.user.email} ({admin.full_name}).")
            self.stdout.write(f"Invitation link (valid {_days()} days):\n  {link}")
            self.stdout.write("Once signed in, they work through the setup checklist on their home page.")
            return
        self.stdout.write(f"The organisation {organisation.name} already exists, with {admin.user.email} as an admin.")
        if admin.user.has_signed_in:
            self.stdout.write("They have accepted the invitation: nothing to do.")
            return
        if not resend_invitation:
            self.stdout.write(
                "They have not accepted the invitation yet. Run again with --resend-invitation to send a new one."
            )
            return
        try:
            organisation_resend_invitation(admin=admin)
        except ValidationError as error:
            raise CommandError(_message(error)) from None
        self.stdout.write(self.style.SUCCESS(f"A new invitation is on its way to {admin.user.email}."))
        self.stdout.write(f"Invitation link (valid {_days()} days):\n  {link}")


def _message(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return " ".join(
            f"{FIELDS.get(field, field)}: {message}"
            for field, messages in error.message_dict.items()
            for message in messages
        )
    return " ".join(error.messages)


def _years(organisation) -> str:
    names = list(organisation.academic_years.order_by("starts").values_list("name", flat=True))
    return " and ".join(names) if names else "no academic year"


def _days() -> int:
    return settings.PASSWORD_RESET_TIMEOUT // 86400
