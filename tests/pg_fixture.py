"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl into a temporary folder.

``postgres`` (session) is shared; ``fresh_postgres`` (function) is private to a test that stops
and restarts it; ``pg_url`` is a new empty database on the shared cluster for each test. The
cluster listens on 127.0.0.1 at a free port and on a unix socket in its own folder, trusts
every local login as ``postgres``, and runs with ``fsync=off`` (durability across a power cut is
not what these tests check; a clean stop / start keeps everything). As root (CI), the server
runs as the ``postgres`` account (initdb refuses root), or ``nobody`` when there is none.

Needs the PostgreSQL server binaries (Debian: ``apt install postgresql``), found in
``$PG_BINDIR``, ``/usr/lib/postgresql/<newest>/bin``, or on PATH. Without them, ``postgres`` and
``pg_url`` fall back to the machine's server (``$SPARK_TEST_PG_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``; databases dropped after each test) and
``fresh_postgres`` is skipped (it cannot stop someone else's server); with neither, they fail.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
MACHINE_PG = os.environ.get("SPARK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MISSING = (
    "the PostgreSQL server binaries (initdb, pg_ctl) are not installed and no server answers at "
    "$SPARK_TEST_PG_URL / 127.0.0.1:5432; the tests need a real one: apt install postgresql "
    "(or set PG_BINDIR)"
)


def find_bindir() -> Path | None:
    if env := os.environ.get("PG_BINDIR"):
        return Path(env)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _server_user() -> pwd.struct_passwd | None:
    """None when we are not root (the server runs as us)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run initdb")


@dataclass
class PgCluster:
    bindir: Path
    root: Path  # data/, the socket and server.log live here
    port: int = field(default_factory=free_port)
    user: pwd.struct_passwd | None = field(default_factory=_server_user)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        kwargs: dict = {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}
        res = subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True,
                             text=True, timeout=timeout, cwd=self.root, check=False, **kwargs)
        if res.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({res.returncode}): {res.stderr.strip()}\n{tail}")

    def init(self) -> None:
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self) -> None:
        """Start (again) on the same port and data; returns once it accepts connections."""
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses={HOST} -c fsync=off "
                f"-c full_page_writes=off -c max_connections=50")
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.log), "-w", "-t", "60",
                  "-o", opts, "start", timeout=90)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back and disconnect clients; ``immediate``: crash)."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop",
                  timeout=90)

    @property
    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)


@dataclass
class MachineServer:
    """The machine's own server, when there are no binaries for a throwaway cluster."""

    url: str = MACHINE_PG

    def create_database(self, name: str | None = None) -> str:
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return psycopg.conninfo.make_conninfo(self.url, dbname=name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _have_binaries() -> bool:
    bindir = find_bindir()
    return bindir is not None and (bindir / "pg_ctl").exists()


def start_cluster() -> PgCluster:
    bindir = find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.fail(MISSING, pytrace=False)
    # Not under pytest's tmp_path: that is private to root, and the server may run as postgres.
    cluster = PgCluster(bindir, Path(tempfile.mkdtemp(prefix="spark-pg-")))
    try:
        cluster.init()
        cluster.start()
    except BaseException:
        shutil.rmtree(cluster.root, ignore_errors=True)
        raise
    return cluster


def remove_cluster(cluster: PgCluster) -> None:
    try:
        if cluster.running:
            try:
                cluster.stop("fast")
            except (RuntimeError, subprocess.TimeoutExpired):
                cluster.stop("immediate")
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster | MachineServer]:
    if not _have_binaries():
        import psycopg

        server = MachineServer()
        try:
            psycopg.connect(server.url, connect_timeout=3).close()
        except psycopg.Error:
            pytest.fail(MISSING, pytrace=False)
        yield server
        return
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        remove_cluster(cluster)


@pytest.fixture
def fresh_postgres() -> Iterator[PgCluster]:
    if not _have_binaries():
        pytest.skip("needs the PostgreSQL server binaries to stop and start a private server "
                    "(apt install postgresql)")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        remove_cluster(cluster)


@pytest.fixture
def pg_url(postgres: PgCluster | MachineServer) -> Iterator[str]:
    """A new empty database on the shared cluster (or the machine's server)."""
    url = postgres.create_database()
    yield url
    if isinstance(postgres, MachineServer):
        postgres.drop_database(url)
