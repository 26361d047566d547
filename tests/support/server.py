"""gunicorn in a subprocess: the one way the tests and the bench boot the service.

`Server` runs convoproject under gunicorn as `make serve` does (its uvicorn
workers, convoproject.asgi.Worker: /events on Django's ASGI handler, the other
paths on the WSGI app in `threads` threads per worker) on a free port of
127.0.0.1 with the production settings (DJANGO_PRODUCTION=1, DEBUG off, a
SECRET_KEY made for this process, no rate limit) against a DATABASE_URL. A context manager:
booted, every worker started and /healthz answering 200 on entry; stopped on
exit (SIGTERM to its process group, then SIGKILL). Its output (gunicorn's
messages and one JSON line per request) goes to `log_path`, which
`log_tail()` and `log_problems()` read.

Users: `manage.py bench` (which also reads the CPU time of the workers and of
their PostgreSQL backends from /proc: `cpu_sample()`), `manage.py loadtest`
and bench/load.py, and the tests that need a real server (tests/test_load.py,
test_abuse.py, test_faults.py, test_production.py).

It serves convoproject's own settings, unless `env` names others (the bench
passes DJANGO_SETTINGS_MODULE=bench.settings to mount its floor views).

`database_url(settings_dict)` is how such a server finds the database of this
process (e.g. pytest's test database); `production_env()` is its environment,
for manage.py commands run beside it too.
"""

import contextlib
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import django.db

ROOT = Path(__file__).resolve().parents[2]  # manage.py's directory
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Not passed on from this process: DEBUG would keep every query in memory, a
# rate limit would answer 429s, the dev flag prints logins; a SECRET_KEY is made.
NOT_INHERITED = ("DJANGO_DEBUG", "CONVO_DEV", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "RATE_LIMIT_PER_MINUTE")
# One for every server this process boots: the app servers of one deployment
# share theirs (what one signs, e.g. a stream's resume point, another accepts).
SECRET_KEY = secrets.token_urlsafe(50)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(settings_dict, *, application_name=None):
    """A DATABASE_URL (as settings.py reads it) for a Django database settings
    dict: how a subprocess finds the same database, e.g. pytest's test
    database. On PostgreSQL the query parameters of this process's own
    DATABASE_URL are kept, and `application_name` names the connections."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return "sqlite:///" + str(Path(settings_dict["NAME"]).resolve())
    if "postgresql" not in engine:
        raise ValueError(f"No DATABASE_URL for the engine {engine} (SQLite and PostgreSQL only)")

    def quote(value):
        return urllib.parse.quote(str(value), safe="")

    user, password = settings_dict.get("USER") or "", settings_dict.get("PASSWORD") or ""
    auth = f"{quote(user)}{':' + quote(password) if password else ''}@" if user or password else ""
    host = settings_dict.get("HOST") or ""
    host = f"[{host}]" if ":" in host else quote(host)
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    given = urllib.parse.urlsplit(os.environ.get("DATABASE_URL", ""))
    query = urllib.parse.parse_qsl(given.query) if given.scheme.startswith("postgres") else []
    if application_name:
        query = [(k, v) for k, v in query if k != "application_name"] + [("application_name", application_name)]
    query = f"?{urllib.parse.urlencode(query)}" if query else ""
    return f"postgres://{auth}{host}{port}/{quote(settings_dict['NAME'])}{query}"


def production_env(database_url, *, static_root, ssl_redirect=False, **extra):
    """This process's environment as a production process on `database_url`
    gets it: DJANGO_PRODUCTION=1, this process's SECRET_KEY, HTTPS redirect only with
    `ssl_redirect` (plain HTTP on loopback otherwise). `extra` last; a None
    value removes a variable."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_PRODUCTION="1",
        SECRET_KEY=SECRET_KEY,
        SECURE_SSL_REDIRECT="1" if ssl_redirect else "0",
        STATIC_ROOT=str(static_root),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


class Server:
    """gunicorn serving convoproject on 127.0.0.1:`port` against `database_url`.

    workers, threads, timeout, keep_alive (None: gunicorn's) are gunicorn's
    options; `env` adds to (or, with None values, removes from)
    production_env(); `static_root` and `log_path` default to a temporary
    directory; boot_timeout bounds the start. The port and `env` are known
    from the start, before the server runs; `start()`/`stop()` do what
    entering and leaving do."""

    LOG_PROBLEMS = re.compile(
        r"Traceback|WORKER TIMEOUT|\[CRITICAL\]|\[ERROR\]|unhandled error|database unavailable|Internal Server Error"
    )

    def __init__(
        self,
        database_url,
        *,
        workers=4,
        threads=4,
        timeout=30,
        keep_alive=None,
        log_path=None,
        static_root=None,
        ssl_redirect=False,
        env=None,
        boot_timeout=60,
        stop_timeout=25,
    ):
        self.database_url, self.workers, self.threads = database_url, workers, threads
        self.timeout, self.keep_alive = timeout, keep_alive
        self.boot_timeout, self.stop_timeout = boot_timeout, stop_timeout
        self._tmp = None if log_path and static_root else Path(tempfile.mkdtemp(prefix="convo-gunicorn-"))
        self.log_path = Path(log_path) if log_path else self._tmp / "gunicorn.log"
        static_root = static_root or self._tmp / "static"
        self.env = production_env(database_url, static_root=static_root, ssl_redirect=ssl_redirect, **(env or {}))
        self.static_root = Path(self.env["STATIC_ROOT"])
        self.host, self.port = "127.0.0.1", free_port()
        self.base_url = f"http://{self.host}:{self.port}"
        self.process = None

    def command(self):
        keep_alive = ("--keep-alive", str(self.keep_alive)) if self.keep_alive is not None else ()
        return [
            # `make serve`'s layout (tests/test_serving.py checks that the two agree).
            *(sys.executable, "-m", "gunicorn", "convoproject.asgi:application"),
            *("--bind", f"{self.host}:{self.port}", "--workers", str(self.workers)),
            *("--threads", str(self.threads), "--worker-class", "convoproject.asgi.Worker"),
            *("--timeout", str(self.timeout), "--graceful-timeout", "20", *keep_alive, "--error-logfile", "-"),
            "--no-control-socket",  # not the one shared path ~/.gunicorn/gunicorn.ctl of every gunicorn
        ]

    def start(self):
        self.static_root.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self.wait_until_healthy(self.boot_timeout, booting=True)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """SIGTERM to the process group (workers finish, connections close), then SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=self.stop_timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    __enter__ = start

    def __exit__(self, *exc):
        self.stop()

    def wait_until_healthy(self, seconds, *, booting=False):
        """Seconds until GET /healthz answered 200 (polled every 0.1 s), and,
        when `booting`, every worker has started. 503 (the database is
        unavailable) is waited out, unless `booting`; any other answer, the
        server's exit or the deadline raise RuntimeError with the log's tail."""
        start = time.monotonic()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
                try:
                    connection.request("GET", "/healthz")
                    response = connection.getresponse()
                    status, body = response.status, response.read()
                finally:
                    connection.close()
                if status == 200 and (not booting or self.all_workers_started()):
                    return time.monotonic() - start
                if status != 200 and (booting or status != 503):
                    raise RuntimeError(f"/healthz answered {status}: {body[:300]!r}\n{self.log_tail()}")
            if time.monotonic() - start > seconds:
                raise RuntimeError(f"gunicorn was not healthy within {seconds} s:\n{self.log_tail()}")
            time.sleep(0.1)

    # ------------------------------------------------------------ the log

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_problems(self):
        """The log's lines that tell of a crash, a worker timeout or a database error."""
        return [line for line in self.log_text().splitlines() if self.LOG_PROBLEMS.search(line)]

    # ------------------------------------------------------------ processes and their CPU time

    def worker_pids(self):
        """The pids of the workers (the master's children), from /proc."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in children.split()]

    def all_workers_started(self):
        if not Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").exists():
            return True  # no way to tell here: /healthz answering is all there is
        return len(self.worker_pids()) >= self.workers

    def database_pids(self):
        """The PostgreSQL backends serving the workers: their connections are
        found by the application_name in `database_url` (database_url(...,
        application_name=...)), through this process's Django connection."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.database_url).query)
        name = query.get("application_name", [None])[0]
        if not self.database_url.startswith("postgres") or not name:
            return []  # SQLite runs inside the workers
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
                [name],
            )
            return [row[0] for row in cursor.fetchall()]

    def cpu_sample(self):
        """{pid: CPU seconds} of the workers and the database backends serving them."""
        return {pid: seconds for pid in self.worker_pids() + self.database_pids() if (seconds := cpu_of(pid)) >= 0}

    @staticmethod
    def cpu_between(before, after):
        """CPU seconds used between two samples (a backend that came and went in between is missed)."""
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def cpu_of(pid):
    """User + system CPU seconds of a process, or -1 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return -1.0
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextlib.contextmanager
def serving(tmp_path, workers=2, **env):
    """A Server on this process's database (e.g. pytest's test database),
    its static files collected (the pages' icon, the admin's CSS); `env`
    adds to its environment. Its log must show no problem at the end."""
    url, static_root = database_url(django.db.connection.settings_dict), tmp_path / "static"
    server = Server(url, workers=workers, log_path=tmp_path / "server.log", static_root=static_root, env=env)
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    with server:
        yield server
    problems = server.log_problems()
    assert not problems, server.log_tail()
