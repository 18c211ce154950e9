"""HTTPS: `--tls-cert/--tls-key` are checked before the port opens (one line naming the
flag, exit 2, never the key's text); served, the session cookie is Secure and, beyond
loopback, every response carries HSTS; operator mode beyond loopback without TLS is refused."""

from __future__ import annotations

import http.client
import ipaddress
import shutil
import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from producers.dashboard.operator import COOKIE
from producers.dashboard.tls import MINIMUM_VERSION, TLSError, exposure, is_loopback
from producers.dashboard.tls import server_context as make_context
from producers.processes.commands import dashboard_argv
from tests.isolation import ROOT, Isolated, provision, wait_until
from tests.producers.dashboard.conftest import client
from tests.producers.dashboard.test_operator import credentials_file, operator, sign_in
from tests.services import need

HSTS = "max-age=31536000"


class Pair(NamedTuple):
    cert: Path
    key: Path
    key_text: str


def make_pair(directory: Path, name: str = "server") -> Pair:
    """A self-signed certificate for localhost and 127.0.0.1 (0644) and its key (0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_path.chmod(0o644)
    key_text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_path.write_text(key_text)
    key_path.chmod(0o600)
    return Pair(cert_path, key_path, key_text)


def key_body(pair: Pair) -> str:
    """The base64 body of the key: what must never be shown."""
    return "".join(line for line in pair.key_text.splitlines() if "-----" not in line)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    return make_pair(tmp_path)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.20", False),
        ("10.0.0.1", False),
        ("dashboard.example", False),
        ("localhost.evil.example", False),
    ],
)
def test_loopback_is_127_0_0_0_8_and_1_and_localhost(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_operator_beyond_loopback_needs_tls_and_read_only_there_is_warned() -> None:
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        with pytest.raises(TLSError, match="in clear; give --tls-cert/--tls-key") as refused:
            exposure(host, operator=True, tls=False)
        assert refused.value.exit_code == 2 and "\n" not in str(refused.value)
        warning = exposure(host, operator=False, tls=False)
        assert warning is not None and warning.startswith("warning:") and "\n" not in warning
        assert exposure(host, operator=True, tls=True) is None
    for host in ("127.0.0.1", "::1", "localhost"):
        assert exposure(host, operator=True, tls=False) is None
        assert exposure(host, operator=False, tls=False) is None


def test_a_good_pair_makes_a_server_context_of_tls_1_2_at_least(pair: Pair) -> None:
    context = make_context(pair.cert, pair.key)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2 == MINIMUM_VERSION
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER


def _open_key(pair: Pair) -> tuple[Path, Path]:
    pair.key.chmod(0o644)
    return pair.cert, pair.key


def _other_key(pair: Pair) -> tuple[Path, Path]:
    return pair.cert, make_pair(pair.cert.parent, "other").key


def _key_as_cert(pair: Pair) -> tuple[Path, Path]:
    return pair.key, pair.key  # the key's text in the certificate's place


def _encrypted_key(pair: Pair) -> tuple[Path, Path]:
    key = serialization.load_pem_private_key(pair.key_text.encode(), password=None)
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    pair.key.write_bytes(locked)
    return pair.cert, pair.key


def _missing_key(pair: Pair) -> tuple[Path, Path]:
    return pair.cert, pair.key.with_name("missing.key")


def _directory_cert(pair: Pair) -> tuple[Path, Path]:
    return pair.cert.parent, pair.key


def _truncated_key(pair: Pair) -> tuple[Path, Path]:
    pair.key.write_text(pair.key_text[: len(pair.key_text) // 2])
    return pair.cert, pair.key


@pytest.mark.parametrize(
    ("spoil", "flag", "reason"),
    [
        (_open_key, "--tls-key", "group or others may read it (mode 0644); make it 0600"),
        (_other_key, "--tls-key", "not the key of the certificate in --tls-cert"),
        (_key_as_cert, "--tls-cert", "not a PEM certificate"),
        (_encrypted_key, "--tls-key", "the key is encrypted"),
        (_missing_key, "--tls-key", "cannot read it"),
        (_directory_cert, "--tls-cert", "not a regular file"),
        (_truncated_key, "--tls-key", "not a PEM private key"),
    ],
)
def test_a_bad_file_or_pair_is_one_line_naming_its_flag_and_never_the_key(
    pair: Pair, spoil: Callable[[Pair], tuple[Path, Path]], flag: str, reason: str
) -> None:
    cert, key = spoil(pair)
    with pytest.raises(TLSError) as refused:
        make_context(cert, key)
    message = str(refused.value)
    assert message.startswith(f"{flag} ") and reason in message, message
    assert "\n" not in message and refused.value.exit_code == 2
    assert key_body(pair)[:40] not in message and "PRIVATE KEY" not in message


def test_over_tls_the_cookie_is_secure_and_hsts_is_sent(dash: Isolated) -> None:
    with client(dash, operator(dash), tls=True) as browser:
        assert browser.get("/healthz").headers["strict-transport-security"] == HSTS
        signed = sign_in(browser)
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert f"{COOKIE}=" in cookie and "; secure" in cookie and "httponly" in cookie
        assert signed.headers["strict-transport-security"] == HSTS


def test_over_tls_on_loopback_the_cookie_is_secure_and_no_hsts_pins_localhost(
    dash: Isolated,
) -> None:
    """HSTS on loopback would make the browser refuse http on every localhost port for a year."""
    origin = {"origin": "http://127.0.0.1"}
    with client(dash, operator(dash), tls=True, host="127.0.0.1") as browser:
        health = browser.get("/healthz")
        assert health.status_code == 200 and "strict-transport-security" not in health.headers
        signed = sign_in(browser, headers=origin)
        assert signed.status_code == 303
        assert "; secure" in signed.headers["set-cookie"].lower()
        assert "strict-transport-security" not in signed.headers


def test_without_tls_nothing_changes(dash: Isolated) -> None:
    with client(dash, operator(dash)) as browser:
        assert "strict-transport-security" not in browser.get("/healthz").headers
        signed = sign_in(browser)
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie


# What follows runs `provision dashboard` itself.


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("cert alone", "--tls-key"),
        ("key alone", "--tls-cert"),
        ("key 0644", "--tls-key"),
        ("another key", "--tls-key"),
        ("operator on 0.0.0.0", "--tls-cert/--tls-key"),
    ],
)
def test_provision_dashboard_refuses_bad_tls_flags_with_exit_2(
    tmp_path: Path, pair: Pair, case: str, named: str
) -> None:
    operator_url = credentials_file(tmp_path, "amqp://ops:s3cret@127.0.0.1:5672/%2F")
    argv = {
        "cert alone": ["--tls-cert", str(pair.cert)],
        "key alone": ["--tls-key", str(pair.key)],
        "key 0644": ["--tls-cert", str(pair.cert), "--tls-key", str(_open_key(pair)[1])],
        "another key": ["--tls-cert", str(pair.cert), "--tls-key", str(_other_key(pair)[1])],
        "operator on 0.0.0.0": ["--host", "0.0.0.0", "--operator-credentials", str(operator_url)],
    }[case]
    done = provision("dashboard", "--port", str(free_port()), *argv, timeout_s=30)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert named in done.stderr and "Traceback" not in output
    assert key_body(pair)[:40] not in output and "s3cret" not in output
    if case == "operator on 0.0.0.0":
        assert done.stderr.count("\n") == 1 and "in clear" in done.stderr


@pytest.mark.slow
def test_read_only_beyond_loopback_without_tls_warns_once_and_goes_on() -> None:
    # An unreachable database stops it right after the checks, before any port opens.
    unreachable = {"PROVISION_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = provision("dashboard", "--host", "0.0.0.0", env=unreachable, timeout_s=30)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "without TLS" in warnings[0], done.stderr
    assert "PostgreSQL unreachable" in done.stderr and done.returncode == 3, done.stderr


@pytest.mark.slow
def test_provision_dashboard_serves_https_only_and_signs_the_operator_in_over_it(
    tmp_path: Path, dash: Isolated, pair: Pair
) -> None:
    port = free_port()
    operator_url = credentials_file(tmp_path, dash.broker_url)
    argv = dashboard_argv(port=port, operator_credentials=str(operator_url))
    child = dash.spawn(
        "dashboard-tls", [*argv, "--tls-cert", str(pair.cert), "--tls-key", str(pair.key)]
    )
    trusted = ssl.create_default_context(cafile=str(pair.cert))  # the cert as the only CA

    def answers() -> bool:
        assert child.alive(), child.tail()
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{port}/healthz", context=trusted, timeout=2
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_until(answers, 60, "the dashboard to answer over https")
        assert f"https://127.0.0.1:{port}/ (operator sign-in at /operator)" in child.text()
        with urllib.request.urlopen(
            f"https://localhost:{port}/", context=trusted, timeout=10
        ) as page:
            assert page.status == 200 and "Rollouts" in page.read().decode()
            assert page.headers["strict-transport-security"] is None  # loopback: no pin
        with pytest.raises((OSError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).close()

        connection = http.client.HTTPSConnection("127.0.0.1", port, context=trusted, timeout=10)
        try:
            connection.request(
                "POST",
                "/operator",
                body=urlencode({"password": "guest"}),
                headers={
                    "content-type": "application/x-www-form-urlencoded",
                    "origin": f"https://127.0.0.1:{port}",
                },
            )
            signed = connection.getresponse()
            signed.read()
        finally:
            connection.close()
        assert signed.status == 303, signed.status
        cookie = (signed.getheader("set-cookie") or "").lower()
        assert f"{COOKIE}=" in cookie and "; secure" in cookie and "httponly" in cookie
        assert signed.getheader("strict-transport-security") is None
    finally:
        child.stop()


def test_the_readme_s_openssl_line_makes_a_pair_the_dashboard_serves(tmp_path: Path) -> None:
    line = next(
        (
            text
            for text in (ROOT / "README.md").read_text().splitlines()
            if text.startswith("openssl req -x509") and "dashboard.key" in text
        ),
        None,
    )
    assert line is not None, "the README lost its openssl line for the dashboard"
    need(shutil.which("openssl") is not None, "openssl is not installed")
    done = subprocess.run(line, shell=True, cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    make_context(tmp_path / "dashboard.crt", tmp_path / "dashboard.key")
