"""The console handler of settings.LOGGING: stderr, written by a thread of its own.

A StreamHandler writes and flushes under its lock in the thread that logs.
With one log line per request (convoproject.rpc.request_log) from 4 request
threads per process, the threads queued on that lock, each woken in turn
(the GIL handed back and forth): measured, the request log cost a read RPC
more CPU than its SQL and its rendering together (docs/PERFORMANCE.md). Here
the request thread formats its record and puts it on a queue; one listener
thread per process (the standard library's QueueListener) writes them in
order. Records still queued when the process exits normally are written
(atexit); a process killed outright loses its last few milliseconds.
"""

import atexit
import logging
import logging.handlers
import os
import queue
import threading


class QueuedStreamHandler(logging.handlers.QueueHandler):
    def __init__(self, stream=None):
        super().__init__(queue.SimpleQueue())
        self.target = logging.StreamHandler(stream)
        self._listener = None
        self._listener_pid = None
        self._starting = threading.Lock()

    def enqueue(self, record):
        if self._listener_pid != os.getpid():
            self._start_listener()
        super().enqueue(record)

    def _start_listener(self):
        """On the first record of this process: a forked child gets a queue and
        a listener of its own (the parent's thread did not come along)."""
        with self._starting:
            if self._listener_pid == os.getpid():
                return
            self.queue = queue.SimpleQueue()
            self._listener = logging.handlers.QueueListener(self.queue, self.target)
            self._listener.start()
            self._listener_pid = os.getpid()
            atexit.register(self._stop_listener)

    def _stop_listener(self):
        """Write what is queued, then end the listener (once; only this process's)."""
        with self._starting:
            listener, self._listener = self._listener, None
        if listener is not None and self._listener_pid == os.getpid():
            listener.stop()

    def close(self):
        self._stop_listener()
        super().close()
