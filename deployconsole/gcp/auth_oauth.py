"""Signing a user in through the browser: the OAuth installed-app flow.

The console listens on a loopback port, opens the browser at Google's
consent page with a PKCE challenge and a random state, receives the
authorization code on its redirect, and trades it for tokens. Only the
refresh token is kept, in the keyring. The "open the browser" step is a
parameter so that tests drive it without one, and nothing here logs a
code or a token (the loopback server's request log would show the code).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import logging
import secrets
import threading
import time
import urllib.parse
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("deployconsole.auth")

# FIXME(oauth): no OAuth client ships with the console; a user signs in
# with a Desktop app client of their own (its client_secret.json).
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
USER_SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/cloud-platform",
)
DEFAULT_TIMEOUT = 300.0

SUCCESS_PAGE = (
    "<html><body><h3>Signed in.</h3><p>You can close this tab and return to "
    "Deploy Console.</p></body></html>"
)


class SignInError(Exception):
    """A sign-in that did not complete; the message says why, plainly."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth client of the "Desktop app" type.

    Attributes:
        client_id: the client id.
        client_secret: Google issues one to desktop clients too; it is not
            confidential there, but it is kept with the refresh token anyway.
        auth_uri, token_uri: the authorization and token endpoints.
    """

    client_id: str
    client_secret: str = field(repr=False)
    auth_uri: str = GOOGLE_AUTH_URI
    token_uri: str = GOOGLE_TOKEN_URI

    @classmethod
    def from_file(cls, path: str | Path) -> OAuthClient:
        """Read a client_secret.json downloaded from the Cloud Console."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise SignInError(
                f"Cannot read the OAuth client file {path}: {error.strerror}."
            ) from None
        except json.JSONDecodeError as error:
            raise SignInError(
                f"The OAuth client file {path} is not JSON ({error})."
            ) from None
        section = data.get("installed") if isinstance(data, dict) else None
        if not isinstance(section, dict) or not section.get("client_id"):
            raise SignInError(
                f"{path} is not a desktop OAuth client: it needs an \"installed\" "
                "section with a client_id (create a Desktop app client in the "
                "Cloud Console and download its JSON)."
            )
        return cls(
            client_id=str(section["client_id"]),
            client_secret=str(section.get("client_secret", "")),
            auth_uri=str(section.get("auth_uri") or GOOGLE_AUTH_URI),
            token_uri=str(section.get("token_uri") or GOOGLE_TOKEN_URI),
        )


@dataclass(frozen=True)
class UserGrant:
    """What the flow obtained. Holds secrets: keep it in memory only.

    Attributes:
        account: the signed-in email (from the id token), or "".
        refresh_token, access_token: the tokens.
        expiry: when the access token expires (naive UTC, as google-auth).
        client: the OAuth client used.
        scopes: the scopes granted.
    """

    account: str
    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    expiry: datetime | None
    client: OAuthClient
    scopes: tuple[str, ...]

    def keyring_secret(self) -> str:
        """The JSON kept in the keyring: gcloud's authorized_user form."""
        return json.dumps({
            "type": "authorized_user",
            "client_id": self.client.client_id,
            "client_secret": self.client.client_secret,
            "refresh_token": self.refresh_token,
            "token_uri": self.client.token_uri,
            "account": self.account,
            "scopes": list(self.scopes),
        })


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


class _Redirect(http.server.BaseHTTPRequestHandler):
    server: _LoopbackServer

    def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
        query = urllib.parse.urlparse(self.path).query
        params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        if "code" not in params and "error" not in params:
            self.send_error(404)  # a favicon or a stray request
            return
        ok = params.get("state") == self.server.expected_state and "code" in params
        body = SUCCESS_PAGE if ok else (
            "<html><body><h3>Sign-in did not complete.</h3><p>Return to Deploy "
            "Console for details.</p></body></html>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode("utf-8"))
        self.server.result = params
        self.server.arrived.set()

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes the request line, authorization code included,
        # to stderr.
        pass


class _LoopbackServer(http.server.HTTPServer):
    def __init__(self, expected_state: str) -> None:
        super().__init__(("127.0.0.1", 0), _Redirect)
        self.expected_state = expected_state
        self.result: dict[str, str] | None = None
        self.arrived = threading.Event()


def _decode_email(id_token: str) -> str:
    """The email claim of an id token, for display only (not verified: the
    token came straight from the token endpoint over its own connection)."""
    try:
        payload = id_token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return str(claims.get("email", ""))
    except (IndexError, ValueError):
        return ""


def run_flow(
    client: OAuthClient,
    *,
    open_browser: Callable[[str], Any] = webbrowser.open,
    scopes: Sequence[str] = USER_SCOPES,
    timeout: float = DEFAULT_TIMEOUT,
    cancelled: threading.Event | None = None,
) -> UserGrant:
    """Sign a user in; blocks until the browser comes back (run off the GUI).

    Args:
        client: the OAuth client.
        open_browser: opens a URL for the user; tests pass a fake.
        scopes: the scopes to ask for.
        timeout: seconds to wait for the user.
        cancelled: set it to give up waiting.

    Raises:
        SignInError: refused, timed out, cancelled, or the exchange failed.
    """
    state = secrets.token_urlsafe(24)
    verifier, challenge = _pkce()
    server = _LoopbackServer(state)
    server.timeout = 0.2
    redirect_uri = f"http://127.0.0.1:{server.server_port}/"
    url = client.auth_uri + "?" + urllib.parse.urlencode({
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
    })
    log.info("Browser sign-in started; waiting on %s.", redirect_uri)
    deadline = time.monotonic() + timeout
    stop = threading.Event()  # set when the browser could not be opened
    try:
        # The browser may come back before open_browser returns (a test's
        # fake does): serve on a thread from the start.
        thread = threading.Thread(
            target=_serve_until, args=(server, deadline, (stop, cancelled)),
            name="oauth-redirect", daemon=True,
        )
        thread.start()
        if open_browser(url) is False:
            stop.set()
            thread.join()
            raise SignInError(
                "No web browser could be opened for the sign-in. Sign in with "
                "Application Default Credentials or an access token file instead."
            )
        thread.join()
    finally:
        server.server_close()
    params = server.result
    if params is None:
        if cancelled is not None and cancelled.is_set():
            raise SignInError("Sign-in was cancelled.")
        raise SignInError(
            f"No answer from the browser within {timeout:g} s; sign-in was not "
            "completed."
        )
    if "error" in params:
        raise SignInError(
            f"Sign-in was refused in the browser ({params['error']})."
        )
    if params.get("state") != state:
        raise SignInError(
            "The browser's answer did not match this sign-in (state mismatch); "
            "nothing was stored. Try again."
        )
    return _exchange(client, params["code"], verifier, redirect_uri, scopes)


def _serve_until(
    server: _LoopbackServer,
    deadline: float,
    stops: tuple[threading.Event | None, ...],
) -> None:
    while not server.arrived.is_set() and time.monotonic() < deadline:
        if any(stop is not None and stop.is_set() for stop in stops):
            return
        server.handle_request()


def _exchange(
    client: OAuthClient,
    code: str,
    verifier: str,
    redirect_uri: str,
    scopes: Sequence[str],
) -> UserGrant:
    import requests

    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    try:
        response = requests.post(client.token_uri, data=form, timeout=30)
    except requests.RequestException as error:
        raise SignInError(
            f"The sign-in service at {client.token_uri} could not be reached "
            f"({type(error).__name__})."
        ) from None
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code != 200 or not isinstance(data, dict):
        reason = data.get("error_description") or data.get("error") if isinstance(
            data, dict
        ) else None
        raise SignInError(
            f"The sign-in service refused the authorization "
            f"(HTTP {response.status_code}: {reason or 'no reason given'})."
        )
    refresh_token = data.get("refresh_token")
    access_token = data.get("access_token")
    if not refresh_token or not access_token:
        raise SignInError(
            "The sign-in service returned no refresh token, so the console could "
            "not stay signed in; try again (the consent page must be shown)."
        )
    expires_in = data.get("expires_in")
    expiry = None
    if isinstance(expires_in, int | float):
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        expiry = now + timedelta(seconds=float(expires_in))
    granted = tuple(str(data.get("scope", "")).split()) or tuple(scopes)
    account = _decode_email(str(data.get("id_token", "")))
    log.info("Browser sign-in completed for %s.", account or "an unnamed account")
    return UserGrant(
        account=account,
        refresh_token=str(refresh_token),
        access_token=str(access_token),
        expiry=expiry,
        client=client,
        scopes=granted,
    )
