"""What travels on the wire: pydantic models shared by the control plane and the data plane.

This package imports nothing of ours. `broker_config`, `producers` and `workers` all import
it; it is the only vocabulary they share.
"""

from contracts.changes import ChangeRequest
from contracts.errors import ContractError, ExitCode, ProvisioningError, ServiceUnreachable
from contracts.files import ChangeFile, load_document
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
