"""A throwaway PostgreSQL server in a temp dir, for tests and benchmarks.

``initdb`` + ``pg_ctl`` from the PostgreSQL server binaries (Debian package
``postgresql``: ``/usr/lib/postgresql/<version>/bin``, or anywhere on ``PATH``,
e.g. symlinks in ``/usr/local/bin``); the server listens on
127.0.0.1 on a free port and on a unix socket in the temp dir, trusts every
local connection, and is stopped with ``pg_ctl stop -m immediate``. PostgreSQL
refuses to run as root, so as root everything runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs

_SEARCH = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class ClusterUnavailableError(RuntimeError):
    """The PostgreSQL server binaries are missing or the server did not start."""


def find_binary(name: str) -> Path:
    """The newest installed PostgreSQL ``name`` (``initdb``, ``pg_ctl``)."""
    for directory in _SEARCH:
        if (directory / name).is_file():
            return directory / name
    found = shutil.which(name)
    if found is None:
        raise ClusterUnavailableError(
            f"PostgreSQL server binary {name!r} not found (looked in /usr/lib/postgresql/*/bin "
            "and on PATH): the tests of the PostgreSQL journal need the PostgreSQL server. "
            "Install the Debian package: sudo apt-get install postgresql "
            "(`make test` does it when run as root)"
        )
    return Path(found)


@attrs.frozen
class Cluster:
    """A running server: its data dir, port and owner."""

    root: Path
    port: int
    user: str | None  # the system user it runs as, when not the current one

    def dsn(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL to ``database`` over TCP."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], user: str | None) -> None:
    if user is not None:
        args = ["runuser", "-u", user, "--", *args]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ClusterUnavailableError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def start(*, fsync: bool = False, max_connections: int = 200) -> Cluster:
    """initdb a temp dir, start a server on a free port (``fsync=False``: fast, not crash-safe)."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="kasha-pg-"))
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        _run([str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
              "--no-sync", "--no-instructions"], user)  # fmt: skip
        for _ in range(3):  # a free port can be taken between the probe and the bind
            port = _free_port()
            options = (
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
                f"-c max_connections={max_connections} -c fsync={'on' if fsync else 'off'} "
                f"-c full_page_writes={'on' if fsync else 'off'}"
            )
            with contextlib.suppress(ClusterUnavailableError):
                _run([str(pg_ctl), "start", "-w", "-t", "60", "-D", str(data),
                      "-l", str(root / "server.log"), "-o", options], user)  # fmt: skip
                return Cluster(root=root, port=port, user=user)
        log = (root / "server.log").read_text(errors="replace")[-2000:]
        raise ClusterUnavailableError(f"PostgreSQL did not start:\n{log}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def stop(cluster: Cluster) -> None:
    """Stop the server at once and delete its directory."""
    try:
        _run([str(find_binary("pg_ctl")), "stop", "-m", "immediate", "-D",
              str(cluster.root / "data")], cluster.user)  # fmt: skip
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)


@contextlib.contextmanager
def running(*, fsync: bool = False) -> Iterator[Cluster]:
    """A server for the duration of the ``with`` block."""
    cluster = start(fsync=fsync)
    try:
        yield cluster
    finally:
        stop(cluster)
