from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from records.signing import CERTIFICATE_FILE, KEY_FILE, write_self_signed


class Command(BaseCommand):
    help = (
        "Make a self-signed certificate and RSA key for signing record PDFs, when the organisation has no "
        "certificate from a certification authority. Never overwrites an existing key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help='The organisation, e.g. "Riverside Learning Trust".')
        parser.add_argument(
            "--directory",
            type=Path,
            default=None,
            help="Where to write certificate.pem and key.pem. Default: PRIVATE_ROOT/signing, used when "
            "RECORDS_SIGNING_CERT and RECORDS_SIGNING_KEY are unset.",
        )
        parser.add_argument("--years", type=int, default=10, help="How long the certificate is valid (10 years).")

    def handle(self, *args, name, directory, years, **options):
        directory = directory or Path(settings.PRIVATE_ROOT) / "signing"
        existing = [p for p in (directory / CERTIFICATE_FILE, directory / KEY_FILE) if p.exists()]
        if existing:
            raise CommandError(f"{existing[0]} already exists: move it away first, or choose another --directory.")
        if not 1 <= years <= 30:
            raise CommandError("--years must be between 1 and 30.")
        write_self_signed(directory, common_name=f"{name} record signing", organisation=name, years=years)
        self.stdout.write(self.style.SUCCESS(f"Wrote {directory / CERTIFICATE_FILE} and {directory / KEY_FILE}."))
        self.stdout.write(
            "Keep the key secret and backed up: PDFs signed with it can only be checked against this certificate.\n"
            "To use them from elsewhere than PRIVATE_ROOT/signing, set:\n"
            f"  RECORDS_SIGNING_CERT={(directory / CERTIFICATE_FILE).resolve()}\n"
            f"  RECORDS_SIGNING_KEY={(directory / KEY_FILE).resolve()}"
        )
