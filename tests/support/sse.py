"""A Server-Sent Events client over a real socket, for the tests that hold
streams on server processes (tests/test_live_servers.py). A thread reads the
stream into a queue of Event(id, type, data); `close()` shuts the socket, as
a browser closing its tab does."""

import contextlib
import http.client
import json
import queue
import socket
import threading
import urllib.parse
from dataclasses import dataclass


@dataclass
class Event:
    id: str | None
    type: str
    data: object


class SSE:
    def __init__(self, base_url, key, *, conversation_ids=(), chat_ids=(), last_event_id=None, timeout=30):
        url = urllib.parse.urlsplit(base_url)
        params = [("conversation_id", str(c)) for c in conversation_ids] + [("chat_id", str(c)) for c in chat_ids]
        headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        self.connection.request("GET", "/events?" + urllib.parse.urlencode(params), headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.events = queue.Queue()
        self.comments = 0
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = json.loads(self.response.read())

    def _read(self):
        fields = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if "event" in fields:
                        self.events.put(Event(fields.get("id"), fields["event"], json.loads(fields["data"])))
                    fields = {}
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    name, _, value = line.partition(": ")
                    fields[name] = value
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed: by close() (http.client then reads a closed file), or by the server
        finally:
            self.events.put(None)

    def next(self, timeout=10) -> Event:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s") from None
        if event is None:
            self.events.put(None)
            raise EOFError("the stream ended")
        return event

    def close(self):
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.connection.close()
