"""Credentials that are not Google's own kinds: a token kept in a file by
a pipeline, and a sign-in that could not be loaded."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import google.auth.credentials
import google.auth.exceptions

from deployconsole.gcp.auth_oauth import SignInError

log = logging.getLogger("deployconsole.auth")


class TokenFileCredentials(google.auth.credentials.Credentials):  # type: ignore[misc]
    """A bearer token read from a file; "refreshing" reads the file again.

    Pipelines renew the file; a token that the service refused and that the
    file still holds cannot be refreshed.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.token = read_token_file(path)

    def refresh(self, request: Any) -> None:
        fresh = read_token_file(self.path)
        if fresh == self.token:
            raise google.auth.exceptions.RefreshError(
                f"the access token in {self.path} was refused (expired or revoked)"
            )
        self.token = fresh
        log.info("Access token read again from %s.", self.path)


def read_token_file(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SignInError(
            f"Cannot read the access token file {path}: {error.strerror}."
        ) from None
    if not text:
        raise SignInError(f"The access token file {path} is empty.")
    if any(ch.isspace() for ch in text):
        raise SignInError(
            f"The access token file {path} holds more than one line or word; "
            "it should hold just the token."
        )
    return text


class UnusableCredentials(google.auth.credentials.Credentials):  # type: ignore[misc]
    """Credentials that could not be loaded; every use asks to sign in again.

    A window opened on them shows the project and says why nothing can be
    read, instead of silently acting as some other identity.
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def refresh(self, request: Any) -> None:
        raise google.auth.exceptions.RefreshError(self.reason)
