"""Every other reader of a secret or credentials file goes through the one reader too: a
FIFO swapped in is refused at once (it never wedges the process) and a huge file is refused
by its size (never read whole), each in its reader's own error and words."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from broker_config.endpoints import BROKER_URL_FILE_ENV, BrokerUrlFileError, broker_url_from_env
from contracts import ContractError
from producers.access.environment import read_env, role_environment
from producers.access.errors import AccessError
from tests.contracts.test_private_files import SECRET, outcome_of
from workers.pull.state import CREDENTIALS_FILE, AgentState, load_credentials


def broker_url_file(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], object]:
    def read(path: Path) -> object:
        monkeypatch.delenv("PROVISION_BROKER_URL", raising=False)
        monkeypatch.setenv(BROKER_URL_FILE_ENV, str(path))
        return broker_url_from_env()

    return read


READERS: dict[str, tuple[str, type[BaseException]]] = {
    "broker URL file": ("url", BrokerUrlFileError),
    "agent credentials": (CREDENTIALS_FILE, ContractError),
    "access env file": ("worker.env", AccessError),
    "access URL file": ("worker.url", AccessError),
}


def reader(name: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], object]:
    if name == "broker URL file":
        return broker_url_file(monkeypatch)
    if name == "agent credentials":
        return lambda path: load_credentials(path.parent)
    if name == "access env file":
        return read_env
    return lambda path: role_environment(path.parent, "worker")


@pytest.mark.parametrize("name", READERS)
def test_a_fifo_is_refused_at_once(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_name, error = READERS[name]
    fifo = tmp_path / file_name
    os.mkfifo(fifo, 0o600)
    raised = outcome_of(lambda: reader(name, monkeypatch)(fifo), unblock=fifo)
    assert isinstance(raised, error), raised


@pytest.mark.parametrize("name", READERS)
def test_a_huge_file_is_refused_by_its_size_without_showing_it(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_name, error = READERS[name]
    path = tmp_path / file_name
    path.write_bytes(SECRET)
    path.chmod(0o600)
    os.truncate(path, 1 << 40)  # sparse: reading it whole would never end
    raised = outcome_of(lambda: reader(name, monkeypatch)(path))
    assert isinstance(raised, error), raised
    assert SECRET.decode() not in str(raised)


def test_an_agent_state_file_swapped_for_a_fifo_is_skipped_not_waited_on(tmp_path: Path) -> None:
    state = AgentState(tmp_path)
    state.outbox.mkdir(parents=True)
    os.mkfifo(state.applied_file, 0o600)
    os.mkfifo(state.outbox / "x.json", 0o600)
    assert (
        outcome_of(lambda: (state.applied(), state.pending()), unblock=state.applied_file) is None
    )
    assert state.applied() is None
    assert state.pending() == []
