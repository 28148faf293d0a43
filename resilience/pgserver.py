"""A PostgreSQL server of the suite's own, for the faults that restart, crash or fill a server.

    with PrivateServer() as server: ...   # initdb, pg_ctl start; stopped and removed on exit

Built with the server binaries already on the machine (initdb, pg_ctl, postgres), found in
$PG_BINDIR, else the newest /usr/lib/postgresql/*/bin (Debian, Ubuntu), else `pg_config --bindir`,
else PATH. The cluster lives in a temporary folder (resilience-pg-*): trust authentication,
127.0.0.1 on a free port, its socket in the folder, small memory settings. A shared server is
never touched. Run as root, the server runs as the `postgres` account (initdb refuses root).
A folder left by a run that was killed is stopped and removed by the next run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from cli import free_port

PREFIX = "resilience-pg-"
SUPERUSER = "postgres"
RESERVED_CONNECTIONS = 3  # superuser_reserved_connections, PostgreSQL's default
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_buffers": "'16MB'",
    "max_connections": "20",
    "superuser_reserved_connections": str(RESERVED_CONNECTIONS),
    # Faster checkpoints at shutdown. Writes still reach the kernel before a commit is answered,
    # so a killed server (stop -m immediate) loses nothing; only an OS crash could.
    "fsync": "off",
    "log_line_prefix": "'%m [%p] %q%a '",
}
PG_CTL_SECONDS = 30
PACKAGED = Path("/usr/lib/postgresql")  # Debian's and Ubuntu's <version>/bin folders


class ServerBinariesMissing(RuntimeError):
    pass


def find_bindir() -> Path:
    """The folder holding initdb and pg_ctl, or ServerBinariesMissing saying how to get them."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    versions = PACKAGED.glob("*/bin")
    candidates += sorted(versions, key=lambda path: _version(path.parent.name), reverse=True)
    if shutil.which("pg_config"):
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir:
            candidates.append(Path(bindir))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise ServerBinariesMissing(
        "The resilience suite starts a PostgreSQL server of its own and needs the server "
        "binaries (initdb, pg_ctl, postgres); none found in $PG_BINDIR, /usr/lib/postgresql/*/bin, "
        "`pg_config --bindir` or PATH. Install them (Debian/Ubuntu: `apt-get install "
        "postgresql`, macOS: `brew install postgresql`) or set PG_BINDIR to their folder."
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def service_account() -> pwd.struct_passwd | None:
    """The account the server runs as: ours, or `postgres` (else `nobody`) when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerBinariesMissing("running as root and no `postgres` or `nobody` account to run as")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PrivateServer:
    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.bindir = find_bindir()
        self.settings = {**SETTINGS, **(settings or {})}
        self.max_connections = int(self.settings["max_connections"])
        self.account = service_account()
        self.folder: Path | None = None
        self.port = 0

    # Lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> PrivateServer:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.remove()

    @property
    def data(self) -> Path:
        assert self.folder is not None
        return self.folder / "data"

    @property
    def log(self) -> Path:
        assert self.folder is not None
        return self.folder / "server.log"

    def start(self) -> None:
        remove_stale()
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.folder / "owner").write_text(str(os.getpid()))
        if self.account is not None:
            os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)
        self.port = free_port()
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        settings = {**self.settings, "port": str(self.port)}
        settings["unix_socket_directories"] = f"'{self.folder}'"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# resilience/pgserver.py\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self.pg_ctl("start")

    def remove(self) -> None:
        """Stop the server at once and delete its folder; safe to call twice."""
        if self.folder is None:
            return
        if (self.data / "postmaster.pid").exists():
            self.pg_ctl("stop", "-m", "immediate", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    # Control -----------------------------------------------------------------------------------

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """pg_ctl start/stop/restart on this cluster, waiting for it to finish."""
        extra = ["-l", str(self.log)] if args[0] in {"start", "restart"} else []
        timeout = ["-t", str(PG_CTL_SECONDS)]
        return self._run("pg_ctl", args[0], "-D", str(self.data), "-w", *timeout, *extra,
                         *args[1:], check=check)  # fmt: skip

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        options: dict[str, Any] = {}
        if self.account is not None:
            options = {"user": self.account.pw_uid, "group": self.account.pw_gid}
        completed = subprocess.run(
            [str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.folder,
            start_new_session=True,  # a Ctrl-C of the suite does not reach the server first
            **options,
        )
        if check and completed.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({completed.returncode}):\n"
                f"{completed.stdout}{completed.stderr}{log}"
            )
        return completed

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def log_since(self, offset: int) -> str:
        with self.log.open() as log:
            log.seek(offset)
            return log.read()

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0


def remove_stale() -> None:
    """Stop and remove the servers of earlier runs whose process is gone (killed runs)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((folder / "owner").read_text())
        except (OSError, ValueError):
            owner = 0
        if owner and _alive(owner):
            continue
        pid_file = folder / "data" / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            pid, command = 0, b""
        if pid and str(folder).encode() in command:  # that server's postmaster, nothing else
            os.kill(pid, signal.SIGQUIT)  # an immediate stop
            time.sleep(0.5)
        shutil.rmtree(folder, ignore_errors=True)
