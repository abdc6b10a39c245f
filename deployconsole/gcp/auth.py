"""Credentials for a project, by each sign-in path.

- Application Default Credentials, as ``gcloud auth application-default
  login`` (or GOOGLE_APPLICATION_CREDENTIALS) leaves them.
- A service account key file imported into the OS keyring: the key is read
  once, stored in the keyring, and the file may be deleted afterwards.
- A browser sign-in (auth_oauth.py) whose refresh token is in the keyring.
- An access token file (``--access-token-file``, as gcloud has), read again
  when the service refuses the token, for pipelines that renew it.

Each gives an :class:`Identity`: google-auth credentials plus who is signed
in and what to do when the sign-in stops working. An Endpoint carries it to
the channel (auth_grpc.py), which puts the bearer token on every call.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from deployconsole.core.permissions import SignInRequired
from deployconsole.core.projects import ProjectEntry, ProjectRegistry, SignInKind
from deployconsole.gcp.auth_keyring import KeyringUnavailable, SecretStore, new_ref
from deployconsole.gcp.auth_oauth import OAuthClient, SignInError, UserGrant, run_flow
from deployconsole.gcp.auth_tokens import (
    TokenFileCredentials,
    UnusableCredentials,
    read_token_file,
)
from deployconsole.gcp.channel import Endpoint

log = logging.getLogger("deployconsole.auth")

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

__all__ = [
    "Identity",
    "KeyringUnavailable",
    "SignInError",
    "SignInRequired",
    "TokenFileCredentials",
    "UnusableCredentials",
    "adc_identity",
    "endpoint_for",
    "entry_for",
    "identity_for",
    "identity_or_failure",
    "import_service_account_key",
    "sign_in",
    "sign_in_user",
    "token_file_identity",
]


@dataclass(frozen=True)
class Identity:
    """Who the console acts as in one project.

    Attributes:
        project: the project id (for messages).
        sign_in: the path used.
        credentials: google-auth credentials (never logged or shown).
        account: who is signed in, for display.
        hint: what to do when this sign-in is refused, expired or revoked.
    """

    project: str
    sign_in: SignInKind
    credentials: google.auth.credentials.Credentials = dataclasses.field(
        repr=False, compare=False
    )
    account: str
    hint: str

    def sign_in_required(self, reason: str) -> SignInRequired:
        return SignInRequired(self.project, reason, self.hint)


_ADC_HINT = "Run 'gcloud auth application-default login' and try again."
_USER_HINT = "Sign in again in the browser: Projects (Ctrl+O), Sign in again."
_KEY_HINT = (
    "The key may have been disabled or deleted: import a new key under "
    "Projects (Ctrl+O)."
)


def _token_file_hint(path: str) -> str:
    return (
        f"Write a fresh access token to {path} (for example with 'gcloud auth "
        "print-access-token') and try again."
    )


# -- Application Default Credentials -------------------------------------


def adc_identity(project: str) -> Identity:
    """ADC as google-auth finds them.

    Raises:
        SignInRequired: there are none (with the gcloud command to run).
    """
    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError:
        # Its message is long and points to a web page; ours says what to run.
        raise SignInRequired(
            project, "no Application Default Credentials were found", _ADC_HINT
        ) from None
    account = (
        getattr(credentials, "service_account_email", "")
        or getattr(credentials, "account", "")
        or "Application Default Credentials"
    )
    log.info("Using Application Default Credentials for %s.", project)
    return Identity(project, SignInKind.ADC, credentials, str(account), _ADC_HINT)


# -- service account key in the keyring --------------------------------------

_KEY_FIELDS = ("type", "client_email", "private_key", "token_uri")


def _parse_key(text: str, source: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        raise SignInError(
            f"{source} is not a service account key: it is not JSON."
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SignInError(
            f"{source} is not a service account key (its \"type\" is not "
            "\"service_account\"); download a JSON key under IAM > Service "
            "accounts > Keys."
        )
    missing = [name for name in _KEY_FIELDS if not info.get(name)]
    if missing:
        raise SignInError(f"{source} lacks {', '.join(missing)}.")
    return info


def import_service_account_key(
    path: str | Path, project: str, store: SecretStore | None = None
) -> ProjectEntry:
    """Store the key file's content in the keyring; the entry to remember.

    The file is read once and may be deleted afterwards; nothing is written
    to disk.

    Raises:
        SignInError: the file is missing or not a service account key.
        KeyringUnavailable: no keyring can hold it (checked before reading).
    """
    store = store or SecretStore()
    store.check()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SignInError(
            f"Cannot read the key file {path}: {error.strerror}."
        ) from None
    info = _parse_key(text, str(path))
    _key_credentials(info, project)  # a damaged private key fails here
    ref = new_ref("service-account", project)
    store.put(ref, json.dumps(info))
    account = str(info["client_email"])
    log.info("Service account %s imported for %s as %s.", account, project, ref)
    return ProjectEntry(
        id=project, sign_in=SignInKind.SERVICE_ACCOUNT, keyring_ref=ref,
        account=account,
    )


def _key_credentials(info: dict[str, Any], project: str) -> Any:
    try:
        return service_account.Credentials.from_service_account_info(
            info, scopes=list(SCOPES)
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError):
        raise SignInError(
            f"The key of {info.get('client_email')} cannot be used: its private "
            "key is damaged."
        ) from None


# -- browser sign-in ------------------------------------------------------------


def sign_in_user(
    project: str,
    client: OAuthClient,
    store: SecretStore | None = None,
    **flow: Any,
) -> ProjectEntry:
    """Run the browser sign-in and keep its refresh token in the keyring.

    ``flow`` goes to :func:`auth_oauth.run_flow` (open_browser, timeout,
    cancelled). The keyring is checked first, so a user is not sent through
    the browser for a token the console could not keep.
    """
    store = store or SecretStore()
    store.check()
    grant: UserGrant = run_flow(client, **flow)
    ref = new_ref("user", project)
    store.put(ref, grant.keyring_secret())
    return ProjectEntry(
        id=project, sign_in=SignInKind.USER, keyring_ref=ref, account=grant.account
    )


def _user_credentials(info: dict[str, Any]) -> Any:
    # from_authorized_user_info would force Google's token endpoint; the
    # stored client may name another (a test's, or a future region's).
    return user_credentials.Credentials(
        token=None,
        refresh_token=info.get("refresh_token"),
        token_uri=info.get("token_uri"),
        client_id=info.get("client_id"),
        client_secret=info.get("client_secret"),
        scopes=info.get("scopes") or list(SCOPES),
        account=info.get("account", ""),
    )


# -- access token file ------------------------------------------------------


def token_file_identity(project: str, path: str) -> Identity:
    credentials = TokenFileCredentials(path)
    log.info("Using the access token in %s for %s.", path, project)
    return Identity(
        project, SignInKind.TOKEN_FILE, credentials, f"access token from {path}",
        _token_file_hint(path),
    )


# -- one project's identity -----------------------------------------------------


def identity_for(entry: ProjectEntry, store: SecretStore | None = None) -> Identity:
    """The credentials of a remembered project.

    Raises:
        SignInRequired: the keyring no longer has its secret, or ADC is gone.
        KeyringUnavailable: its secret is in a keyring that cannot be used.
        SignInError: its token file cannot be read.
    """
    if entry.sign_in is SignInKind.ADC:
        return adc_identity(entry.id)
    if entry.sign_in is SignInKind.TOKEN_FILE:
        return token_file_identity(entry.id, entry.token_file)
    if entry.sign_in is SignInKind.NONE:
        return Identity(
            entry.id, SignInKind.NONE, google.auth.credentials.AnonymousCredentials(),
            "anonymous", "",
        )
    hint = _KEY_HINT if entry.sign_in is SignInKind.SERVICE_ACCOUNT else _USER_HINT
    secret = (store or SecretStore()).get(entry.keyring_ref)
    if secret is None:
        raise SignInRequired(
            entry.id, f"the keyring no longer holds {entry.keyring_ref}", hint
        )
    info = json.loads(secret)
    if entry.sign_in is SignInKind.SERVICE_ACCOUNT:
        credentials = _key_credentials(info, entry.id)
        account = str(info.get("client_email", ""))
    else:
        credentials = _user_credentials(info)
        account = str(info.get("account", "")) or "Google account"
    return Identity(entry.id, entry.sign_in, credentials, account, hint)


def identity_or_failure(
    entry: ProjectEntry, store: SecretStore | None = None
) -> Identity:
    """Like :func:`identity_for`, but a failure becomes an identity whose
    every call raises SignInRequired with the reason (never a traceback)."""
    try:
        return identity_for(entry, store)
    except SignInRequired as error:
        reason, hint = error.reason, error.hint
    except (KeyringUnavailable, SignInError) as error:
        reason, hint = str(error).rstrip("."), ""
    log.warning("Cannot sign in to %s: %s", entry.id, reason)
    return Identity(
        entry.id, entry.sign_in, UnusableCredentials(reason),
        entry.account or entry.sign_in.label, hint,
    )


def sign_in(
    kind: SignInKind,
    project: str,
    path: str = "",
    *,
    store: SecretStore | None = None,
    **flow: Any,
) -> ProjectEntry:
    """Sign in to ``project`` by one path; the entry to remember.

    ``path`` is the key file (SERVICE_ACCOUNT), the OAuth client file
    (USER) or the access token file (TOKEN_FILE). ``flow`` goes to the
    browser flow. Blocks (the browser flow waits for the user): run it off
    the GUI thread.

    Raises:
        SignInError, SignInRequired, KeyringUnavailable: with a message for
            the user.
    """
    if kind.needs_keyring:
        store = store or SecretStore()
        store.check()  # before the user picks through files or a browser
    if kind.needs_keyring or kind is SignInKind.TOKEN_FILE:
        if not path:
            raise SignInError(f"{kind.label} needs a file; choose one.")
    if kind is SignInKind.ADC:
        identity = adc_identity(project)
        return ProjectEntry(project, kind, account=identity.account)
    if kind is SignInKind.SERVICE_ACCOUNT:
        return import_service_account_key(path, project, store)
    if kind is SignInKind.USER:
        return sign_in_user(project, OAuthClient.from_file(path), store, **flow)
    if kind is SignInKind.TOKEN_FILE:
        read_token_file(path)
        full = str(Path(path).expanduser().resolve())
        return ProjectEntry(
            project, kind, token_file=full, account=f"access token from {full}"
        )
    return ProjectEntry(project, SignInKind.NONE)


def forget(entry: ProjectEntry, store: SecretStore | None = None) -> None:
    """Delete a project's secret from the keyring (when it has one)."""
    if entry.keyring_ref:
        (store or SecretStore()).delete(entry.keyring_ref)


def entry_for(
    project: str,
    emulator: str | None = None,
    *,
    access_token_file: str | None = None,
    registry: ProjectRegistry | None = None,
) -> ProjectEntry | None:
    """The sign-in to use: an access token file wins; then a remembered
    project's; else ADC for Google, and None (no credentials) for an
    emulator the console does not know."""
    remembered = registry.get(project, emulator or "") if registry else None
    if access_token_file:
        return ProjectEntry(
            project, SignInKind.TOKEN_FILE, token_file=access_token_file,
            emulator=emulator or "",
            production=remembered.production if remembered else False,
        )
    if remembered is not None:
        return remembered
    return None if emulator else ProjectEntry(project, SignInKind.ADC)


def endpoint_for(
    project: str,
    emulator: str | None = None,
    *,
    access_token_file: str | None = None,
    registry: ProjectRegistry | None = None,
    store: SecretStore | None = None,
) -> Endpoint:
    """The endpoint for the global options, signed in as :func:`entry_for`
    says.

    Raises:
        SignInRequired: no usable sign-in (an unreadable token file, no
            keyring, no ADC...), with what to do.
    """
    entry = entry_for(
        project, emulator, access_token_file=access_token_file, registry=registry
    )
    if entry is None or entry.sign_in is SignInKind.NONE:
        return Endpoint(project, emulator)
    try:
        identity = identity_for(entry, store)
    except (SignInError, KeyringUnavailable) as error:
        raise SignInRequired(project, str(error), "") from None
    return Endpoint(project, emulator, credentials=identity)
