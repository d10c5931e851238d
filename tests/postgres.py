"""A real PostgreSQL server for the tests: Debian's binaries, a fresh data folder, a free loopback
port; run as the `postgres` user when the tests run as root (initdb refuses root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import free_port


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self):
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql")
        self.folder = Path(tempfile.mkdtemp(prefix="maskscope-pg-"))
        self.port = free_port()
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if as_user:
            shutil.chown(self.folder, "postgres")
        data, self.log = self.folder / "data", self.folder / "server.log"
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "maskscope", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(self.log), "-w", "-o",
                        f"-p {self.port} -h 127.0.0.1 -k {self.folder}", "start"], check=True, capture_output=True)
        self._stop = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
        self.url = f"postgresql+psycopg://maskscope@127.0.0.1:{self.port}/postgres"
        self._wait()

    def _wait(self, timeout_s: float = 30) -> None:
        import sqlalchemy as sa
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with sa.create_engine(self.url).connect() as connection:
                    connection.execute(sa.text("select 1"))
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        subprocess.run(self._stop, capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
