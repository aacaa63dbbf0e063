"""Walk every audit chain (each organisation's, and the installation's) and name the first broken link.

Exit status 0 when every chain holds, 1 when one is broken; `--organisation <code>` checks one.
"""

from django.core.management.base import BaseCommand, CommandError

from accounts.audit_chain import Break, missing_triggers, verify_all
from accounts.models import Organisation


class Command(BaseCommand):
    help = "Check the audit trail's hash chains and that the database still refuses changes to it."

    def add_arguments(self, parser):
        parser.add_argument("--organisation", help="The code of one organisation to check.")

    def handle(self, *args, organisation=None, **options):
        organisations = Organisation.objects.order_by("id")
        if organisation:
            organisations = organisations.filter(code=organisation)
            if not organisations.exists():
                raise CommandError(f"No organisation with code {organisation}")
        broken: list[tuple[str, Break]] = []
        for name, count, problem in verify_all(organisations, installation=not organisation):
            if problem:
                broken.append((name, problem))
                self.stderr.write(f"BROKEN {name}: {count} events checked; first broken link: {problem}")
            else:
                self.stdout.write(f"ok {name}: {count} events, chain intact")
        missing = missing_triggers()
        if missing:
            self.stderr.write(
                "BROKEN database: the audit table would accept changes; missing or disabled triggers: "
                + ", ".join(missing)
            )
        if broken or missing:
            raise SystemExit(1)
