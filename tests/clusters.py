"""Throwaway PostgreSQL clusters, for tests that need a server of their own: one with settings the
shared server lacks (TLS, SCRAM-only logins) or one they may stop and start.

Debian's own PostgreSQL binaries, a free port, a temporary directory removed afterwards. The server
runs as the postgres user when the suite runs as root, since PostgreSQL refuses to run as root.
"""

import datetime
import ipaddress
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from conftest import free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, text


def binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else None


class Cluster:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.data = directory / "data"
        self.certificate = self.data / "server.crt"  # with tls: what a client verifies the server by

    def _run(self, *command: str) -> None:
        as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_server, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self._run(str(binaries() / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "server.log"),
                  "-w", "-t", "30", "-o", f"-p {self.port} -k {self.directory}", "start")

    def stop(self, mode: str = "fast") -> None:
        """Fast shutdown: open sessions are ended, as an outage or a scale to zero ends them. Immediate:
        every server process quits at once, as in a crash, and nothing more commits."""
        self._run(str(binaries() / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def execute(self, *statements: str, database: str = "postgres") -> list:
        """As the superuser, over the cluster's Unix socket (trusted); the rows of the last statement."""
        engine = create_engine(f"postgresql+psycopg2://postgres@/{database}?host={self.directory}&port={self.port}",
                               isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                for statement in statements:
                    result = connection.execute(text(statement))
                return result.all() if result.returns_rows else []
        finally:
            engine.dispose()

    def url(self, user: str, password: str | None, database: str, **query: str) -> str:
        login = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
        return f"postgresql://{login}@127.0.0.1:{self.port}/{database}" + (f"?{urlencode(query)}" if query else "")


@contextmanager
def cluster(*, tls: bool = False, trusted_roles: tuple[str, ...] = ()) -> Iterator[Cluster]:
    """A running cluster on 127.0.0.1. Over TCP every login needs a SCRAM password (roles in
    `trusted_roles` excepted); with `tls`, TCP is TLS-only, with a certificate made here."""
    if binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL's server binaries are missing: apt-get install postgresql")
        pytest.skip("needs PostgreSQL's server binaries")
    directory = Path(tempfile.mkdtemp(prefix="tasks-api-cluster-"))
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    if owner:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    server = Cluster(directory, free_port())
    try:
        server._run(str(binaries() / "initdb"), "-D", str(server.data), "-U", "postgres", "-E", "UTF8",
                    "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256")
        tcp = "hostssl" if tls else "host"
        rules = ["local all all trust",
                 *(f"{tcp} all {role} 127.0.0.1/32 trust" for role in trusted_roles),
                 f"{tcp} all all 127.0.0.1/32 scram-sha-256"]
        settings = ["listen_addresses = '127.0.0.1'", "password_encryption = 'scram-sha-256'", "fsync = off"]
        if tls:
            _write_certificate(server.data)
            settings += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        (server.data / "pg_hba.conf").write_text("\n".join(rules) + "\n")
        with open(server.data / "postgresql.conf", "a") as conf:
            conf.write("\n".join(settings) + "\n")
        if owner:
            for path in server.data.iterdir():
                os.chown(path, owner.pw_uid, owner.pw_gid)
        server.start()
        try:
            yield server
        finally:
            try:
                server.stop()
            except subprocess.CalledProcessError:
                pass  # already stopped by the test
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def self_signed_certificate() -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 that is its own authority (so a client can verify it, given it as
    sslrootcert), and its key: both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _write_certificate(data: Path) -> None:
    certificate, key = self_signed_certificate()
    (data / "server.crt").write_bytes(certificate)
    key_file = data / "server.key"
    key_file.write_bytes(key)
    key_file.chmod(0o600)  # PostgreSQL refuses a key others may read
