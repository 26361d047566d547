"""Logging filters for settings.LOGGING."""

import logging


class OneLineWarning(logging.Filter):
    """Logs a record as one WARNING line, without its traceback.

    For django.security.DisallowedHost: Django logs a Host header outside
    ALLOWED_HOSTS as an ERROR with the exception's traceback, 13 lines for
    what is routine internet noise (scanners, requests by IP address). The
    message (which names the host) is all that is worth keeping; the request
    is still answered with the 400 envelope."""

    def filter(self, record):
        record.exc_info = record.exc_text = record.stack_info = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True
