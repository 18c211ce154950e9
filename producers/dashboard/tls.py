"""HTTPS for the dashboard: the certificate and key given with `--tls-cert`/`--tls-key`,
checked before the port opens, and where plain http is still allowed.

Operator mode signs in with the broker user's password and then carries a session cookie.
Over plain http beyond loopback both would cross the network in clear, so operator mode on
a non-loopback address without TLS is refused; a read-only dashboard there only warns.

The key file is a secret like the operator's credentials file: a regular file that group
and others may not read (mode & 0o077 == 0). The pair is checked with `cryptography` (each
file parses, the key is the certificate's) so that a bad one is one line naming its flag,
then loaded into the very SSLContext that serves (TLS 1.2 at least). No message ever
carries a byte of either file.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from contracts import ExitCode, ProvisioningError
from contracts.private_files import PrivateFileError, read_private

#: The largest certificate chain or key file read (a few PEM certificates fit many times).
PEM_BYTES = 256 * 1024
#: The oldest protocol the dashboard speaks: TLS 1.0 and 1.1 are deprecated (RFC 8996).
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
#: The flags, as messages name them.
CERT_FLAG = "--tls-cert"
KEY_FLAG = "--tls-key"
#: The host names that never leave the machine (besides 127.0.0.0/8 and ::1).
LOOPBACK_NAMES = frozenset({"localhost"})


class TLSError(ProvisioningError):
    """The TLS flags are missing where they are needed, unsafe, or not a working pair."""

    exit_code = ExitCode.INPUT


def is_loopback(host: str) -> bool:
    """True when `host` is only reachable from this machine: 127.0.0.0/8, ::1, localhost."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def exposure(host: str, *, operator: bool, tls: bool) -> str | None:
    """The warning to print before serving plain http on `host`, None when there is none.

    Raises TLSError for operator mode on a non-loopback host without TLS.
    """
    if tls or is_loopback(host):
        return None
    if operator:
        raise TLSError(
            f"--operator-credentials on --host {host} without TLS: the sign-in password would"
            f" cross the network in clear; give {CERT_FLAG}/{KEY_FLAG}"
            " (or listen on 127.0.0.1)"
        )
    return (
        f"warning: --host {host} without TLS: every page crosses the network in clear"
        f" (give {CERT_FLAG}/{KEY_FLAG} to serve HTTPS)"
    )


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The SSLContext serving `cert` (a PEM chain, the server's first) with `key`.

    Raises TLSError naming the flag at fault: a file that is missing, unreadable, not
    regular, too large or not PEM; a key group or others may read, encrypted, or not the
    certificate's.
    """
    chain = _read(CERT_FLAG, cert, private=False)
    secret = _read(KEY_FLAG, key, private=True)
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
    except ValueError:
        raise TLSError(f"{CERT_FLAG} {cert}: not a PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(secret, password=None)
    except TypeError:
        raise TLSError(
            f"{KEY_FLAG} {key}: the key is encrypted; give it unencrypted (mode 0600)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TLSError(f"{KEY_FLAG} {key}: not a PEM private key") from None
    try:
        matched = _public_bytes(private.public_key()) == _public_bytes(leaf.public_key())
    except UnsupportedAlgorithm:
        raise TLSError(f"{CERT_FLAG} {cert}: a key type the dashboard cannot serve") from None
    if not matched:
        raise TLSError(f"{KEY_FLAG} {key}: not the key of the certificate in {CERT_FLAG} {cert}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except (ssl.SSLError, OSError) as exc:  # a file replaced since it was checked
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or "refused"
        raise TLSError(
            f"{CERT_FLAG} {cert} with {KEY_FLAG} {key}: cannot serve ({reason})"
        ) from None
    return context


def _read(flag: str, path: Path, *, private: bool) -> bytes:
    """The bytes of a regular file of at most PEM_BYTES; `private`: only its owner may
    read it. Read by contracts.private_files: opened once and checked on the descriptor
    (no name swapped in between)."""
    try:
        return read_private(path, PEM_BYTES, private=private)
    except PrivateFileError as exc:
        raise TLSError(f"{flag} {path}: {_refusal(exc)}") from None


def _refusal(exc: PrivateFileError) -> str:
    """A refused certificate or key file in this module's own words."""
    if exc.problem in ("open", "read"):
        return f"cannot read it ({exc.detail})"
    if exc.problem == "too-large":
        return f"over {PEM_BYTES} bytes, not PEM"
    return exc.reason


def _public_bytes(public: PublicKeyTypes) -> bytes:
    """A public key as DER SubjectPublicKeyInfo: equal bytes, same key."""
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _no_passphrase() -> bytes:
    """Answers OpenSSL's passphrase prompt with nothing: a service never waits on a tty."""
    return b""
