"""/healthz (DESIGN section 10): 200 with both parts up, 503 as soon as one is down, and quickly."""

import socket
import time

import pytest

from config.celery import app


@pytest.fixture
def dead_redis_url():
    # A port that was free a moment ago: connecting is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_healthz_reports_database_and_broker(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_503_when_redis_is_unreachable(client, db, monkeypatch, dead_redis_url):
    monkeypatch.setitem(app.conf, "broker_url", dead_redis_url)
    started = time.monotonic()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "error"}
    # redis-py would retry ten times by default; the check must not keep a load balancer waiting.
    assert time.monotonic() - started < 3


def test_healthz_is_503_when_the_broker_folder_is_missing(client, db, monkeypatch, tmp_path):
    monkeypatch.setitem(app.conf, "broker_url", "filesystem://")
    missing = str(tmp_path / "gone")
    monkeypatch.setitem(app.conf, "broker_transport_options", {"data_folder_in": missing, "data_folder_out": missing})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "error"


def test_healthz_is_503_when_the_database_is_down(client, db, monkeypatch):
    monkeypatch.setattr("config.views._database_ok", lambda: False)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "error"


def test_healthz_answers_get_only(client, db):
    assert client.post("/healthz").status_code == 405
