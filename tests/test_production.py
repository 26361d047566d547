"""Production settings (DJANGO_PRODUCTION=1, what `make serve` sets): a clean
`manage.py check --deploy`, a required SECRET_KEY, and the admin's static
files and the favicon served by the app itself (whitenoise) under gunicorn,
which logs a Host outside ALLOWED_HOSTS in one line."""

import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support import server
from tests.support.server import ROOT, Server

MANAGE = [sys.executable, str(ROOT / "manage.py")]


def production_env(tmp_path, **extra):
    """The environment of `make serve` (DJANGO_PRODUCTION=1, HTTPS redirect on) on a new SQLite file."""
    return server.production_env(
        f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        static_root=tmp_path / "static",
        ssl_redirect=True,
        ALLOWED_HOSTS="convo.example.com,127.0.0.1",
        **extra,
    )


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


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url, headers=None, data=None):
    """(status, headers, body) of a GET (or a POST of `data`) that follows no redirect."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data, headers=headers or {}), timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


PASSWORD = "a-long-production-password-1"


def cookies(headers):
    """{name: the whole Set-Cookie line} of a response."""
    return {line.split("=", 1)[0]: line for line in headers.get_all("Set-Cookie") or []}


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn needs a POSIX system")
def test_gunicorn_serves_admin_static_files_healthz_and_secure_cookies(tmp_path):
    env = production_env(tmp_path, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    result = manage(env, "collectstatic", "--noinput")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "static" / "admin" / "css" / "base.css").is_file()
    favicon = tmp_path / "static" / "web" / "favicon.svg"
    assert favicon.is_file()
    for command in (["migrate", "--noinput"], ["createsuperuser", "--noinput", "--username", "admin", "--email", ""]):
        result = manage({**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}, *command)
        assert result.returncode == 0, result.stdout + result.stderr

    log_path = tmp_path / "gunicorn.log"
    with Server(
        env["DATABASE_URL"], workers=1, threads=2, log_path=log_path, ssl_redirect=True, env=env, boot_timeout=15
    ) as gunicorn:
        base = gunicorn.base_url
        status, _, body = get(f"{base}/healthz")
        # Plain HTTP health checks from a load balancer are not redirected.
        assert status == 200, body
        assert body == b'{"status": "ok"}'

        https = {"X-Forwarded-Proto": "https", "Host": "convo.example.com"}
        status, headers, body = get(f"{base}/static/admin/css/base.css", https)
        assert status == 200
        assert headers["Content-Type"].startswith("text/css")
        assert body == (tmp_path / "static" / "admin" / "css" / "base.css").read_bytes()
        assert "max-age=31536000" in headers["Strict-Transport-Security"]

        # The icon: the static file (from STATIC_ROOT), linked by the admin, and at /favicon.ico.
        status, headers, body = get(f"{base}/static/web/favicon.svg", https)
        assert (status, headers["Content-Type"], body) == (200, "image/svg+xml", favicon.read_bytes())
        status, headers, body = get(f"{base}/favicon.ico", https)
        assert (status, headers["Content-Type"], body) == (200, "image/svg+xml", favicon.read_bytes())
        assert headers["Cache-Control"] == "public, max-age=604800"

        # A login over HTTPS (as the balancer forwards it): the CSRF and
        # session cookies are Secure, the session's also HttpOnly.
        status, headers, body = get(f"{base}/admin/login/", https)
        assert status == 200
        assert b'<link rel="icon" href="/static/web/favicon.svg" type="image/svg+xml">' in body
        csrf_cookie = cookies(headers)["csrftoken"]
        assert "; Secure" in csrf_cookie
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
        form = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token})
        login_headers = {
            **https,
            "Cookie": csrf_cookie.split(";", 1)[0],
            "Referer": "https://convo.example.com/admin/login/",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        status, headers, _ = get(f"{base}/admin/login/?next=/admin/", login_headers, form.encode())
        assert status == 302, status
        session_cookie = cookies(headers)["sessionid"]
        assert "; Secure" in session_cookie and "; HttpOnly" in session_cookie

        # Anything else over plain HTTP goes to HTTPS.
        status, headers, _ = get(f"{base}/static/admin/css/base.css", {"Host": "convo.example.com"})
        assert status == 301
        assert headers["Location"] == "https://convo.example.com/static/admin/css/base.css"

        # A Host outside ALLOWED_HOSTS (a scanner, say): the 400 envelope.
        status, _, body = get(f"{base}/healthz", {**https, "Host": "scanner.example"})
        assert status == 400
        assert body == b'{"id":"BAD_REQUEST","code":400,"detail":"Bad request","status":"Bad Request"}'
        assert gunicorn.log_problems() == []
    # The request log went to the server's output, one JSON line per request.
    output = log_path.read_text(errors="replace")
    assert '"path":"/static/admin/css/base.css"' in output
    assert '"path":"/healthz"' in output
    # The bad Host is one line (no traceback), beside the request's own JSON line.
    assert [line for line in output.splitlines() if "scanner.example" in line] == [
        "Invalid HTTP_HOST header: 'scanner.example'. You may need to add 'scanner.example' to ALLOWED_HOSTS."
    ]
    assert "Traceback" not in output
    assert '"path":"/healthz","rpc":null,"namespace":null,"status":400' in output
