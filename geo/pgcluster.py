"""A private PostgreSQL + PostGIS cluster under var/, for development, tests and the demo.

Used only when DATABASE_URL is unset. PostgreSQL refuses to run as root, so as root the server
runs as the ``postgres`` user; its data and socket directories must then be reachable by that
user, which a checkout under /root usually is not, hence the fallback to the temp dir.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from geo.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)

POSTGIS_PACKAGE = "postgresql-{major}-postgis-3"
SERVER_USER = "postgres"


@dataclass(frozen=True)
class Cluster:
    """Where a private cluster lives and how to reach it."""

    root: Path
    port: int
    db_name: str

    @property
    def data_dir(self) -> Path:
        return self.root / "pg"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgresql.log"

    def url(self, db_name: str | None = None) -> str:
        """SQLAlchemy URL over the unix socket."""
        return (f"postgresql+psycopg://{SERVER_USER}@/{db_name or self.db_name}"
                f"?host={self.socket_dir}&port={self.port}")


def cluster_for(var_dir: Path, port: int, db_name: str) -> Cluster:
    """The cluster of this checkout: ``var_dir`` itself, or a temp dir when the server's user
    could not reach it."""
    var_dir = var_dir.resolve()
    if _running_as_root() and not _reachable_by_server_user(var_dir):
        key = hashlib.sha1(str(var_dir).encode()).hexdigest()[:10]
        return Cluster(Path(tempfile.gettempdir()) / f"gridmap-{key}", port, db_name)
    return Cluster(var_dir, port, db_name)


def bin_dir() -> Path:
    """The newest PostgreSQL server binaries on this machine (Debian layout), installing the
    server when there is none."""
    found = _server_bin_dirs()
    if not found:
        _apt_install(["postgresql"])
        found = _server_bin_dirs()
    if not found:
        raise DatabaseUnavailable("PostgreSQL server binaries not found under /usr/lib/postgresql",
                                  fix="install PostgreSQL 15: apt-get install postgresql")
    return found[-1]


def ensure_postgis(pg_bin: Path) -> None:
    """Install the PostGIS package matching the server's major version when it is missing."""
    major = pg_bin.parent.name
    control = Path(f"/usr/share/postgresql/{major}/extension/postgis.control")
    if not control.exists():
        _apt_install([POSTGIS_PACKAGE.format(major=major)])


def up(cluster: Cluster) -> None:
    """Create (first time) and start the cluster and its database; harmless when running."""
    pg_bin = bin_dir()
    ensure_postgis(pg_bin)
    for directory in (cluster.root, cluster.socket_dir):
        directory.mkdir(parents=True, exist_ok=True)
    _hand_to_server_user(cluster.root, cluster.socket_dir)
    if not (cluster.data_dir / "PG_VERSION").exists():
        _initdb(pg_bin, cluster)
    _clear_stale_pid(cluster)  # before asking pg_ctl, which trusts any live pid
    if not is_running(cluster):
        _pg_ctl(pg_bin, cluster, "start", "-w", "-t", "60", "-l", str(cluster.log_file),
                "-o", f"-k {cluster.socket_dir} -p {cluster.port} -h 127.0.0.1")
    create_database(cluster, cluster.db_name)


def down(cluster: Cluster) -> None:
    """Stop the cluster if it runs."""
    if is_running(cluster):
        _pg_ctl(bin_dir(), cluster, "stop", "-w", "-m", "fast")


def is_running(cluster: Cluster) -> bool:
    """Whether a server answers for this data directory (pg_ctl status)."""
    if not (cluster.data_dir / "PG_VERSION").exists():
        return False
    pg_ctl = str(bin_dir() / "pg_ctl")
    result = subprocess.run(_as_server_user([pg_ctl, "status", "-D", str(cluster.data_dir)]),
                            capture_output=True, text=True, check=False)
    return result.returncode == 0


def create_database(cluster: Cluster, name: str, *, drop_first: bool = False) -> None:
    """Create database ``name`` in the cluster unless it exists (or recreate it)."""
    psql = [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
            str(cluster.socket_dir), "-p", str(cluster.port), "-U", SERVER_USER, "-d", "postgres"]
    if drop_first:
        _run(_as_server_user([*psql, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']))
    lookup = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
    exists = subprocess.run(_as_server_user([*psql, "-tA", "-c", lookup]),
                            capture_output=True, text=True, check=True).stdout.strip()
    if not exists:
        _run(_as_server_user([*psql, "-c", f'CREATE DATABASE "{name}"']))


def _initdb(pg_bin: Path, cluster: Cluster) -> None:
    logger.info("initialising a PostgreSQL cluster in %s", cluster.data_dir)
    _run(_as_server_user([str(pg_bin / "initdb"), "-D", str(cluster.data_dir), "-U", SERVER_USER,
                          "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]))
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n# gridmap private cluster\nshared_buffers = 512MB\n"
                   "work_mem = 64MB\nmaintenance_work_mem = 512MB\nmax_connections = 200\n")


def _pg_ctl(pg_bin: Path, cluster: Cluster, action: str, *args: str) -> None:
    try:
        _run(_as_server_user([str(pg_bin / "pg_ctl"), action, "-D", str(cluster.data_dir), *args]))
    except DatabaseUnavailable as error:
        tail = _tail(cluster.log_file)
        fix = (f"port {cluster.port} is taken: stop what holds it or set GRIDMAP_PG_PORT"
               if "Address already in use" in tail else f"read {cluster.log_file}")
        raise DatabaseUnavailable(f"{error.detail}\n--- {cluster.log_file} ---\n{tail}",
                                  fix=fix) from error


def _clear_stale_pid(cluster: Cluster) -> None:
    """Remove a postmaster.pid left by a server that died (e.g. a killed machine)."""
    pid_file = cluster.data_dir / "postmaster.pid"
    if not pid_file.exists():
        return
    first_line = pid_file.read_text().split("\n", 1)[0].strip()
    pid = int(first_line) if first_line.isdigit() else 0
    if pid and _is_postgres_process(pid):
        return
    logger.warning("removing stale %s (pid %s is not a running server)", pid_file, pid)
    pid_file.unlink()
    for lock in cluster.socket_dir.glob(".s.PGSQL.*"):
        lock.unlink()


def _is_postgres_process(pid: int) -> bool:
    try:
        return "postgres" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


def _server_bin_dirs() -> list[Path]:
    candidates = Path("/usr/lib/postgresql").glob("*/bin/initdb")
    return sorted((path.parent for path in candidates), key=lambda p: int(p.parent.name))


def _apt_install(packages: list[str]) -> None:
    command = f"apt-get update && apt-get install -y {' '.join(packages)}"
    if not _running_as_root():
        raise DatabaseUnavailable(f"{', '.join(packages)} is not installed",
                                  fix=f"run as root: sudo sh -c '{command}'")
    logger.info("installing %s from Debian", " ".join(packages))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], env=env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env)


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _reachable_by_server_user(path: Path) -> bool:
    """Whether every existing parent of ``path`` is searchable by the server's user."""
    server = pwd.getpwnam(SERVER_USER)
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        info = parent.stat()
        if info.st_uid == server.pw_uid:
            bit = 0o100
        elif info.st_gid == server.pw_gid:
            bit = 0o010
        else:
            bit = 0o001
        if not info.st_mode & bit:
            return False
    return True


def _hand_to_server_user(*directories: Path) -> None:
    if not _running_as_root():
        return
    server = pwd.getpwnam(SERVER_USER)
    for directory in directories:
        if directory.stat().st_uid != server.pw_uid:
            shutil.chown(directory, server.pw_uid, server.pw_gid)
            directory.chmod(0o755)


def _as_server_user(command: list[str]) -> list[str]:
    if _running_as_root():
        return ["runuser", "-u", SERVER_USER, "--", *command]
    return command


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise DatabaseUnavailable(f"{' '.join(command)} failed ({result.returncode}): "
                                  f"{result.stderr.strip() or result.stdout.strip()}")


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"
