"""What the service writes to its log (settings.LOGGING) for routine noise.

A request whose Host is outside ALLOWED_HOSTS: Django logs it on
django.security.DisallowedHost as an ERROR with a traceback; the settings make
it one WARNING line. The real server's output is checked in
tests/test_production.py."""

import logging

from tests.support.rpc import assert_envelope

HOST_LOGGER = "django.security.DisallowedHost"


def test_a_host_outside_allowed_hosts_is_one_warning_line_without_traceback(client, db, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/healthz", headers={"Host": "scanner.example"})
    assert_envelope(response, 400, "BAD_REQUEST")

    records = [r for r in caplog.records if r.name == HOST_LOGGER]
    assert len(records) == 1, caplog.text
    (record,) = records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None and record.exc_text is None
    # As the console handler of settings.LOGGING writes it (no formatter of its own): one line.
    line = logging.StreamHandler().format(record)
    assert line == (
        "Invalid HTTP_HOST header: 'scanner.example'. You may need to add 'scanner.example' to ALLOWED_HOSTS."
    )
    assert "Traceback" not in caplog.text


def test_other_loggers_keep_their_tracebacks(caplog):
    """The filter is on that one logger: an error logged elsewhere with exc_info keeps it."""
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("django.security.SuspiciousOperation").error("kept", exc_info=True)
        logging.getLogger("convoproject.rpc").exception("kept too")
    assert [(r.levelno, r.exc_info is not None) for r in caplog.records] == [(logging.ERROR, True)] * 2
