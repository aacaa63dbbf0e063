"""Checking an uploaded PDF without trusting it: in a child process with time and memory limits.

A crafted PDF of a few kilobytes can make a parser work for minutes and take gigabytes (a cross-reference
stream declaring millions of entries, a compressed stream that inflates to a gigabyte). So the web
process never parses an upload itself:

1. `screen` reads the numbers the file declares without parsing it, and refuses a file claiming far more
   objects than any record's PDF has (`MAX_DECLARED_OBJECTS`);
2. `check_in_child` runs `python -m records.pdfcheck` with the file on its standard input: the child
   loads pyHanko and the certificate, limits its own CPU time, address space and file writes
   (`resource.setrlimit`), checks the signature and prints the outcome as JSON. It has no database, no
   settings and no secrets (an empty environment). When it runs out of time or memory, or fails in any
   other way, the answer is "this file could not be checked", and the web process is as it was.

The web process answers a file byte for byte the same as a stored copy without either (records/pdf.py).
"""

import json
import logging
import os
import re
import resource
import subprocess
import sys
from dataclasses import asdict, fields
from datetime import datetime

logger = logging.getLogger(__name__)

# A record's PDF has a few hundred objects; an addendum or a long record a few more.
MAX_DECLARED_OBJECTS = 100_000
# The child's budget beyond what loading Python and pyHanko took. A record's PDF takes well under a
# second and a few tens of megabytes.
CPU_SECONDS = 5
MEMORY_BYTES = 384 * 1024 * 1024
# Wall-clock limit for the whole child, start-up included (a child waiting on nothing still ends).
WALL_SECONDS = 12

REFUSED = "This file could not be checked: reading it needed more time or memory than any record's PDF does."
TOO_MANY_OBJECTS = "This file could not be checked: it declares {count:,} objects, far more than any record's PDF has."

_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_SIZE = re.compile(rb"/(?:Size|N)\s*\+?(\d{1,30})")
_INDEX = re.compile(rb"/Index\s*\[([\d\s+]{0,2000})\]")
_XREF_SUBSECTION = re.compile(rb"(?m)^\s*\d{1,30}\s+(\d{1,30})\s*\r?\n\s*\d{10}\s+\d{5}\s+[nf]")


def declared_objects(data: bytes) -> int:
    """The largest number of objects the file declares anywhere (/Size, /N, /Index, xref subsections),
    read with regular expressions in linear time: nothing is parsed or inflated."""
    if b"#" in data:
        # Names may be spelt with escapes (/Si#7Ae is /Size): read them as the parser would.
        data = _NAME_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), data)
    largest = 0
    for match in _SIZE.finditer(data):
        largest = max(largest, int(match[1]))
    for match in _INDEX.finditer(data):
        numbers = [int(n) for n in match[1].split()]
        counts = numbers[1::2]
        largest = max(largest, sum(counts), *(s + c for s, c in zip(numbers[::2], counts, strict=False)), 0)
    for match in _XREF_SUBSECTION.finditer(data):
        largest = max(largest, int(match[1]))
    return largest


def screen(data: bytes) -> str:
    """A reason to refuse the file without parsing it, or ""."""
    count = declared_objects(data)
    if count > MAX_DECLARED_OBJECTS:
        return TOO_MANY_OBJECTS.format(count=count)
    return ""


def check_in_child(data: bytes, certificate: str):
    """The SignatureCheck of `data` against the PEM certificates in the file `certificate` (one or more,
    each trusted), made in a child process with limits; a refused check (`refused=True`) when the child
    did not finish."""
    from django.conf import settings

    from .signing import SignatureCheck

    command = [
        sys.executable, "-E", "-s", "-m", "records.pdfcheck",
        certificate, str(CPU_SECONDS), str(MEMORY_BYTES),
    ]  # fmt: skip
    refused = SignatureCheck(readable=False, refused=True, problem=REFUSED)
    try:
        completed = subprocess.run(  # noqa: S603 - our own module, the file only on stdin
            command,
            input=data,
            capture_output=True,
            timeout=WALL_SECONDS,
            cwd=settings.BASE_DIR,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.warning("Checking an uploaded PDF took over %s s: refused.", WALL_SECONDS)
        return refused
    if completed.returncode != 0:
        logger.warning(
            "Checking an uploaded PDF ended with %s: refused. %s",
            completed.returncode,
            completed.stderr.decode(errors="replace")[-500:],
        )
        return refused
    try:
        outcome = json.loads(completed.stdout)
        known = {f.name for f in fields(SignatureCheck)}
        outcome = {k: v for k, v in outcome.items() if k in known}
        if outcome.get("signed_at"):
            outcome["signed_at"] = datetime.fromisoformat(outcome["signed_at"])
        return SignatureCheck(**outcome)
    except (ValueError, TypeError):
        logger.warning("Checking an uploaded PDF gave an answer that could not be read: refused.")
        return refused


# --- In the child ------------------------------------------------------------------------------------


def _limit(cpu_seconds: int, memory_bytes: int) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + 1 + cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_bytes, mapped + memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> int:
    certificate, cpu_seconds, memory_bytes = argv[0], int(argv[1]), int(argv[2])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from pyhanko.keys import load_certs_from_pemder

    from records.signing import check_signed_pdf

    trusted = list(load_certs_from_pemder([certificate]))
    data = sys.stdin.buffer.read()
    _limit(cpu_seconds, memory_bytes)
    check = check_signed_pdf(data, trusted=trusted)
    outcome = asdict(check)
    outcome["signed_at"] = check.signed_at.isoformat() if check.signed_at else None
    sys.stdout.write(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
