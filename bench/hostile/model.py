"""One hostile input, the verdicts it can get, and a class of them.

Every input is hostile: the right answer is always a refusal (a clear error or a dead
letter with its reason). Anything a process did not survive is `crashed`; anything else,
including an input taken in silence, is `accepted`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from random import Random
from typing import Any


class EntryPoint(StrEnum):
    """The entry points, as the issue names them."""

    EVENTS = "events"  # provision.events, as guest
    REGION = "region"  # provision.changes.<region>, as guest (Celery protocol 2, hand-made)
    RESULTS = "results"  # provision.results, as the agent role
    CHECKINS = "checkins"  # provision.checkins, as the agent role
    APPLY = "apply"  # `provision apply FILE`
    TRUTH = "truth"  # `provision state publish DIR`
    CONVERGE = "converge"  # `provision converge ROOT STATE_FILE`
    CLI = "cli"  # other command-line arguments

    @property
    def broker(self) -> bool:
        return self in (
            EntryPoint.EVENTS,
            EntryPoint.REGION,
            EntryPoint.RESULTS,
            EntryPoint.CHECKINS,
        )


@dataclass(frozen=True)
class Ctx:
    """Where the inputs aim: the regions that have workers, and a scratch directory."""

    regions: tuple[str, ...]
    root: Path
    #: Smaller sizes for the bulky classes (--quick and the test suite).
    quick: bool = False

    @property
    def victim_root(self) -> Path:
        return self.root / "victim"


class Verdict(StrEnum):
    REFUSED = "refused"
    CRASHED = "crashed"
    ACCEPTED = "accepted"


@dataclass
class Input:
    """One message, file set or command line, and what to watch to judge it."""

    cls: str
    entry: EntryPoint
    body: bytes = b""
    headers: dict[str, Any] = field(default_factory=dict)
    #: pika BasicProperties fields other than headers (content_type, reply_to, ...).
    props: dict[str, Any] = field(default_factory=dict)
    routing_key: str = ""
    #: For file entry points: path relative to the input's directory -> bytes, or a
    #: special marker (`fifo`, `dir`, `symlink:<dest>`).
    files: dict[str, bytes | str] = field(default_factory=dict)
    #: Command line after `provision`; `{dir}` is the input's directory.
    argv: list[str] = field(default_factory=list)
    #: What shows acceptance: an event id, a change id, (change id, target) ...
    watch: Any = None
    #: A special judge (`setsid:<marker>`), if the exit code alone cannot tell.
    check: str = ""
    #: Who publishes a broker input, when not the entry point's usual sender: a role user
    #: with exactly its role's rights (`AGENT`: the victim's agent, `WORKER`: the first
    #: region's worker), and the AMQP user_id of its connection.
    sender: str = ""
    ident: str = ""


@dataclass
class Result:
    input: Input
    verdict: Verdict
    detail: str
    seconds: float


@dataclass(frozen=True)
class InputClass:
    """A named class of hostile input: `make(ctx, rng, n)` returns n variations."""

    name: str
    entry: EntryPoint
    make: Callable[[Ctx, Random, int], list[Input]]
    #: Variations in a full run, and at most in --quick (and in the test suite's tiny run).
    full: int
    quick: int = 3
    #: The issue that will refuse this class, when it is not issue 10's to refuse (a message
    #: that is well-formed but not this sender's to send needs identities, issue 14). Its
    #: accepted inputs are counted as `deferred`, not `accepted`, and listed by the report.
    deferred: str = ""


#: Input.check of an event that a controller may plan but a worker must refuse: judged
#: by its outcome (`rejected` is a refusal), not by the rollout it creates.
OUTCOME = "outcome"

#: Input.sender: the victim's own agent user (topic permissions on its own keys only).
AGENT = "own-agent"
#: Input.sender: the first region's worker user.
WORKER = "worker"
#: The target in another region ("us") that the first region's worker forges outcomes for.
ELSEWHERE = "elsewhere-1"
