"""The console handler of settings.LOGGING: stderr, written by a thread of its own.

A StreamHandler writes and flushes under its lock in the thread that logs.
With one log line per request (convoproject.rpc.request_log) from 4 request
threads per process, the threads queued on that lock, each woken in turn
(the GIL handed back and forth): measured, the request log cost a read RPC
more CPU than its SQL and its rendering together (docs/PERFORMANCE.md).

Here the request thread formats its record and appends the text to a queue,
and one writer thread per process wakes every WRITE_INTERVAL seconds and
writes whatever has queued in one write: no lock shared with other request
threads, and no thread woken per line (the standard library's QueueListener
wakes for each record, which still cost a read about a tenth of its
throughput). A line reaches stderr within WRITE_INTERVAL; records still
queued when the process exits normally are written (atexit, close()); a
process killed outright loses its last WRITE_INTERVAL of lines.
"""

import atexit
import logging
import os
import queue
import sys
import threading
import weakref

WRITE_INTERVAL = 0.05  # seconds


class QueuedStreamHandler(logging.Handler):
    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self._lines = queue.SimpleQueue()
        self._writer = None
        self._writer_pid = None
        self._stopping = threading.Event()
        self._starting = threading.Lock()
        # A fork (gunicorn's workers, tests) first writes what is queued: in
        # order, and not inherited by the child.
        flush = weakref.WeakMethod(self.flush)
        os.register_at_fork(before=lambda: (method := flush()) and method())

    def createLock(self):
        self.lock = None  # emit() shares nothing with other request threads

    def acquire(self):
        pass

    def release(self):
        pass

    def emit(self, record):
        try:
            line = self.format(record)  # in the logging thread: tracebacks and arguments as they are now
        except Exception:
            self.handleError(record)
            return
        if self._writer_pid != os.getpid():
            self._start_writer()
        self._lines.put(line)

    def _start_writer(self):
        """On the first record of this process: a forked child gets a queue and
        a writer of its own (the parent's thread did not come along)."""
        with self._starting:
            if self._writer_pid == os.getpid():
                return
            self._lines, self._stopping = queue.SimpleQueue(), threading.Event()
            self._writer = threading.Thread(target=self._write_until_stopped, name="log-writer", daemon=True)
            self._writer.start()
            self._writer_pid = os.getpid()
            atexit.register(self.close)

    def _write_until_stopped(self):
        stopping = self._stopping
        while not stopping.wait(WRITE_INTERVAL):
            self._write_queued()
        self._write_queued()

    def _write_queued(self):
        lines = []
        try:
            while True:
                lines.append(self._lines.get_nowait())
        except queue.Empty:
            pass
        if lines:
            stream = self.stream or sys.stderr
            try:
                stream.write("\n".join(lines) + "\n")
                stream.flush()
            except Exception:  # a closed or broken stderr: nothing better to do with the lines
                pass

    def flush(self):
        """Write what is queued now (from any thread)."""
        if self._writer_pid == os.getpid():
            self._write_queued()

    def close(self):
        with self._starting:
            writer, self._writer = self._writer, None
        if writer is not None and self._writer_pid == os.getpid():
            self._stopping.set()
            writer.join()
        super().close()
