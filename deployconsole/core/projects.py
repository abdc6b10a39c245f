"""The projects the console remembers, each with how to sign in to it.

A project entry holds ids and references only: the project id, the chosen
sign-in, the name of the keyring entry that holds its secret (a service
account key or a refresh token), whether it is production, and whether the
user chose read-only for it. The secret itself never reaches the settings.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from deployconsole.core.settings import LAST_PROJECT, PROJECTS, Settings

log = logging.getLogger("deployconsole.projects")


class SignInKind(str, Enum):
    """How the console gets credentials for a project."""

    ADC = "application-default"  # as gcloud auth application-default leaves
    SERVICE_ACCOUNT = "service-account"  # a key imported into the keyring
    USER = "user"  # a browser sign-in; its refresh token is in the keyring
    TOKEN_FILE = "token-file"  # an access token a pipeline keeps in a file
    NONE = "none"  # no credentials (an emulator that does not check)

    @property
    def needs_keyring(self) -> bool:
        return self in (SignInKind.SERVICE_ACCOUNT, SignInKind.USER)

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    SignInKind.ADC: "Application Default Credentials",
    SignInKind.SERVICE_ACCOUNT: "Service account key (kept in the keyring)",
    SignInKind.USER: "Google sign-in in the browser",
    SignInKind.TOKEN_FILE: "Access token file",
    SignInKind.NONE: "No sign-in (emulator)",
}


class ProjectError(ValueError):
    """A project entry that cannot be used; the message says why."""


# Project ids: 6 to 30 lowercase letters, digits and hyphens, starting with
# a letter and not ending with a hyphen; old ones may be domain-scoped.
_PROJECT_ID = re.compile(r"^(?:[a-z0-9][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_EMULATOR = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


def check_project_id(project_id: str) -> str:
    """The id, stripped; ProjectError when it cannot be a project id."""
    text = project_id.strip()
    if not _PROJECT_ID.match(text):
        raise ProjectError(
            f"{text!r} is not a project id: an id is 6 to 30 lowercase letters, "
            "digits and hyphens, starting with a letter (e.g. myshop-prod)."
        )
    return text


@dataclass(frozen=True)
class ProjectEntry:
    """One remembered project.

    Attributes:
        id: the Google Cloud project id.
        sign_in: how to get credentials for it.
        keyring_ref: the keyring entry holding its secret (SERVICE_ACCOUNT
            and USER only); a name, never the secret.
        production: changes ask for the project id to be typed first.
        read_only: the user chose to make no changes in it.
        emulator: HOST:PORT of an emulator, or "" for Google.
        token_file: the access token file (TOKEN_FILE only); a path.
        account: who signs in, for display (an email or a description).
    """

    id: str
    sign_in: SignInKind
    keyring_ref: str = ""
    production: bool = False
    read_only: bool = False
    emulator: str = ""
    token_file: str = ""
    account: str = ""

    def __post_init__(self) -> None:
        check_project_id(self.id)
        if self.sign_in.needs_keyring and not self.keyring_ref:
            raise ProjectError(
                f"{self.sign_in.label} for {self.id} needs a keyring entry."
            )
        if self.sign_in is SignInKind.TOKEN_FILE and not self.token_file:
            raise ProjectError(f"An access token file is needed for {self.id}.")
        if self.emulator and not _EMULATOR.match(self.emulator):
            raise ProjectError(
                f"{self.emulator!r} is not an emulator address (HOST:PORT)."
            )

    @property
    def key(self) -> tuple[str, str]:
        """Entries are told apart by project id and emulator address."""
        return (self.id, self.emulator)

    @property
    def label(self) -> str:
        where = f" (emulator {self.emulator})" if self.emulator else ""
        flags = [word for word, on in (("production", self.production),
                                       ("read-only", self.read_only)) if on]
        extra = f" [{', '.join(flags)}]" if flags else ""
        return f"{self.id}{where}{extra}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "sign_in": self.sign_in.value,
            "keyring_ref": self.keyring_ref,
            "production": self.production,
            "read_only": self.read_only,
        }
        for key in ("emulator", "token_file", "account"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_json(cls, data: Any) -> ProjectEntry:
        if not isinstance(data, dict):
            raise ProjectError(f"a project entry must be an object, not {data!r}")
        try:
            sign_in = SignInKind(data.get("sign_in", ""))
        except ValueError:
            choices = ", ".join(kind.value for kind in SignInKind)
            raise ProjectError(
                f"project {data.get('id')!r} has an unknown sign-in "
                f"{data.get('sign_in')!r}; expected one of {choices}"
            ) from None
        texts = {}
        for key in ("id", "keyring_ref", "emulator", "token_file", "account"):
            value = data.get(key, "")
            if not isinstance(value, str):
                raise ProjectError(f"{key} of a project entry must be text")
            texts[key] = value
        flags = {}
        for key in ("production", "read_only"):
            value = data.get(key, False)
            if not isinstance(value, bool):
                raise ProjectError(f"{key} of project {texts['id']} must be true/false")
            flags[key] = value
        return cls(
            id=texts["id"],
            sign_in=sign_in,
            keyring_ref=texts["keyring_ref"],
            production=flags["production"],
            read_only=flags["read_only"],
            emulator=texts["emulator"],
            token_file=texts["token_file"],
            account=texts["account"],
        )


class ProjectRegistry:
    """The remembered projects, kept in the settings' ``projects`` list.

    Entries the settings hold but that cannot be read are kept untouched and
    listed in :attr:`problems` (and logged), so a hand-edited file loses
    nothing.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.problems: list[str] = []

    def _raw(self) -> list[Any]:
        return list(self.settings.get(PROJECTS))

    def projects(self) -> list[ProjectEntry]:
        entries = []
        self.problems = []
        for number, raw in enumerate(self._raw(), 1):
            try:
                entries.append(ProjectEntry.from_json(raw))
            except ProjectError as error:
                problem = f"Project entry {number} in the settings is ignored: {error}."
                log.warning(problem)
                self.problems.append(problem)
        return entries

    def get(self, project_id: str, emulator: str = "") -> ProjectEntry | None:
        for entry in self.projects():
            if entry.key == (project_id, emulator or ""):
                return entry
        return None

    def add(self, entry: ProjectEntry) -> ProjectEntry | None:
        """Remember ``entry``; replaces (and returns) one with the same key."""
        replaced = None
        kept = []
        for item in self._raw():
            try:
                existing = ProjectEntry.from_json(item)
            except ProjectError:
                kept.append(item)
                continue
            if existing.key == entry.key and replaced is None:
                replaced = existing
                kept.append(entry.to_json())  # keeps its place in the list
            elif existing.key != entry.key:
                kept.append(item)
        if replaced is None:
            kept.append(entry.to_json())
        self.settings.set(PROJECTS, kept)
        log.info(
            "Project %s remembered with sign-in %s.", entry.id, entry.sign_in.value
        )
        return replaced

    def remove(self, project_id: str, emulator: str = "") -> ProjectEntry | None:
        """Forget a project; returns it so the caller can delete its secret."""
        found = self.get(project_id, emulator)
        if found is None:
            return None
        kept = []
        for item in self._raw():
            try:
                if ProjectEntry.from_json(item).key == found.key:
                    continue
            except ProjectError:
                pass
            kept.append(item)
        self.settings.set(PROJECTS, kept)
        log.info("Project %s forgotten.", project_id)
        return found

    def set_read_only(self, entry: ProjectEntry, read_only: bool) -> ProjectEntry:
        updated = replace(entry, read_only=read_only)
        self.add(updated)
        return updated

    def remember_last(self, entry: ProjectEntry) -> None:
        self.settings.set(LAST_PROJECT, entry.id)

    def last(self) -> ProjectEntry | None:
        last_id = self.settings.get(LAST_PROJECT)
        for entry in self.projects():
            if entry.id == last_id:
                return entry
        return None
