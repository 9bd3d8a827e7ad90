"""A throwaway PostgreSQL server for the store's tests and measurements: ``initdb`` into a temporary folder,
``postgres`` listening on a Unix socket in that folder only (no TCP port), trust authentication, removed at
the end. initdb refuses to run as root, so as root the server runs as the ``postgres`` user (Debian's
package makes it) or ``nobody``.

    with throwaway_server() as url:   # postgresql://USER@/postgres?host=/tmp/...
        ...

``python scripts/store_pg.py`` starts one, prints its URL and keeps it until Ctrl-C. $NPTBENCH_TEST_POSTGRES,
when set, names a server to use instead (the tests and scripts then make their own database in it).
:func:`unavailable` says why no server can be had here, or None.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = "NPTBENCH_TEST_POSTGRES"


def binaries() -> Path | None:
    """The folder of initdb and postgres: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "postgres").exists():
            return Path(folder)
    return None


def server_user() -> str | None:
    """Who runs the server: this user, or as root ``postgres`` (else ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run the server as")


def unavailable() -> str | None:
    """Why no PostgreSQL store can be tested here (driver or server missing), or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install 'nptbench[store]')"
    if os.environ.get(ENV):
        return None
    if binaries() is None:
        return "no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start the server as another user"
    return None


def _as(user: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--"] + argv if user else argv


@contextlib.contextmanager
def throwaway_server():
    """Yield the URL of a fresh server (or of $NPTBENCH_TEST_POSTGRES), stopped and removed at the end."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    bin_dir, user = binaries(), server_user()
    # as another user, a folder that user can reach whatever $TMPDIR is
    folder = Path(tempfile.mkdtemp(prefix="nptbench-pg-", dir="/tmp" if user and os.path.isdir("/tmp") else None))
    data, log = folder / "data", folder / "log"
    if user:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    proc = None
    try:
        subprocess.run(_as(user, [str(bin_dir / "initdb"), "-D", str(data), "-U", "store", "--auth=trust",
                                  "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, timeout=120)
        with open(log, "w") as out:
            if user:
                os.chown(log, pwd.getpwnam(user).pw_uid, -1)
            proc = subprocess.Popen(_as(user, [str(bin_dir / "postgres"), "-D", str(data), "-k", str(folder),
                                               "-c", "listen_addresses=", "-c", "max_connections=50"]),
                                    stdout=out, stderr=subprocess.STDOUT)
        url = f"postgresql://store@/postgres?host={folder}"
        _wait(url, proc, log)
        yield url
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait(url: str, proc, log: Path, timeout: float = 60) -> None:
    import psycopg

    end = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url).close()
            return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the PostgreSQL server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)


def fresh_database(url: str, name: str) -> str:
    """A new empty database ``name`` on the server at ``url`` (dropped first if there), as a URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


if __name__ == "__main__":
    why = unavailable()
    if why:
        sys.exit(f"no PostgreSQL here: {why}")
    with throwaway_server() as url:
        print(url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
