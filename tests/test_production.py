"""Production settings (DJANGO_PRODUCTION=1, what `make serve` sets): a clean
`manage.py check --deploy`, a required SECRET_KEY, and the admin's static
files served by the app itself (whitenoise) under gunicorn."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
GUNICORN = [sys.executable, "-m", "gunicorn", "convoproject.wsgi:application"]
GUNICORN += ["--workers", "1", "--threads", "2", "--worker-class", "gthread", "--timeout", "30"]


def production_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_DEBUG", "CONVO_DEV", "SECRET_KEY"}}
    env.update(
        DJANGO_PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="convo.example.com,127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env, *args, timeout=60):
    return subprocess.run(
        [*MANAGE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_without_secret_key_fails_clearly(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = manage(env, "check", "--deploy")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DJANGO_PRODUCTION=1" in result.stderr


def test_without_the_production_flag_no_secret_key_is_needed(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"], env["DJANGO_PRODUCTION"]
    result = manage(env, "check")
    assert result.returncode == 0, result.stdout + result.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url, headers=None):
    """(status, headers, body) of a GET that follows no redirect."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn needs a POSIX system")
def test_gunicorn_serves_admin_static_files_and_healthz(tmp_path):
    env = production_env(tmp_path, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    result = manage(env, "collectstatic", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "static" / "admin" / "css" / "base.css").is_file()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [*GUNICORN, "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert server.poll() is None, log_path.read_text(errors="replace")
            try:
                status, _, body = get(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 15 s"
                time.sleep(0.1)
        # Plain HTTP health checks from a load balancer are not redirected.
        assert status == 200, body
        assert body == b'{"status": "ok"}'

        https = {"X-Forwarded-Proto": "https", "Host": "convo.example.com"}
        status, headers, body = get(f"{base}/static/admin/css/base.css", https)
        assert status == 200
        assert headers["Content-Type"].startswith("text/css")
        assert body == (tmp_path / "static" / "admin" / "css" / "base.css").read_bytes()
        assert "max-age=31536000" in headers["Strict-Transport-Security"]

        # Anything else over plain HTTP goes to HTTPS.
        status, headers, _ = get(f"{base}/static/admin/css/base.css", {"Host": "convo.example.com"})
        assert status == 301
        assert headers["Location"] == "https://convo.example.com/static/admin/css/base.css"
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
    # The request log went to the server's output, one JSON line per request.
    output = log_path.read_text(errors="replace")
    assert '"path":"/static/admin/css/base.css"' in output
    assert '"path":"/healthz"' in output
