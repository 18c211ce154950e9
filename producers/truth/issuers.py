"""Who may send change events: the issuers of the latest revision and those on record.

An issuer comes from `issuers.yaml` in the latest published revision (a reviewed commit),
or was registered directly with `provision keys create ISSUER --scope ...` where no source
of truth is used. A key id found in both names the one registered directly. A revocation
(`provision keys revoke`) is on record for keys of either kind and takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.issuers import Issuer, Scope
from contracts.signatures import BadKey, key_id_of, load_public_key, public_pem
from producers.store import audit
from producers.store import issuers as rows
from producers.store.database import Database
from producers.truth.revisions import RevisionStore


@dataclass(frozen=True)
class KnownKey:
    """A key as the controller sees it: whose, its PEM, the issuer's scope, and where from."""

    key_id: str
    issuer: str
    public_key: str
    scope: Scope
    #: `database`, or `revision N` for a key of issuers.yaml.
    source: str
    created_at: datetime | None
    revoked_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "issuer": self.issuer,
            "source": self.source,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "scope": self.scope.model_dump(mode="json", exclude_defaults=True),
        }


class UnknownKey(LookupError):
    """No issuer has a key with that id."""


class Registry:
    """Reads (and, for directly registered issuers, writes) issuers and their keys."""

    def __init__(self, db: Database, truth: RevisionStore | None = None) -> None:
        self.db = db
        self.truth = truth if truth is not None else RevisionStore(db)

    def _truth_issuers(self) -> tuple[int, tuple[Issuer, ...]]:
        latest = self.truth.latest_number()
        return (latest, self.truth.bundle(latest).issuers) if latest else (0, ())

    def _from_truth(self, key_id: str) -> tuple[int, Issuer, str] | None:
        latest, issuers = self._truth_issuers()
        for issuer in issuers:
            for key in issuer.keys:
                if key.id == key_id:
                    return latest, issuer, key.public_key
        return None

    def lookup(self, key_id: str) -> KnownKey | None:
        """The key with this id (revoked or not), or None when no issuer has it."""
        with self.db.connection() as conn:
            row = rows.key(conn, key_id)
        if row is not None and row.public_key is not None and row.scope_json is not None:
            scope = Scope.model_validate_json(row.scope_json)
            return KnownKey(
                row.key_id,
                row.issuer,
                row.public_key,
                scope,
                "database",
                row.created_at,
                row.revoked_at,
            )
        found = self._from_truth(key_id)
        if found is None:
            return None
        number, issuer, pem = found
        revoked = row.revoked_at if row is not None else None
        return KnownKey(key_id, issuer.name, pem, issuer.scope, f"revision {number}", None, revoked)

    def keys(self) -> list[KnownKey]:
        """Every key: those on record, then those of the latest revision's issuers.yaml."""
        with self.db.connection() as conn:
            on_record = rows.keys(conn)
        found = [
            KnownKey(
                r.key_id,
                r.issuer,
                r.public_key,
                Scope.model_validate_json(r.scope_json),
                "database",
                r.created_at,
                r.revoked_at,
            )
            for r in on_record
            if r.public_key is not None and r.scope_json is not None
        ]
        listed = {k.key_id for k in found}
        revoked = {r.key_id: r.revoked_at for r in on_record if r.public_key is None}
        number, issuers = self._truth_issuers()
        for issuer in issuers:
            for key in issuer.keys:
                if key.id not in listed:
                    found.append(
                        KnownKey(
                            key.id,
                            issuer.name,
                            key.public_key,
                            issuer.scope,
                            f"revision {number}",
                            None,
                            revoked.get(key.id),
                        )
                    )
        return found

    def register(
        self, issuer: str, scope: Scope, key_id: str, public_key: str, *, actor: str
    ) -> bool:
        """Register `issuer` (or set its scope) and add a key, with their audit entries
        (`issuer.registered` when new or changed, `issuer.key_created`), in one transaction.
        True when the issuer is new or its scope changed. Raises BadKey for a bad PEM and
        psycopg's UniqueViolation for a key id on record already."""
        load_public_key(public_key)
        with self.db.connection() as conn, conn.transaction():
            changed = rows.register(conn, issuer, scope.model_dump_json(exclude_defaults=True))
            rows.add_key(conn, key_id, issuer, public_key)
            if changed:
                shown = scope.model_dump(mode="json", exclude_defaults=True)
                detail = {"issuer": issuer, "scope": shown}
                audit.append(
                    conn, actor=actor, action="issuer.registered", subject=issuer, detail=detail
                )
            detail = {"issuer": issuer, "key_id": key_id}
            audit.append(
                conn, actor=actor, action="issuer.key_created", subject=key_id, detail=detail
            )
        return changed

    def ensure(self, issuer: str, scope: Scope, key: Ed25519PrivateKey, *, actor: str) -> str:
        """Register `key` for `issuer` unless it is on record already (the demo's and the
        tests' operator keys): returns its key id."""
        key_id = key_id_of(key.public_key())
        known = self.lookup(key_id)
        if known is None or known.source != "database":
            self.register(issuer, scope, key_id, public_pem(key), actor=actor)
        return key_id

    def revoke(self, key_id: str, *, actor: str) -> KnownKey:
        """Revoke a key at once, with its audit entry (`issuer.key_revoked`). Raises
        UnknownKey; a key revoked already stays revoked (and is not recorded again)."""
        known = self.lookup(key_id)
        if known is None:
            raise UnknownKey(f"no issuer has a key {key_id!r} (see `provision keys list`)")
        with self.db.connection() as conn, conn.transaction():
            if rows.revoke(conn, key_id, known.issuer):
                detail = {"issuer": known.issuer, "key_id": key_id, "source": known.source}
                audit.append(
                    conn, actor=actor, action="issuer.key_revoked", subject=key_id, detail=detail
                )
        return known


__all__ = ["BadKey", "KnownKey", "Registry", "UnknownKey"]
