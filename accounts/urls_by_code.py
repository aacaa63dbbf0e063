"""Addresses of many objects of one kind, for a page that links each row (issue 14)."""

import uuid
from collections.abc import Callable

from django.urls import reverse

_ANY_CODE = uuid.UUID(int=0)


def by_code(name: str) -> Callable[[object], str]:
    """`reverse(name, kwargs={"code": code})` for any code, reversed once: the address for code 0 with the
    code swapped in. A page of fifty rows with two links each spent a tenth of its time in reverse()."""
    pattern = reverse(name, kwargs={"code": _ANY_CODE})
    return lambda code: pattern.replace(str(_ANY_CODE), str(code))
