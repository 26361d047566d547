"""Django's SQLite backend, with the writers of one database queued before
`BEGIN IMMEDIATE` (settings.database_from_env sets this ENGINE for SQLite).

A writer that finds SQLite's write lock taken sleeps in SQLite's busy
handler (1, 2, 5, 10, ... up to 100 ms between retries), so under many
writers some wait hundreds of milliseconds while others get through. Here a
writer first takes this process's lock for the database file (one writer
per process goes on, the others wait their turn in the order they came:
HandOverLock), then an flock on
`<database>-writer.lock` (one writer of all processes: the kernel wakes the
next waiter as soon as the holder lets go). SQLite's lock is then free
(unless a process outside this scheme writes), and BEGIN IMMEDIATE gets it
at once. Both locks are held until COMMIT, ROLLBACK or close, and waits are
bounded by the connection's `timeout`: past it the transaction fails as
SQLite's own "database is locked" does (OperationalError, a 503 envelope).

Only the outermost atomic block starts a transaction here (inner ones are
savepoints), and only in IMMEDIATE or EXCLUSIVE mode, where every
transaction writes; autocommit statements take no lock.
"""

import collections
import contextlib
import fcntl
import os
import threading
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base, creation

DEFAULT_TIMEOUT = 5.0  # seconds, sqlite3.connect's default


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name, verbosity):
        super()._destroy_test_db(test_database_name, verbosity)
        # A test database's lock file goes with it (a file of its own per test run).
        if not self.is_in_memory_db(test_database_name):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{test_database_name}-writer.lock")


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation
    _writer_lock = None  # the WriterLock this connection holds, if any

    def _start_transaction_under_autocommit(self):
        if self.transaction_mode in {"IMMEDIATE", "EXCLUSIVE"} and not self.is_in_memory_db():
            timeout = self.settings_dict["OPTIONS"].get("timeout", DEFAULT_TIMEOUT)
            lock = writer_lock(os.path.abspath(self.settings_dict["NAME"]))
            lock.acquire(timeout)
            self._writer_lock = lock
            try:
                super()._start_transaction_under_autocommit()
            except BaseException:
                self._release_writer_lock()
                raise
        else:
            super()._start_transaction_under_autocommit()

    def _release_writer_lock(self):
        lock, self._writer_lock = self._writer_lock, None
        if lock is not None:
            lock.release()

    # Released whatever happens: after a failed COMMIT the transaction ends
    # at once anyway (transaction.Atomic rolls back or closes).
    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()


class HandOverLock:
    """A lock handed to its waiters in the order they came. threading.Lock
    lets a thread that arrives while the woken waiter is still waiting for the
    GIL take it first, again and again under load; here release() gives the
    lock to the longest waiter, who alone can go on."""

    def __init__(self):
        self.mutex = threading.Lock()
        self.held = False
        self.waiters = collections.deque()  # a locked Lock per waiting thread, released to hand over

    def acquire(self, timeout):
        with self.mutex:
            if not self.held:
                self.held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self.waiters.append(turn)
        try:
            got = turn.acquire(timeout=timeout)
        except BaseException:  # interrupted (Ctrl-C in a shell)
            if not self._leave(turn):
                self.release()  # it was ours already: to the next one, or no one would ever release it
            raise
        if not got and not self._leave(turn):
            got = True  # handed over as the wait timed out: ours all the same
        return got

    def _leave(self, turn):
        """Take `turn` out of the queue; False if it was handed the lock first."""
        with self.mutex:
            if turn in self.waiters:
                self.waiters.remove(turn)
                return True
            return False

    def release(self):
        with self.mutex:
            if self.waiters:
                self.waiters.popleft().release()  # still held, by the next one now
            else:
                self.held = False

    def locked(self):
        return self.held


class WriterLock:
    """The writers' lock of one database file in this process: a
    HandOverLock, then an flock held for all processes. A blocking flock
    cannot be given up after a timeout, so it is waited for in a helper
    thread (one per process and database, started on the first contended
    wait) while the writer waits on a condition with its timeout; a writer
    that gives up leaves the helper's flock, when it comes, to the next
    writer of this process, or has it released."""

    def __init__(self, name):
        self.threads = HandOverLock()
        self.path = f"{name}-writer.lock"
        self.fd = None
        self.cond = threading.Condition(threading.Lock())
        self.wanted = False  # a writer waits for the helper's flock
        self.pending = False  # the helper is (about to be) in a blocking flock
        self.granted = False  # the helper got it for the waiting writer
        self.helper = None
        self.pid = os.getpid()

    def acquire(self, timeout):
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout):
            raise OperationalError("database is locked (waited for this process's writers)")
        try:
            self._flock(deadline)
        except BaseException:
            self.threads.release()
            raise

    def release(self):
        if os.getpid() != self.pid:
            return  # forked while held: the parent's to release (see _forget_locks)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.threads.release()

    def _flock(self, deadline):
        # Only the holder of self.threads gets here: one caller at a time.
        with self.cond:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            # Not while the helper waits: the flock it gets is the same open
            # file's, which a non-blocking flock here would take as ours.
            if not self.pending:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    pass
                self.pending = True
                if self.helper is None:
                    self.helper = threading.Thread(target=self._wait_for_flock, name="sqlite-writer-lock", daemon=True)
                    self.helper.start()
            self.wanted = True
            self.cond.notify_all()
            got = False
            try:
                got = self.cond.wait_for(lambda: self.granted, timeout=max(0.0, deadline - time.monotonic()))
            finally:
                if self.granted and not got:  # interrupted as it came: no one would release it
                    fcntl.flock(self.fd, fcntl.LOCK_UN)
                self.wanted = self.granted = False
            if got:
                return
        raise OperationalError("database is locked (waited for other processes' writers)")

    def _wait_for_flock(self):
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.pending)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            except OSError:  # not expected; its writer times out, the next one tries anew
                with self.cond:
                    self.pending = False
                continue
            with self.cond:
                self.pending = False
                if self.wanted:
                    self.granted = True
                    self.cond.notify_all()
                else:  # its writer gave up
                    fcntl.flock(self.fd, fcntl.LOCK_UN)


_locks = {}
_locks_lock = threading.Lock()


def writer_lock(name):
    try:
        return _locks[name]
    except KeyError:
        with _locks_lock:
            return _locks.setdefault(name, WriterLock(name))


def _forget_locks():
    # A forked child has none of its parent's threads: a lock one of them
    # held would never be released there, and an inherited flock file would
    # be the parent's own open file (no exclusion between the two).
    global _locks, _locks_lock
    _locks, _locks_lock = {}, threading.Lock()


os.register_at_fork(after_in_child=_forget_locks)
