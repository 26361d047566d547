"""`make run` on another port: PORT=8001 make run serves there, and what
dev_setup prints (the admin, demo and curl URLs) names that port."""

import io
import os
import re
import shutil
import subprocess

import pytest
from django.core.management import CommandError, call_command

from convoproject.tenants.management.commands import dev_setup
from tests.support.rpc import Rpc
from tests.support.server import ROOT


@pytest.fixture
def dev(settings, tmp_path, monkeypatch):
    """CONVO_DEV=1, and the dev key kept in a temporary file (not the checkout's .dev-api-key)."""
    settings.DEVELOPMENT = True
    monkeypatch.setattr(dev_setup, "KEY_FILE", tmp_path / ".dev-api-key")


def run_dev_setup(**options):
    out = io.StringIO()
    call_command("dev_setup", stdout=out, **options)
    return out.getvalue()


def test_dev_setup_prints_urls_on_the_port_given(db, dev, client):
    printed = run_dev_setup(port=8001)
    urls = re.findall(r"http://[^\s]+", printed)
    assert urls == [
        "http://127.0.0.1:8001/admin/",
        "http://127.0.0.1:8001/demo/",
        "http://127.0.0.1:8001/protobuf/Streams/CreateConversation",
    ], printed
    key = re.search(r"API key for namespace 'micro': (\S+)", printed).group(1)
    assert f"Bearer {key}" in printed
    created = Rpc(client, key=key).ok("Streams/CreateConversation", {"group_id": "g1", "topic": "Hello"})
    assert created["conversation"]["topic"] == "Hello"


def test_dev_setup_defaults_to_port_8000_and_keeps_its_key(db, dev):
    first = run_dev_setup()
    assert "http://127.0.0.1:8000/admin/" in first and "http://127.0.0.1:8000/demo/" in first
    assert run_dev_setup(port=9000).replace(":9000/", ":8000/") == first  # the same key and login


def test_dev_setup_refuses_without_the_dev_flag(db, settings):
    settings.DEVELOPMENT = False
    with pytest.raises(CommandError, match="CONVO_DEV=1"):
        run_dev_setup(port=8001)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(("port", "expected"), [(None, "8000"), ("8001", "8001")])
def test_make_run_passes_port_to_dev_setup_and_the_server(port, expected):
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    if port:
        env["PORT"] = port
    # -n: what `make run` would run, without running it.
    result = subprocess.run(["make", "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    commands = result.stdout.splitlines()
    assert any(line.endswith(f"manage.py dev_setup --port {expected}") for line in commands), result.stdout
    # The server (uvicorn, Makefile), its command continued over lines.
    command = " ".join(result.stdout.replace("\\\n", " ").split())
    assert f"-m uvicorn convoproject.asgi:application --host 127.0.0.1 --port {expected} " in command, result.stdout
