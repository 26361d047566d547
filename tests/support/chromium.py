"""Debian's Chromium (/usr/bin/chromium), driven by Playwright from PyPI: no
browser download. Browser tests do their ORM work before and after their
Playwright block, never inside it (Django refuses the ORM while Playwright's
event loop runs in the thread)."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# The flags the machine's probe ran Debian's chromium with: as root it needs
# --no-sandbox, and the closed network refuses its background connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def launch_chromium(playwright):
    """A headless Chromium; fails (never skips) when it is not installed."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} not found: this test drives Debian's chromium. Install it as root with "
            "`apt-get update && apt-get install -y chromium` (.ci/run does this in CI).",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def is_closed_stream(failure, base):
    """Whether a line of a page's failed requests ("METHOD URL: reason", as the
    browser tests log them) is an /events stream of `base` that ended early:
    Chromium reports every EventSource the page closed (net::ERR_ABORTED) as a
    failed request, and a stream cut by a server's restart too."""
    return failure.startswith(f"GET {base}/events?") and " net::ERR_" in failure


def watch(page):
    """What a page logs, fails and requests, in page.log."""
    log = {"console": [], "page_errors": [], "requests": [], "failed": []}
    page.on("console", lambda m: log["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: log["page_errors"].append(str(e)))
    page.on("request", lambda r: log["requests"].append(f"{r.method} {r.url}"))
    page.on("requestfailed", lambda r: log["failed"].append(f"{r.method} {r.url}: {r.failure}"))
    page.log = log
    return page


def admin_login(page, base, username, password):
    """Log in with the admin's own form, as a person does."""
    from playwright.sync_api import expect

    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)
