"""Resume points: the opaque event ids of CONTRACT 9.

An id says, for each conversation or chat of the stream that sent it, the
last event of that conversation or chat the client has been sent (an Event
id; 0 when none yet), with the namespace it was made for and when it was
made. One number per conversation or chat is exact because events of one
conversation or chat are committed in id order (convoproject.live.models);
one number for all of them would not be: on PostgreSQL an event of another
conversation may commit after a higher id was read.

Encoded compactly (a UUID and a varint per conversation or chat, about 46
characters for one, 2.8 KB for the maximum of 100) and signed with the
SECRET_KEY, so that an id the server did not make is INVALID_EVENT_ID.
"""

import base64
import functools
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.crypto import salted_hmac

VERSION = 1
MAC_BYTES = 8
_SALT = "convoproject.live.cursor"


class BadCursor(ValueError):
    pass


@dataclass
class Cursor:
    namespace_id: int
    # stream id -> the id of the last event of it the client was sent
    positions: dict[uuid.UUID, int] = field(default_factory=dict)
    issued_at: int = 0  # unix seconds

    def encode(self) -> str:
        out = bytearray([VERSION])
        _varint(out, self.namespace_id)
        _varint(out, int(time.time()))
        for stream_id, position in self.positions.items():
            out += stream_id.bytes
            _varint(out, position)
        out += _mac(bytes(out))
        return base64.urlsafe_b64encode(bytes(out)).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        """The Cursor of an id this server made, or BadCursor."""
        if not text or len(text) > 4096:
            raise BadCursor("not an event id")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            raise BadCursor("not an event id") from None
        body, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
        if len(raw) <= MAC_BYTES or not hmac.compare_digest(mac, _mac(body)) or body[0] != VERSION:
            raise BadCursor("not an event id made by this service")
        at = 1
        namespace_id, at = _read_varint(body, at)
        issued_at, at = _read_varint(body, at)
        positions = {}
        while at < len(body):
            if at + 16 > len(body):
                raise BadCursor("truncated")
            stream_id = uuid.UUID(bytes=body[at : at + 16])
            positions[stream_id], at = _read_varint(body, at + 16)
        return cls(namespace_id, positions, issued_at)


def _mac(body: bytes) -> bytes:
    """A keyed BLAKE2b of the body (a MAC by design, and cheaper than an
    HMAC: every event of every stream gets one), with a key derived from
    the SECRET_KEY once."""
    return hashlib.blake2b(body, key=_key(settings.SECRET_KEY), digest_size=MAC_BYTES).digest()


@functools.lru_cache(maxsize=4)
def _key(secret_key: str) -> bytes:
    return salted_hmac(_SALT, b"convoproject.live.cursor key", secret=secret_key, algorithm="sha256").digest()


def _varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _read_varint(body: bytes, at: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if at >= len(body) or shift > 63:
            raise BadCursor("truncated")
        byte = body[at]
        n |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return n, at
        shift += 7
