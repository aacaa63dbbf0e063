from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import demo


class Command(BaseCommand):
    help = "Create the demo organisation (Riverside Learning Trust) once, and print its sign-ins."

    def add_arguments(self, parser):
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print the demo sign-ins.")

    def handle(self, *args, **options):
        if demo.demo_exists():
            self.stdout.write("The demo organisation already exists; nothing to do.")
        else:
            today = timezone.localdate()
            # All or nothing: a half-built demo would be skipped by every later run.
            with transaction.atomic():
                organisation = demo.seed_people(today)
                # Later parts of the product add their demo data here, in order.
                for hook in demo_hooks():
                    hook(organisation, today)
            self.stdout.write(self.style.SUCCESS(f"Created the demo organisation: {organisation.name}."))
        if not options["quiet_logins"]:
            self.stdout.write(f"\nDemo sign-ins (password: {settings.DEMO_PASSWORD})")
            for email, role in demo.DEMO_SIGN_INS:
                self.stdout.write(f"  {email:<32} {role}")


def demo_hooks():
    """Each app that adds demo data exposes `seed_demo(organisation, today)` in its demo module."""
    import importlib
    import importlib.util

    hooks = []
    for app in ("supervision", "records"):
        if importlib.util.find_spec(f"{app}.demo") is not None:
            hooks.append(importlib.import_module(f"{app}.demo").seed_demo)
    return hooks
