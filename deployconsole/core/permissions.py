"""Which IAM permission each call needs, which role grants it, and how to
say so in words a user can act on.

The tables hold the part of Google Cloud IAM the console meets: the App
Engine Admin and Cloud Logging methods it calls, the permission each one
checks, and the predefined roles that grant them. A refused call is then
explained as "changing traffic needs the App Engine Service Admin role
(roles/appengine.serviceAdmin)" rather than as a bare PERMISSION_DENIED.
The emulator's ``--require-auth`` grants permissions from the same roles.
"""

from __future__ import annotations

from dataclasses import dataclass

from deployconsole.core.operations import AdminError, ErrorKind


@dataclass(frozen=True)
class Role:
    """A predefined IAM role.

    Attributes:
        id: e.g. ``roles/appengine.serviceAdmin``.
        title: what the Cloud Console calls it, e.g. ``App Engine Service Admin``.
        permissions: the permissions it grants (only those the console meets).
    """

    id: str
    title: str
    permissions: frozenset[str]

    def describe(self) -> str:
        return f"the {self.title} role ({self.id})"


_APP_READ = frozenset({
    "appengine.applications.get",
    "appengine.services.get",
    "appengine.services.list",
    "appengine.versions.get",
    "appengine.versions.list",
    "appengine.instances.get",
    "appengine.instances.list",
    "appengine.operations.get",
    "appengine.operations.list",
})
_LOGS_READ = frozenset({"logging.logEntries.list", "logging.logs.list"})

APP_VIEWER = Role("roles/appengine.appViewer", "App Engine Viewer", _APP_READ)
SERVICE_ADMIN = Role(
    "roles/appengine.serviceAdmin",
    "App Engine Service Admin",
    _APP_READ
    | {
        "appengine.services.update",
        "appengine.services.delete",
        "appengine.versions.update",
        "appengine.versions.delete",
        "appengine.instances.delete",
    },
)
LOGS_VIEWER = Role("roles/logging.viewer", "Logs Viewer", _LOGS_READ)
LOGS_WRITER = Role(
    "roles/logging.logWriter", "Logs Writer", frozenset({"logging.logEntries.create"})
)
# The basic Viewer role reads everything in the project and changes nothing.
VIEWER = Role("roles/viewer", "Viewer", _APP_READ | _LOGS_READ)

ROLES: dict[str, Role] = {
    role.id: role
    for role in (VIEWER, APP_VIEWER, SERVICE_ADMIN, LOGS_VIEWER, LOGS_WRITER)
}

# Full gRPC method path -> the permission the service checks for it.
METHOD_PERMISSIONS: dict[str, str] = {
    "/google.appengine.v1.Applications/GetApplication": "appengine.applications.get",
    "/google.appengine.v1.Services/ListServices": "appengine.services.list",
    "/google.appengine.v1.Services/GetService": "appengine.services.get",
    "/google.appengine.v1.Services/UpdateService": "appengine.services.update",
    "/google.appengine.v1.Services/DeleteService": "appengine.services.delete",
    "/google.appengine.v1.Versions/ListVersions": "appengine.versions.list",
    "/google.appengine.v1.Versions/GetVersion": "appengine.versions.get",
    "/google.appengine.v1.Versions/UpdateVersion": "appengine.versions.update",
    "/google.appengine.v1.Versions/DeleteVersion": "appengine.versions.delete",
    "/google.appengine.v1.Instances/ListInstances": "appengine.instances.list",
    "/google.appengine.v1.Instances/GetInstance": "appengine.instances.get",
    "/google.appengine.v1.Instances/DeleteInstance": "appengine.instances.delete",
    "/google.longrunning.Operations/GetOperation": "appengine.operations.get",
    "/google.longrunning.Operations/ListOperations": "appengine.operations.list",
    "/google.logging.v2.LoggingServiceV2/ListLogEntries": "logging.logEntries.list",
    "/google.logging.v2.LoggingServiceV2/TailLogEntries": "logging.logEntries.list",
    "/google.logging.v2.LoggingServiceV2/WriteLogEntries": "logging.logEntries.create",
    "/google.logging.v2.LoggingServiceV2/ListLogs": "logging.logs.list",
}

# Permission -> (what the user was doing, the narrowest role that grants it).
_NEEDS: dict[str, tuple[str, Role]] = {
    "appengine.applications.get": ("reading the App Engine application", APP_VIEWER),
    "appengine.services.get": ("seeing services and their traffic", APP_VIEWER),
    "appengine.services.list": ("seeing services and their traffic", APP_VIEWER),
    "appengine.versions.get": ("seeing versions", APP_VIEWER),
    "appengine.versions.list": ("seeing versions", APP_VIEWER),
    "appengine.instances.get": ("seeing instances", APP_VIEWER),
    "appengine.instances.list": ("seeing instances", APP_VIEWER),
    "appengine.operations.get": ("following an operation", APP_VIEWER),
    "appengine.operations.list": ("following an operation", APP_VIEWER),
    "appengine.services.update": ("changing traffic", SERVICE_ADMIN),
    "appengine.services.delete": ("deleting a service", SERVICE_ADMIN),
    "appengine.versions.update": ("starting or stopping a version", SERVICE_ADMIN),
    "appengine.versions.delete": ("deleting a version", SERVICE_ADMIN),
    "appengine.instances.delete": ("deleting an instance", SERVICE_ADMIN),
    "logging.logEntries.list": ("reading logs", LOGS_VIEWER),
    "logging.logs.list": ("reading logs", LOGS_VIEWER),
    "logging.logEntries.create": ("writing log entries", LOGS_WRITER),
}

# What the console must be allowed to do to leave read-only mode.
CHANGE_TRAFFIC = "appengine.services.update"
MUTATION_PERMISSIONS: tuple[str, ...] = (
    CHANGE_TRAFFIC,
    "appengine.versions.update",
    "appengine.versions.delete",
)


@dataclass(frozen=True)
class Need:
    """What a refused call lacked.

    Attributes:
        permission: e.g. ``appengine.services.update``.
        action: what the user was doing, e.g. ``changing traffic``.
        role: the narrowest predefined role that grants the permission.
    """

    permission: str
    action: str
    role: Role

    def sentence(self) -> str:
        """E.g. "Changing traffic needs the App Engine Service Admin role
        (roles/appengine.serviceAdmin)"."""
        action = self.action[:1].upper() + self.action[1:]
        return f"{action} needs {self.role.describe()}"


def need_for_permission(permission: str) -> Need | None:
    found = _NEEDS.get(permission)
    if found is None:
        return None
    action, role = found
    return Need(permission, action, role)


def need_for_method(method: str) -> Need | None:
    """The need of a full gRPC method path such as
    ``/google.appengine.v1.Services/UpdateService``."""
    permission = METHOD_PERMISSIONS.get(method)
    return None if permission is None else need_for_permission(permission)


def role_grants(role_id: str, permission: str) -> bool:
    role = ROLES.get(role_id)
    return role is not None and permission in role.permissions


def explain_refusal(method: str, detail: str) -> str:
    """The service's refusal with what is missing added, in user words.

    ``detail`` is what the service said; it is kept, since it may name a
    condition (an organisation policy, a missing project) the table cannot.
    """
    detail = detail.strip().rstrip(".")
    need = need_for_method(method)
    if need is None:
        return f"{detail}."
    return (
        f"{detail}. {need.sentence()}; ask a project owner to grant it, or "
        "sign in as someone who has it."
    )


def read_only_reason(
    project: str,
    account: str,
    *,
    chosen: bool,
    granted: frozenset[str] | None,
) -> str:
    """Why the console is read-only for ``project``; "" when it is not.

    Args:
        project: the project id.
        account: who is signed in, for the sentence.
        chosen: the user chose read-only for this project.
        granted: the permissions of MUTATION_PERMISSIONS the identity holds,
            or None when that is unknown (then only ``chosen`` decides, and
            a refused change will still say what is missing).
    """
    if chosen:
        return (
            f"Read-only: you chose read-only for {project}. Change it under "
            "Projects (Ctrl+O) to make changes."
        )
    if granted is None or CHANGE_TRAFFIC in granted:
        return ""
    need = need_for_permission(CHANGE_TRAFFIC)
    assert need is not None
    who = account or "The signed-in account"
    return f"Read-only: {who} cannot change traffic in {project}. {need.sentence()}."


class SignInRequired(AdminError):
    """The credentials were refused, expired or revoked: sign in again.

    Attributes:
        project: the project whose sign-in failed.
        reason: what went wrong, e.g. "the refresh token was revoked".
        hint: what to do, in the words of the sign-in path used.
    """

    def __init__(self, project: str, reason: str, hint: str) -> None:
        reason = reason.strip().rstrip(".")
        message = f"Sign in again for {project}: {reason}. {hint}".strip()
        super().__init__(ErrorKind.PERMISSION, message)
        self.project = project
        self.reason = reason
        self.hint = hint
