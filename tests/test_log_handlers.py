"""The console handler (convoproject/log_handlers.py): records written by a
thread of its own, in order, none lost at close or exit, also in a forked
child."""

import io
import logging
import subprocess
import sys
import threading

from convoproject.log_handlers import QueuedStreamHandler
from tests.support.server import ROOT


def test_records_of_many_threads_are_all_written_each_threads_in_order():
    stream = io.StringIO()
    handler = QueuedStreamHandler(stream)
    logger = logging.Logger("queued-test")
    logger.addHandler(handler)

    def log_lines(thread):
        for n in range(500):
            logger.warning("thread %d line %d", thread, n)

    threads = [threading.Thread(target=log_lines, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.close()  # writes what is still queued
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2000
    for t in range(4):
        assert [line for line in lines if line.startswith(f"thread {t} ")] == [
            f"thread {t} line {n}" for n in range(500)
        ]


def test_a_traceback_is_formatted_by_the_thread_that_logs():
    stream = io.StringIO()
    handler = QueuedStreamHandler(stream)
    logger = logging.Logger("queued-test")
    logger.addHandler(handler)
    try:
        raise ValueError("the cause")
    except ValueError:
        logger.exception("it failed")
    handler.close()
    text = stream.getvalue()
    assert text.startswith("it failed\nTraceback (most recent call last):")
    assert "ValueError: the cause" in text


SCRIPT = """
import logging, logging.config, os, sys
handler = {"class": "convoproject.log_handlers.QueuedStreamHandler"}
root = {"handlers": ["console"], "level": "INFO"}
logging.config.dictConfig({"version": 1, "handlers": {"console": handler}, "root": root})
log = logging.getLogger("script")
log.info("parent before fork")
child = os.fork()
if child == 0:
    log.info("child line")
    sys.exit(0)
os.waitpid(child, 0)
log.info("parent's last line")
"""


def test_a_forked_child_and_the_exiting_parent_lose_no_line():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr.splitlines() == ["parent before fork", "child line", "parent's last line"]
