"""Secrets in the OS keyring, and only there.

The console keeps a service account key or a refresh token in the keyring
(Secret Service, macOS Keychain, Windows Credential Locker) under the
service name ``deployconsole``; the settings keep the entry's name. When no
keyring is usable the console says so and offers the sign-ins that need
none: it never falls back to a file, so backends that store in plain text
count as no keyring.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

log = logging.getLogger("deployconsole.auth")

KEYRING_SERVICE = "deployconsole"

NO_KEYRING_HINT = (
    "Sign in with Application Default Credentials (gcloud auth "
    "application-default login) or an access token file instead; "
    "deployconsole never writes a secret to a file."
)


class KeyringUnavailable(Exception):
    """No keyring can hold the secret; the message says what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason.rstrip('.')}. {NO_KEYRING_HINT}")
        self.message = str(self)


def _unusable(backend: KeyringBackend) -> str | None:
    """Why ``backend`` cannot hold secrets; None when it can."""
    name = type(backend).__name__
    module = type(backend).__module__
    if module.startswith("keyring.backends.fail") or module.startswith(
        "keyring.backends.null"
    ):
        return "No keyring is available on this computer"
    # keyrings.alt ships file backends; the plain-text one is a file in
    # disguise, and an "encrypted" file is still a copy of the key on disk.
    if module.startswith("keyrings.alt") or "Plaintext" in name:
        return f"The keyring {name} keeps secrets in a file"
    try:
        if float(backend.priority) <= 0:  # type: ignore[arg-type]
            return f"The keyring {name} is not usable here"
    except Exception:  # noqa: BLE001 - a backend whose priority check fails
        return f"The keyring {name} is not usable here"
    return None


def keyring_problem() -> str | None:
    """Why secrets cannot be kept (a sentence for the user); None when they can.

    On Linux this is the case without a Secret Service (GNOME Keyring,
    KWallet) running and unlocked.
    """
    backend = keyring.get_keyring()
    chained: list[Any] = list(getattr(backend, "backends", None) or [])
    if type(backend).__name__ == "ChainerBackend":
        if not chained:
            return _hint_platform("No keyring is available on this computer")
        for member in chained:
            problem = _unusable(member)
            if problem is not None:
                return _hint_platform(problem)
        return None
    problem = _unusable(backend)
    return None if problem is None else _hint_platform(problem)


def _hint_platform(problem: str) -> str:
    import sys

    if sys.platform.startswith("linux") and problem.startswith("No keyring"):
        return (
            f"{problem} (on Linux, start and unlock a Secret Service such as "
            "GNOME Keyring or KWallet)"
        )
    return problem


def new_ref(kind: str, project: str) -> str:
    """A fresh keyring entry name; it names the project, never a secret."""
    return f"{kind}/{project}/{secrets.token_hex(4)}"


class SecretStore:
    """Put, get and delete secrets under :data:`KEYRING_SERVICE`."""

    def __init__(self, service: str = KEYRING_SERVICE) -> None:
        self.service = service

    def check(self) -> None:
        """Raise KeyringUnavailable unless a usable keyring exists."""
        problem = keyring_problem()
        if problem is not None:
            raise KeyringUnavailable(problem)

    def put(self, ref: str, secret: str) -> None:
        self.check()
        try:
            keyring.set_password(self.service, ref, secret)
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(
                f"The keyring refused to store the secret ({type(error).__name__}: "
                f"{error}); it may be locked"
            ) from error
        log.info("Secret stored in the keyring as %s.", ref)

    def get(self, ref: str) -> str | None:
        """The secret, or None when the keyring has no such entry."""
        self.check()
        try:
            return keyring.get_password(self.service, ref)
        except keyring.errors.KeyringError as error:
            raise KeyringUnavailable(
                f"The keyring could not be read ({type(error).__name__}: {error}); "
                "it may be locked"
            ) from error

    def delete(self, ref: str) -> bool:
        """Delete the entry; False when there was none (or no keyring)."""
        if keyring_problem() is not None:
            return False
        try:
            keyring.delete_password(self.service, ref)
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.KeyringError as error:
            log.warning("Keyring entry %s could not be deleted: %s", ref, error)
            return False
        log.info("Keyring entry %s deleted.", ref)
        return True
