def test_home_redirects_anonymous_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_home_shows_supervisees_to_a_supervisor(cast, login):
    client = login(cast.supervisor)
    response = client.get("/")
    assert response.status_code == 200
    assert "Sid Supervisee" in response.content.decode()
