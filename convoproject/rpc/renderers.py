"""The RPCs' JSON renderer: DRF's JSONRenderer's bytes, written by orjson.

DRF's renderer goes through json.dumps with its own encoder, about ten
times orjson's cost on a page of messages (docs/PERFORMANCE.md). The output
is the same: compact, UTF-8 (no ASCII escapes), U+2028 and U+2029 escaped as
DRF escapes them for JavaScript, empty for None; tests/test_wire.py holds
the two equal. The RPCs' answers hold only str, int, bool, None, lists and
dicts (convoproject.rpc.render); a lazy translation string becomes its text.
"""

import orjson
from django.http import HttpResponse
from django.utils.functional import Promise
from rest_framework.renderers import BaseRenderer

_LINE_SEPARATORS = (("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))


def _default(value):
    if isinstance(value, Promise):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value of an RPC answer")


def dumps(data) -> bytes:
    """`data` as DRF's JSONRenderer writes it."""
    text = orjson.dumps(data, default=_default)
    for raw, escaped in _LINE_SEPARATORS:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


class JSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None  # UTF-8 is JSON's encoding: no charset parameter, as DRF's

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b"" if data is None else dumps(data)


def json_response(data) -> HttpResponse:
    """An RPC's answer (RpcView.post): JSONRenderer's bytes in a plain
    HttpResponse, which DRF's view finishes as it would its own Response
    (the same headers). A Response would write the same bytes after
    building a template response and a renderer context for them: 3.9 % of
    a read's instructions (docs/PERFORMANCE.md)."""
    return HttpResponse(JSONRenderer().render(data), content_type=JSONRenderer.media_type)
