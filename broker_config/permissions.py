"""Who may do what on the provisioning vhost: RabbitMQ permission regexes per role, as data.

RabbitMQ checks three regexes per user and vhost: `configure` (declare or delete
exchanges and queues), `write` (publish to an exchange, bind to it) and `read` (consume
from a queue, bind from it). See https://www.rabbitmq.com/access-control.html.

Only the `agent` role is pinned down so far, because agents run on the targets and are
the least trusted processes: an agent may publish its check-ins and its outcomes and do
nothing else. Its replies come over direct reply-to (`amq.rabbitmq.reply-to`), a
pseudo-queue that needs no permission, so the role can read no queue at all; in
particular it cannot consume a region's change queue or another agent's replies. It
declares nothing either: the controller declares the topology. tests/pull/ checks this
table against a real RabbitMQ.

Create such a user with, for example:

    rabbitmqctl add_user agent-web-1 'SECRET'
    rabbitmqctl set_permissions -p VHOST agent-web-1 '^$' '^provision\\.(checkins|results)$' '^$'
"""

from __future__ import annotations

from typing import NamedTuple

from broker_config.topology import CHECKINS_EXCHANGE, RESULTS_EXCHANGE


class Permission(NamedTuple):
    """The three RabbitMQ permission regexes of one role."""

    configure: str
    write: str
    read: str

    def argv(self) -> list[str]:
        """The regexes in `rabbitmqctl set_permissions` order."""
        return [self.configure, self.write, self.read]


def _exactly(*names: str) -> str:
    escaped = "|".join(name.replace(".", r"\.") for name in names)
    return f"^({escaped})$"


#: Role → permissions on the provisioning vhost.
PERMISSIONS: dict[str, Permission] = {
    "agent": Permission(
        configure="^$",
        write=_exactly(CHECKINS_EXCHANGE, RESULTS_EXCHANGE),
        read="^$",
    ),
}
