"""The Redis ACL table: every key of redis_keys belongs to some role, and no role may do
anything dangerous (every key, administration, a whole-keyspace scan)."""

from __future__ import annotations

import fnmatch
import hashlib

import pytest

from broker_config import redis_access as a
from broker_config.permissions import ROLES

#: Commands no role of ours may have: a whole keyspace, the server, the ACLs, other clients.
FORBIDDEN = {
    "flushall", "flushdb", "config", "keys", "scan", "debug", "shutdown", "acl", "module",
    "save", "bgsave", "bgrewriteaof", "monitor", "sync", "psync", "replicaof", "slaveof",
    "client", "script|flush", "script|kill", "function", "eval", "migrate", "restore",
    "swapdb", "move", "sort", "info", "object", "randomkey", "role", "latency", "slowlog",
}  # fmt: skip


def sample(template: str) -> str:
    """A real key of a template (placeholders filled as the code fills them)."""
    return template.replace("{", "").replace("}", "-1")


def test_every_key_template_is_covered_by_some_role() -> None:
    templates = a.templates()
    assert {"SEQUENCE", "LOCK", "FENCE", "DONE", "DELIVERIES", "inflight_key"} <= set(templates)
    for name, template in templates.items():
        owners = [
            role
            for role, rights in a.REDIS_RIGHTS.items()
            if any(fnmatch.fnmatchcase(sample(template), p) for p in rights.keys)
        ]
        assert owners, f"{name} ({template}) is no role's key"


def test_workers_hold_only_the_guards_keys_and_the_controller_only_its_own() -> None:
    worker, controller = a.REDIS_RIGHTS["worker"], a.REDIS_RIGHTS["controller"]
    assert set(worker.keys) == {
        "provision:deliveries:*:*", "provision:done:*:*", "provision:lock:*", "provision:fence:*"
    }  # fmt: skip
    assert not set(worker.keys) & set(controller.keys)
    for role in ("aggregator", "operator", "emitter", "agent"):
        assert not a.REDIS_RIGHTS[role], f"{role} has Redis rights but uses no Redis"
    assert set(a.REDIS_RIGHTS) == set(ROLES)


@pytest.mark.parametrize("role", sorted(a.REDIS_RIGHTS))
def test_no_role_has_every_key_or_a_dangerous_command(role: str) -> None:
    rights = a.REDIS_RIGHTS[role]
    for key in rights.keys:
        assert key not in ("*", "allkeys") and not key.startswith("*"), key
        assert key.startswith("provision:"), key
    for command in rights.commands:
        assert not command.startswith("@"), f"{role}: a whole category ({command})"
        assert command == command.lower() and command not in FORBIDDEN, command
        assert command.split("|")[0] not in FORBIDDEN - {"script"}, command
    rules = rights.rules(hashlib.sha256(b"x").hexdigest()) if rights else []
    assert not {"allkeys", "allcommands", "+@all", "~*", "nopass", "allchannels"} & set(rules)


def test_rules_start_from_nothing_and_never_carry_a_clear_password() -> None:
    digest = hashlib.sha256(b"secret").hexdigest()
    rules = a.WORKER.rules(digest)
    assert rules[:3] == ["reset", "resetchannels", "on"] and f"#{digest}" in rules
    assert not any("secret" in r or r.startswith(">") for r in rules)
    with pytest.raises(ValueError):
        a.WORKER.rules("secret")


def test_a_pattern_escapes_globs_and_opens_only_placeholders() -> None:
    assert a.pattern("provision:lock:{target}") == "provision:lock:*"
    assert a.pattern("p:[x]*?:{a}:{b}") == r"p:\[x\]\*\?:*:*"
