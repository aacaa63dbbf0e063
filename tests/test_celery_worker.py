"""A real Celery worker process takes `config.ping` off the broker and answers through the result backend.

With REDIS_URL set (CI) the round trip goes through Redis; the filesystem transport that `make run` uses
without Redis is proved either way, in folders of the test's own.
"""

import os
import runpy
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery
from django.conf import settings

from config.celery import app, ping

TIMEOUT = 60

# Real worker processes on the shared broker: run alone, before the parallel run (bin/test).
pytestmark = pytest.mark.serial


@contextmanager
def worker(env: dict[str, str], log: Path):
    """A worker in its own process, configured only by its environment, as `make run` starts it."""
    command = [
        *(sys.executable, "-m", "celery", "-A", "config", "worker"),
        *("--pool=solo", "--loglevel=INFO", f"--hostname=test-{uuid.uuid4().hex[:8]}@%h"),
        # Nothing to agree with other workers about: start faster.
        *("--without-mingle", "--without-gossip", "--without-heartbeat"),
    ]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answer(result, process: subprocess.Popen, log: Path) -> str:
    """The task's result; fails at once, with the worker's output, if the worker dies first."""
    deadline = time.monotonic() + TIMEOUT
    while not result.ready():
        if process.poll() is not None:
            pytest.fail(f"The worker exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"No answer from the worker in {TIMEOUT} seconds:\n{log.read_text()}")
        time.sleep(0.1)
    return result.get(timeout=TIMEOUT)


@pytest.fixture
def not_eager():
    # tests/conftest.py makes tasks run in the test process; these must go through the broker.
    app.conf.task_always_eager = False


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (.ci/run sets it)")
def test_a_worker_answers_through_redis(not_eager, tmp_path):
    assert str(app.conf.broker_url).startswith("redis://")
    assert str(app.conf.result_backend).startswith("redis://")
    log = tmp_path / "worker.log"
    value = uuid.uuid4().hex
    with worker(dict(os.environ), log) as process:
        result = ping.delay(value)
        assert answer(result, process, log) == f"pong:{value}"


def test_a_worker_answers_through_the_filesystem_transport(not_eager, monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("CELERY_DATA_DIR", str(tmp_path / "celery"))
    # This process read its settings at start, perhaps with REDIS_URL. Send through an app of the test's
    # own, configured by the same settings code run again in the worker's environment.
    worker_settings = SimpleNamespace(**runpy.run_path(str(settings.BASE_DIR / "config" / "settings.py")))
    assert worker_settings.CELERY_BROKER_URL.startswith("filesystem://")
    client = Celery("supervision-test", set_as_current=False)
    client.config_from_object(worker_settings, namespace="CELERY")
    folders = [*worker_settings.CELERY_BROKER_TRANSPORT_OPTIONS.values(), client.conf.result_backend]
    for folder in folders:
        if isinstance(folder, str) and folder.startswith(("/", "file://")):
            Path(folder.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    log = tmp_path / "worker.log"
    value = uuid.uuid4().hex
    try:
        with worker(dict(os.environ), log) as process:
            result = client.signature("config.ping").delay(value)
            assert answer(result, process, log) == f"pong:{value}"
    finally:
        client.close()
