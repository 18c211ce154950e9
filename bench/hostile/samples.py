"""Valid documents of every kind, the seeds that the corpus mutates into hostile ones.

Each aims at a victim target of its own, in the first region, never at the canary.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.hostile.model import Ctx
from contracts.changes import EMPTY_EMBED
from contracts.changes import task_headers as celery_headers

ISSUER = "hostile-bench"
MiB = 2**20


def now() -> datetime:
    return datetime.now(UTC)


def target(ctx: Ctx, target_id: str = "victim", region: str | None = None) -> dict[str, Any]:
    return {
        "id": target_id,
        "region": region or ctx.regions[0],
        "environment": "bench",
        "address": f"local://{ctx.victim_root / target_id}",
    }


def outside_root(ctx: Ctx, rng: Any) -> tuple[str, str]:
    """A target address outside every target root, and a file path under it that still
    lands in the run's scratch directory (so an accepted one writes nothing of anyone's)."""
    name = f"outside/{uuid.UUID(int=rng.getrandbits(128)).hex}.conf"
    return rng.choice(
        [
            ("local:///", f"{ctx.root}/{name}"),
            ("local:///proc/self/root", f"{ctx.root}/{name}"),
            (f"local://{ctx.root}", f"/{name}"),
        ]
    )


def huge_text(ctx: Ctx, rng: Any, *, quick_mib: int, full_mib: int) -> str:
    """Just over the 1 MiB limits, up to `full_mib` MiB (`quick_mib` in a quick run)."""
    cap = (quick_mib if ctx.quick else full_mib) * MiB
    return "A" * rng.randint(MiB + 1024, cap)


def file_resource(path: str = "/etc/hostile/app.conf", **extra: Any) -> dict[str, Any]:
    return {"kind": "file", "path": path, "content": "hostile = 1\n", **extra}


def event(ctx: Ctx, **override: Any) -> dict[str, Any]:
    """A change event that would be rolled out to the victim, as published on the exchange."""
    doc: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "issued_by": ISSUER,
        "issued_at": now().isoformat(),
        "targets": [target(ctx)],
        "resources": [file_resource()],
    }
    doc.update(override)
    return doc


def request(ctx: Ctx, change_id: str | None = None, **override: Any) -> dict[str, Any]:
    """A ChangeRequest as JSON, for the victim."""
    doc: dict[str, Any] = {
        "change_id": change_id or str(uuid.uuid4()),
        "target": target(ctx),
        "desired": {"resources": [file_resource()]},
        "issued_by": ISSUER,
        "issued_at": now().isoformat(),
        "expires_at": (now() + timedelta(minutes=10)).isoformat(),
    }
    doc.update(override)
    return doc


def task_headers(task_id: str, **override: Any) -> dict[str, Any]:
    """Celery protocol-2 headers, as any broker user could write them (no trace context)."""
    headers = celery_headers(task_id, origin="hostile@bench")
    headers.update(override)
    return headers


def task_body(req: Any, embed: dict[str, Any] | None = None) -> bytes:
    return json.dumps([[], {"request": req}, embed or EMPTY_EMBED]).encode()


def outcome(change_id: str, target_id: str, **override: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "outcome_id": str(uuid.uuid4()),
        "change_id": change_id,
        "target": target_id,
        "status": "converged",
        "worker": "hostile-agent",
        "started_at": now().isoformat(),
        "finished_at": now().isoformat(),
    }
    doc.update(override)
    return doc


def checkin(target_id: str = "victim", **override: Any) -> dict[str, Any]:
    """Well-formed, with a made-up proof (check-ins carry no token since 0005)."""
    doc: dict[str, Any] = {
        "target": target_id,
        "nonce": uuid.uuid4().hex,
        "sent_at": now().isoformat(),
        "proof": (uuid.uuid4().hex * 3)[:86],
    }
    doc.update(override)
    return doc


def change_file(ctx: Ctx, **override: Any) -> dict[str, Any]:
    """What `provision apply` reads."""
    doc: dict[str, Any] = {"targets": [target(ctx)], "resources": [file_resource()]}
    doc.update(override)
    return doc


def truth_files(ctx: Ctx) -> dict[str, str]:
    """A minimal valid source of truth (path -> YAML text)."""
    address = f"local://{ctx.victim_root / 'truth-1'}"
    return {
        "inventory.yaml": "targets:\n"
        f"  - {{id: truth-1, region: {ctx.regions[0]}, environment: dev, roles: [web], "
        f'address: "{address}"}}\n',
        "roles/web.yaml": "resources:\n  - kind: file\n    path: /etc/app.conf\n"
        '    content: "x = 1\\n"\n',
        "environments/dev.yaml": "values:\n  tier: dev\n",
    }


def state_file(**override: Any) -> dict[str, Any]:
    """What `provision converge ROOT STATE_FILE` reads."""
    doc: dict[str, Any] = {"resources": [file_resource()]}
    doc.update(override)
    return doc
