"""What travels on the wire: pydantic models shared by the control plane and the data plane.

This package imports nothing of ours. `broker_config`, `producers` and `workers` all import
it; it is the only vocabulary they share.

Names are loaded on first use (PEP 562), so a process that needs only a few contracts (the
engine in local mode) does not pay for building every model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.lazy import names_from

#: Public name → the module that defines it.
_HOMES = {
    "ChangeRequest": "contracts.changes",
    "ContractError": "contracts.errors",
    "ExitCode": "contracts.errors",
    "ProvisioningError": "contracts.errors",
    "ServiceUnreachable": "contracts.errors",
    "ChangeFile": "contracts.files",
    "load_document": "contracts.documents",
    "ErrorInfo": "contracts.outcomes",
    "OutcomeEvent": "contracts.outcomes",
    "OutcomeStatus": "contracts.outcomes",
    "ResourceOutcome": "contracts.outcomes",
    "ResourceStatus": "contracts.outcomes",
    "DirectorySpec": "contracts.resources",
    "FileSpec": "contracts.resources",
    "ResourceSpec": "contracts.resources",
    "DesiredState": "contracts.state",
    "Selector": "contracts.targets",
    "Target": "contracts.targets",
}

__all__ = [
    "ChangeFile",
    "ChangeRequest",
    "ContractError",
    "DesiredState",
    "DirectorySpec",
    "ErrorInfo",
    "ExitCode",
    "FileSpec",
    "OutcomeEvent",
    "OutcomeStatus",
    "ProvisioningError",
    "ResourceOutcome",
    "ResourceSpec",
    "ResourceStatus",
    "Selector",
    "ServiceUnreachable",
    "Target",
    "load_document",
]


__getattr__ = names_from(__name__, _HOMES)


if TYPE_CHECKING:
    from contracts.changes import ChangeRequest
    from contracts.documents import load_document
    from contracts.errors import ContractError, ExitCode, ProvisioningError, ServiceUnreachable
    from contracts.files import ChangeFile
    from contracts.outcomes import (
        ErrorInfo,
        OutcomeEvent,
        OutcomeStatus,
        ResourceOutcome,
        ResourceStatus,
    )
    from contracts.resources import DirectorySpec, FileSpec, ResourceSpec
    from contracts.state import DesiredState
    from contracts.targets import Selector, Target
