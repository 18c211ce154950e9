"""Who may do what on the provisioning vhost: one role per kind of process, as data.

RabbitMQ checks three regexes per user and vhost: `configure` (declare or delete exchanges
and queues), `write` (publish to an exchange; bind a queue) and `read` (consume from a queue;
bind from an exchange), and, per topic exchange, **topic permissions**: a `write` regex on
the routing key of every publish and a `read` regex on the key of every bind. The default
exchange is `amq.default` to the checks. See https://www.rabbitmq.com/access-control.html.

Roles (`provision access apply` creates the users, `provision access show` lists them):

* `controller`: reads change events, outcome copies (`provision.rollouts`) and check-ins;
  the only role that publishes change requests; answers check-ins through direct reply-to
  (hence write on `amq.default`); dead-letters what it cannot read.
* `aggregator`: reads `provision.results`; dead-letters what it cannot read.
* `worker` (one per region R): reads only `provision.changes.R`; publishes outcomes, retries
  (`provision.retries`) and dead letters only under routing keys of its own region (`R.…`).
* `emitter` (one per service S): publishes change events on `provision.events` under the
  routing key `S` and nothing else.
* `agent` (one per target T): publishes check-ins under `T` and outcomes under T's own
  routing key `<region>.<environment>.T`; reads nothing (direct reply-to needs no right).
* `operator` (the CLI): publishes change events as the emitter `apply` and reads and empties
  the dead letters (`provision dlq`). It publishes no change request: replaying a dead change
  request is a controller's act (run `provision dlq replay` with its credentials).

Nobody but an administrator configures anything: the topology is declared by `provision
access apply` (or `provision broker declare` with an administrator's URL); processes
without configure rights only check that it exists (`broker_config.topology.declare`).
Nobody may bind: no role can read an exchange (or has a topic read key), so no one can bind
a queue with `#` to see traffic that is not theirs.

**User names** (other helpers rely on them): `<prefix>-<role>` for the single roles
(`provision-controller`, `provision-aggregator`, `provision-operator`) and
`<prefix>-<role>-<instance>` for the others (`provision-worker-eu`,
`provision-emitter-billing`, `provision-agent-web-1`); the prefix is `provision` unless
`provision access apply --prefix` says otherwise. Each user carries the tag
`provision-<role>` too, so `role_of` can tell a role from the tags alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from broker_config import topology
from contracts import ExitCode, ProvisioningError

#: The default exchange, as RabbitMQ's permission checks name it.
DEFAULT_EXCHANGE = "amq.default"
#: No name or key: RabbitMQ's own spelling of "nothing" (names are never empty).
NOTHING = "^$"
#: A routing-key pattern no key matches, not even the empty key.
NO_KEY = "(?!)"
#: The topic exchanges topic permissions are written for.
TOPIC_EXCHANGES = (
    topology.CHANGES_EXCHANGE,
    topology.RESULTS_EXCHANGE,
    topology.CHECKINS_EXCHANGE,
    topology.EVENTS_EXCHANGE,
    topology.DEAD_EXCHANGE,
    topology.RETRIES_EXCHANGE,
)
ROLES = ("controller", "aggregator", "worker", "emitter", "agent", "operator")
#: Roles with one user per instance (region, service, target); the others have one user.
PER_INSTANCE = {"worker": "region", "emitter": "service", "agent": "target"}
DEFAULT_PREFIX = "provision"
TAG_PREFIX = "provision-"
#: Region, service and target names: the routing-key words of contracts.targets.Word.
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class InvalidInstance(ProvisioningError):
    """A region, service or target name that cannot be a routing-key word."""

    exit_code = ExitCode.INPUT


class Permission(NamedTuple):
    """The three RabbitMQ permission regexes of one role."""

    configure: str
    write: str
    read: str

    def argv(self) -> list[str]:
        """The regexes in `rabbitmqctl set_permissions` order."""
        return [self.configure, self.write, self.read]


class TopicPermission(NamedTuple):
    """Routing-key regexes on one topic exchange: what may be published, what may be bound."""

    write: str
    read: str


@dataclass(frozen=True)
class Role:
    """One process's rights: its permissions and its topic permissions per exchange."""

    name: str
    instance: str | None
    permission: Permission
    topics: dict[str, TopicPermission] = field(default_factory=dict)

    def user(self, prefix: str = DEFAULT_PREFIX) -> str:
        """The RabbitMQ user name of this role (see the module's naming convention)."""
        parts = [prefix, self.name] + ([self.instance] if self.instance else [])
        return "-".join(parts)

    @property
    def tag(self) -> str:
        return f"{TAG_PREFIX}{self.name}"


def _exactly(*names: str) -> str:
    escaped = "|".join(re.escape(name) for name in names)
    return f"^({escaped})$"


def _word(kind: str, value: str) -> str:
    if not _WORD.fullmatch(value):
        raise InvalidInstance(
            f"{kind} {value!r}: must be a routing-key word (letters, digits, '_' or '-', "
            "starting with a letter or digit, at most 63 characters)"
        )
    return value


def _topics(**writes: str) -> dict[str, TopicPermission]:
    """Topic permissions on every topic exchange: the given write keys, no key anywhere else."""
    by_exchange = {
        topology.CHANGES_EXCHANGE: "changes",
        topology.RESULTS_EXCHANGE: "results",
        topology.CHECKINS_EXCHANGE: "checkins",
        topology.EVENTS_EXCHANGE: "events",
        topology.DEAD_EXCHANGE: "dead",
        topology.RETRIES_EXCHANGE: "retries",
    }
    return {
        exchange: TopicPermission(writes.get(short, NO_KEY), NO_KEY)
        for exchange, short in by_exchange.items()
    }


def controller() -> Role:
    return Role(
        "controller",
        None,
        Permission(
            NOTHING,
            _exactly(topology.CHANGES_EXCHANGE, topology.DEAD_EXCHANGE, DEFAULT_EXCHANGE),
            _exactly(topology.EVENTS_QUEUE, topology.ROLLOUTS_QUEUE, topology.CHECKINS_QUEUE),
        ),
        _topics(changes=".*", dead=".*"),
    )


def aggregator() -> Role:
    return Role(
        "aggregator",
        None,
        Permission(NOTHING, _exactly(topology.DEAD_EXCHANGE), _exactly(topology.RESULTS_QUEUE)),
        _topics(dead=".*"),
    )


def worker(region: str) -> Role:
    own = f"^{re.escape(_word('region', region))}(\\..*)?$"
    return Role(
        "worker",
        region,
        Permission(
            NOTHING,
            _exactly(topology.RESULTS_EXCHANGE, topology.DEAD_EXCHANGE, topology.RETRIES_EXCHANGE),
            _exactly(topology.region_queue(region)),
        ),
        _topics(results=own, dead=own, retries=own),
    )


def emitter(service: str) -> Role:
    key = f"^{re.escape(_word('service', service))}$"
    return Role(
        "emitter",
        service,
        Permission(NOTHING, _exactly(topology.EVENTS_EXCHANGE), NOTHING),
        _topics(events=key),
    )


def agent(target: str, region: str | None = None, environment: str | None = None) -> Role:
    """Target `target`'s agent; its outcome key is exact when region and environment are known."""
    t = re.escape(_word("target", target))
    prefix = (
        r"[^.]+\.[^.]+"
        if region is None or environment is None
        else (
            f"{re.escape(_word('region', region))}\\.{re.escape(_word('environment', environment))}"
        )
    )
    return Role(
        "agent",
        target,
        Permission(
            NOTHING, _exactly(topology.CHECKINS_EXCHANGE, topology.RESULTS_EXCHANGE), NOTHING
        ),
        _topics(checkins=f"^{t}$", results=f"^{prefix}\\.{t}$"),
    )


#: The emitter name `provision apply` publishes under (its routing key on provision.events).
OPERATOR_EMITTER = "apply"


def operator() -> Role:
    return Role(
        "operator",
        None,
        Permission(NOTHING, _exactly(topology.EVENTS_EXCHANGE), _exactly(topology.DEAD_QUEUE)),
        _topics(events=f"^{OPERATOR_EMITTER}$"),
    )


def roles(
    regions: tuple[str, ...] | list[str] = (), emitters: tuple[str, ...] | list[str] = ()
) -> list[Role]:
    """Every role of one deployment: the single roles, a worker per region, an emitter each."""
    return [
        controller(),
        aggregator(),
        operator(),
        *(worker(r) for r in sorted(set(regions))),
        *(emitter(s) for s in sorted(set(emitters))),
    ]


def role_of(user: str, tags: list[str] | tuple[str, ...] = (), prefix: str = DEFAULT_PREFIX) -> str:
    """The role a user plays: from its `provision-<role>` tag, else from its name; '' if none."""
    for tag in tags:
        if tag.startswith(TAG_PREFIX) and tag[len(TAG_PREFIX) :] in ROLES:
            return tag[len(TAG_PREFIX) :]
    for name in ROLES:
        if user == f"{prefix}-{name}" or user.startswith(f"{prefix}-{name}-"):
            return name
    return ""


#: Role → permissions, for roles whose regexes do not depend on an instance.
PERMISSIONS: dict[str, Permission] = {
    "agent": Permission(
        NOTHING, _exactly(topology.CHECKINS_EXCHANGE, topology.RESULTS_EXCHANGE), NOTHING
    ),
    "controller": controller().permission,
    "aggregator": aggregator().permission,
    "operator": operator().permission,
}
