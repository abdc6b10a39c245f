"""The emulator's App Engine Admin v1 service: Applications, Services,
Versions and Instances, plus google.longrunning.Operations for the
operations their mutations return.

The handlers live in admin_services.py and admin_versions.py, the split
rules and deploy actions in admin_ops.py, operations in operations.py and
the audit entries in audit.py.
"""

from __future__ import annotations

import grpc

from deployconsole.emulator import admin_services, admin_versions, operations
from deployconsole.emulator.state import EmulatorState


def build_handlers(state: EmulatorState) -> list[grpc.GenericRpcHandler]:
    store = operations.OperationStore(state)
    return (
        admin_services.build_handlers(state, store)
        + admin_versions.build_handlers(state, store)
        + operations.build_handlers(state, store)
    )
