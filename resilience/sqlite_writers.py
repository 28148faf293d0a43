"""Load a rendered SQLite app under `uvicorn --workers N`: POST /projects from many clients.

usage: <app>/.venv/bin/python resilience/sqlite_writers.py APP_DIR
           [--requests 1000] [--clients 64] [--workers 4] [--runs 1]
Runs with APP_DIR's venv python. Each run migrates a fresh file database, starts uvicorn, sends
the POSTs, stops the server, then counts statuses and checks every 201 id is in the database.
"""

import argparse
import asyncio
import collections
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cli import free_port


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError("server exited")
            try:
                if (await client.get(url + "/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server not ready")


async def send(
    url: str, requests: int, clients: int, run: int
) -> tuple[collections.Counter[int], list[int], list[str], float]:
    statuses: collections.Counter[int] = collections.Counter()
    ids: list[int] = []
    bodies: list[str] = []
    queue = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        start = time.perf_counter()

        async def worker() -> None:
            for n in queue:
                try:
                    r = await client.post("/projects", json={"name": f"load {run} {n}"})
                except httpx.HTTPError as e:
                    statuses[-1] += 1
                    bodies.append(f"{time.perf_counter() - start:.1f} s: {e!r}")
                    continue
                statuses[r.status_code] += 1
                if r.status_code == 201:
                    ids.append(r.json()["id"])
                else:
                    bodies.append(r.text)

        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return statuses, ids, bodies, elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--uvicorn-arg", action="append", default=[], help="passed to uvicorn")
    parser.add_argument("--keep-log", type=Path, help="append the server's log here")
    args = parser.parse_args()
    app = args.app.resolve()
    package = next(p.name for p in (app / "src").iterdir() if (p / "main.py").exists())
    failed = 0
    for run in range(args.runs):
        with (
            tempfile.TemporaryDirectory() as tmp,
            (Path(tmp) / "server.log").open("w+b") as log,
        ):
            db = Path(tmp) / "load.db"
            env = os.environ | {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
            subprocess.run(
                [str(app / ".venv/bin/alembic"), "upgrade", "head"],
                cwd=app,
                env=env,
                check=True,
                capture_output=True,
            )
            port = free_port()
            proc = subprocess.Popen(
                [
                    str(app / ".venv/bin/uvicorn"),
                    "--workers",
                    str(args.workers),
                    "--factory",
                    f"{package}.main:create_app",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    *args.uvicorn_arg,
                ],
                cwd=app,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                asyncio.run(wait_ready(url, proc))
                statuses, ids, bodies, elapsed = asyncio.run(
                    send(url, args.requests, args.clients, run)
                )
            finally:
                proc.terminate()
                proc.wait(30)
            with sqlite3.connect(db) as connection:
                stored = {row[0] for row in connection.execute("SELECT id FROM projects")}
            lost = [i for i in ids if i not in stored]
            log.seek(0)
            if args.keep_log:
                with args.keep_log.open("ab") as kept:
                    kept.write(log.read())
                log.seek(0)
            errors = collections.Counter(
                m.group(0) for m in re.finditer(rb"OperationalError[^\n\[]*", log.read())
            )
            fivexx = sum(c for s, c in statuses.items() if s >= 500 or s < 0)
            failed += bool(fivexx or lost)
            print(
                f"run {run}: {dict(sorted(statuses.items()))} in {elapsed:.1f} s; "
                f"5xx {fivexx}; 201 ids not in database {len(lost)}; rows {len(stored)}; "
                f"server errors {dict(errors)}",
                flush=True,
            )
            for body, count in collections.Counter(bodies).most_common(3):
                print(f"    {count}x {body[:200]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
