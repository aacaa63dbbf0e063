"""A small OpenID Connect provider for the tests, on a local port in a thread: a discovery document, a JWKS,
an authorisation endpoint that sends the browser back with a code, and a token endpoint that checks the
client secret, redirect URI and PKCE verifier and answers with an ID token signed by joserfc.

Two of them share one server: `/ms` behaves as Microsoft's multi-tenant endpoints (issuer
`{base}/ms/{tid}/v2.0`) and `/google` as Google's. Who "signs in" at the provider is set by the test
(`provider.person`), as a person would choose their account on the provider's page.
"""

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "supervision-test-client"
CLIENT_SECRET = "supervision-test-secret"


class LocalProvider:
    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "provider-key-1", "use": "sig", "alg": "RS256"})
        # The key of the "bad signature" cases: never published in the JWKS.
        self.stranger_key = RSAKey.generate_key(2048, parameters={"kid": "provider-key-1"})
        self.person: dict = {}  # claims of whoever signs in next, set by the test
        self.sign_with = None  # a key other than the published one, for one token
        self.nonce_override = None
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def reset(self):
        self.person, self.sign_with, self.nonce_override = {}, None, None
        self.codes.clear()
        self.token_requests.clear()

    # --- What each path answers -------------------------------------------------------------------

    def discovery(self, prefix: str) -> dict:
        issuer = f"{self.base}/ms/{{tenantid}}/v2.0" if prefix == "ms" else f"{self.base}/google"
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{self.base}/{prefix}/authorize",
            "token_endpoint": f"{self.base}/{prefix}/token",
            "jwks_uri": f"{self.base}/{prefix}/keys",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict:
        return KeySet([self.key]).as_dict(private=False)

    def authorize(self, prefix: str, query: dict) -> tuple[int, dict]:
        """Checks the request as a provider would, and sends the browser back with a fresh code."""
        expected = {"response_type": "code", "client_id": CLIENT_ID, "code_challenge_method": "S256"}
        wrong = [name for name, value in expected.items() if query.get(name) != value]
        wrong += [name for name in ("redirect_uri", "state", "nonce", "code_challenge") if not query.get(name)]
        if "openid" not in query.get("scope", "").split():
            wrong.append("scope")
        if wrong:
            return 400, {"error": "invalid_request", "wrong": wrong}
        code = secrets.token_urlsafe(24)
        self.codes[code] = {"prefix": prefix, "query": query, "person": dict(self.person)}
        back = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
        return 302, {"Location": back}

    def token(self, prefix: str, form: dict) -> tuple[int, dict]:
        self.token_requests.append(form)
        grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or grant["prefix"] != prefix or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        query = grant["query"]
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client"}
        if form.get("redirect_uri") != query["redirect_uri"]:
            return 400, {"error": "invalid_grant", "description": "redirect_uri"}
        if create_s256_code_challenge(form.get("code_verifier", "")) != query["code_challenge"]:
            return 400, {"error": "invalid_grant", "description": "PKCE"}
        return 200, {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": self.id_token(prefix, grant["person"], nonce=self.nonce_override or query["nonce"]),
        }

    def id_token(self, prefix: str, person: dict, *, nonce: str) -> str:
        now = int(time.time())
        claims = {"aud": CLIENT_ID, "iat": now, "nbf": now, "exp": now + 3600, "nonce": nonce, **person}
        if prefix == "ms":
            claims.setdefault("iss", f"{self.base}/ms/{person.get('tid', '')}/v2.0")
            claims.setdefault("sub", "ms-" + person.get("email", "nobody"))
        else:
            claims.setdefault("iss", f"{self.base}/google")
            claims.setdefault("sub", "google-" + person.get("email", "nobody"))
        key = self.sign_with or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    # --- HTTP ---------------------------------------------------------------------------------------

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict):
                if status == 302:
                    self.send_response(302)
                    self.send_header("Location", body["Location"])
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                prefix, _, rest = url.path.strip("/").partition("/")
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if prefix == "ms" and rest == "organizations/v2.0/.well-known/openid-configuration":
                    return self._answer(200, provider.discovery("ms"))
                if prefix == "google" and rest == ".well-known/openid-configuration":
                    return self._answer(200, provider.discovery("google"))
                if prefix in ("ms", "google") and rest == "keys":
                    return self._answer(200, provider.jwks())
                if prefix in ("ms", "google") and rest == "authorize":
                    return self._answer(*provider.authorize(prefix, query))
                return self._answer(404, {"error": "not_found"})

            def do_POST(self):
                url = urlsplit(self.path)
                prefix, _, rest = url.path.strip("/").partition("/")
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if prefix in ("ms", "google") and rest == "token":
                    return self._answer(*provider.token(prefix, form))
                return self._answer(404, {"error": "not_found"})

        return Handler
