"""An organisation's own settings page and its settings (schools, nurseries, sites): the writes, each
audited with what changed (before and after), and the checks of an uploaded logo.

A setting is closed, never deleted: its people, sessions and records keep pointing at it, and closing
only takes it out of pickers and planning (`Setting.objects.open()`).
"""

import hashlib
from dataclasses import dataclass
from datetime import date, time
from io import BytesIO

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from .audit import audit_event
from .models import Organisation, OrganisationLogo, Setting, StaffMember

LOGO_MAX_BYTES = 512 * 1024
# A PDF header is 2 cm high: anything larger is scaled down on upload rather than stored as sent.
LOGO_MAX_PIXELS = 800
# Refused before decoding: an image declaring more pixels than this could take gigabytes to open.
LOGO_MAX_DECLARED_PIXELS = 25_000_000
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}


@dataclass(frozen=True)
class Logo:
    data: bytes
    content_type: str
    width: int
    height: int


def logo_from_upload(data: bytes) -> Logo:
    """A PNG or JPEG, decoded with Pillow and written again (so only pixels are kept: no metadata, no
    trailing bytes, nothing a viewer could take for another format). ValidationError with the reason."""
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationError(
            f"The logo is {len(data) // 1024:,} KB: the largest allowed is {LOGO_MAX_BYTES // 1024} KB."
        )
    try:
        # WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES for the whole process, so a cut-off file would
        # load with grey where the rest was: verify (chunk by chunk, with checksums for PNG) first.
        with Image.open(BytesIO(data)) as image:
            image.verify()
        with Image.open(BytesIO(data)) as image:
            kind = image.format
            if kind not in LOGO_FORMATS:
                raise ValidationError("The logo must be a PNG or JPEG image.")
            if image.width * image.height > LOGO_MAX_DECLARED_PIXELS:
                raise ValidationError("The logo has far too many pixels: make it smaller than 800 pixels across.")
            image.load()
            image.thumbnail((LOGO_MAX_PIXELS, LOGO_MAX_PIXELS))
            out = BytesIO()
            if kind == "PNG":
                image = image.convert("RGBA") if image.mode not in ("RGB", "RGBA", "L", "LA") else image
                image.save(out, format="PNG", optimize=True)
            else:
                image = image.convert("RGB")
                image.save(out, format="JPEG", quality=90)
            return Logo(out.getvalue(), LOGO_FORMATS[kind], image.width, image.height)
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError("The file is not a PNG or JPEG image that can be read.") from None


def _organisation_snapshot(organisation: Organisation) -> dict:
    return {
        "name": organisation.name,
        "address": organisation.address,
        "default_frequency": organisation.default_frequency,
        "default_session_minutes": organisation.default_session_minutes,
        "retention_months": organisation.retention_months,
        "email_sender_name": organisation.email_sender_name,
    }


EDITABLE = tuple(_organisation_snapshot(Organisation()))


@transaction.atomic
def organisation_update(
    *,
    actor: StaffMember,
    values: dict,
    logo: Logo | None = None,
    remove_logo: bool = False,
    request=None,
) -> dict:
    """Change the organisation's own settings (the keys of EDITABLE) and its logo. Returns the changes,
    {field: [before, after]}, as written to the audit trail; nothing is written when nothing changed."""
    organisation = Organisation.objects.select_for_update().get(pk=actor.organisation_id)
    before = _organisation_snapshot(organisation)
    for key in EDITABLE:
        if key in values:
            setattr(organisation, key, values[key])
    after = _organisation_snapshot(organisation)
    changes = {key: [before[key], after[key]] for key in EDITABLE if before[key] != after[key]}
    if changes:
        organisation.full_clean()
        organisation.save(update_fields=list(changes))
    current = OrganisationLogo.objects.filter(organisation=organisation).only("sha256").first()
    if logo is not None:
        digest = hashlib.sha256(logo.data).hexdigest()
        if current is None or current.sha256 != digest:
            OrganisationLogo.objects.update_or_create(
                organisation=organisation,
                defaults={
                    "image": logo.data, "content_type": logo.content_type, "sha256": digest,
                    "width": logo.width, "height": logo.height, "updated_at": timezone.now(),
                },
            )  # fmt: skip
            changes["logo"] = [current.sha256 if current else None, digest]
    elif remove_logo and current is not None:
        OrganisationLogo.objects.filter(organisation=organisation).delete()
        changes["logo"] = [current.sha256, None]
    if changes:
        audit_event(
            action="organisation.settings_changed",
            actor=actor.user,
            obj=organisation,
            request=request,
            details={"changes": changes},
        )
    actor.organisation = organisation
    return changes


# --- Settings (schools, nurseries, sites) -------------------------------------------------------------


@dataclass
class SettingData:
    name: str
    kind: str
    day_starts: time
    day_ends: time
    address: str = ""


def _setting_snapshot(setting: Setting) -> dict:
    return {
        "name": setting.name,
        "kind": setting.kind,
        "day_starts": setting.day_starts.isoformat(timespec="minutes") if setting.day_starts else None,
        "day_ends": setting.day_ends.isoformat(timespec="minutes") if setting.day_ends else None,
        "address": setting.address,
        "closed_on": setting.closed_on.isoformat() if setting.closed_on else None,
    }


def _check_setting(organisation_id: int, data: SettingData, exclude_id: int | None = None) -> None:
    errors = {}
    if data.day_ends <= data.day_starts:
        errors["day_ends"] = "The day ends after it starts."
    same_name = Setting.objects.filter(organisation_id=organisation_id, name__iexact=data.name.strip())
    if exclude_id is not None:
        same_name = same_name.exclude(pk=exclude_id)
    if same_name.exists():
        errors["name"] = "The organisation already has a setting of that name (it may be closed)."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def setting_create(*, actor: StaffMember, data: SettingData, request=None) -> Setting:
    _check_setting(actor.organisation_id, data)
    setting = Setting.objects.create(
        organisation_id=actor.organisation_id,
        name=data.name.strip(),
        kind=data.kind,
        day_starts=data.day_starts,
        day_ends=data.day_ends,
        address=data.address,
    )
    audit_event(
        action="setting.created",
        actor=actor.user,
        obj=setting,
        organisation=actor.organisation,
        request=request,
        details={"after": _setting_snapshot(setting)},
    )
    return setting


@transaction.atomic
def setting_update(*, actor: StaffMember, setting: Setting, data: SettingData, request=None) -> dict:
    """Rename, change the kind, the school day or the address. Returns the changes ({} for none)."""
    setting = Setting.objects.select_for_update().get(pk=setting.pk)
    _check_setting(setting.organisation_id, data, exclude_id=setting.pk)
    before = _setting_snapshot(setting)
    setting.name, setting.kind, setting.address = data.name.strip(), data.kind, data.address
    setting.day_starts, setting.day_ends = data.day_starts, data.day_ends
    after = _setting_snapshot(setting)
    changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changes:
        setting.save(update_fields=list(changes))
        audit_event(
            action="setting.changed",
            actor=actor.user,
            obj=setting,
            organisation=actor.organisation,
            request=request,
            details={"changes": changes},
        )
    return changes


@transaction.atomic
def setting_close(*, actor: StaffMember, setting: Setting, on: date | None = None, request=None) -> bool:
    """Close a setting: kept with its people and records, offered nowhere new. Returns whether it changed."""
    setting = Setting.objects.select_for_update().get(pk=setting.pk)
    if setting.closed_on is not None:
        return False
    if not Setting.objects.open().filter(organisation_id=setting.organisation_id).exclude(pk=setting.pk).exists():
        raise ValidationError("This is the organisation's only open setting: add another before closing it.")
    setting.closed_on = on or timezone.localdate()
    setting.save(update_fields=["closed_on"])
    audit_event(
        action="setting.closed",
        actor=actor.user,
        obj=setting,
        organisation=actor.organisation,
        request=request,
        details={"changes": {"closed_on": [None, setting.closed_on.isoformat()]}},
    )
    return True


@transaction.atomic
def setting_reopen(*, actor: StaffMember, setting: Setting, request=None) -> bool:
    setting = Setting.objects.select_for_update().get(pk=setting.pk)
    if setting.closed_on is None:
        return False
    before = setting.closed_on.isoformat()
    setting.closed_on = None
    setting.save(update_fields=["closed_on"])
    audit_event(
        action="setting.reopened",
        actor=actor.user,
        obj=setting,
        organisation=actor.organisation,
        request=request,
        details={"changes": {"closed_on": [before, None]}},
    )
    return True
