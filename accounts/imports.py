"""What the CSV imports (staff, school calendar) share: reading rows without a server error on a bad
file, and keeping a checked file on the server between the preview and the confirmation.
"""

import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import PendingImport

# A checked file waits this long for its confirmation; then the uploader checks it again.
PENDING_FOR = timedelta(hours=1)
EXPIRED = "This check has expired or was not yours: upload the file again."


@dataclass
class Problem:
    row: int
    column: str
    message: str

    def __str__(self):
        return f"Row {self.row}, column “{self.column}”: {self.message}"


def read_rows(text: str, problems: list) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, values) for every row after the header, the header being row 1.

    A row the csv module cannot read (a value over its 128 KB limit, usually a quote never closed)
    becomes a problem on that row and ends the reading: what follows it cannot be trusted.
    """
    reader = csv.reader(io.StringIO(text))
    number = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                message = (
                    "A value on this row is longer than 128 KB, so the file cannot be read from here. "
                    "A quotation mark that is never closed does this: check the row in your spreadsheet."
                )
            else:
                message = f"This row cannot be read as CSV ({error}). Save the spreadsheet as CSV again."
            problems.append(Problem(number, "(row)", message))
            return
        yield number, values
        number += 1


def _live():
    return PendingImport.objects.filter(created_at__gte=timezone.now() - PENDING_FOR)


@transaction.atomic
def pending_import_store(*, kind: str, user, organisation, text: str) -> str:
    """Keep a checked file for its confirmation; returns the token the confirmation posts.

    Not audited: nothing is imported yet, and the import itself is. Expired files, and this person's
    earlier file of the same kind, are removed here, so nothing waits longer than PENDING_FOR plus the
    time to the next upload.
    """
    PendingImport.objects.filter(created_at__lt=timezone.now() - PENDING_FOR).delete()
    PendingImport.objects.filter(kind=kind, user=user).delete()
    token = secrets.token_urlsafe(32)
    PendingImport.objects.create(token=token, kind=kind, user=user, organisation=organisation, text=text)
    return token


def pending_import_get(*, token: str, kind: str, user, organisation) -> PendingImport | None:
    """The uploader's own live file of this kind, or None (someone else's token is refused alike)."""
    if not token:
        return None
    return _live().filter(token=token, kind=kind, user=user, organisation=organisation).first()


ALREADY_USED = "This file was just imported, or is being imported: look at the list before importing it again."


def pending_import_discard(*, pending: PendingImport) -> None:
    """Remove the file as its import begins, inside the import's transaction. A second confirmation of
    the same file (a double click) waits on the row and then finds it gone: refused, nothing written."""
    deleted, _ = PendingImport.objects.filter(pk=pending.pk).delete()
    if not deleted:
        raise ValidationError({"file": ALREADY_USED})
