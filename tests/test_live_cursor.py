"""The resume point's encoding (convoproject.live.cursor): what it carries
comes back, and anything the server did not make is refused."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convoproject.live.cursor import BadCursor, Cursor

positions = st.dictionaries(st.uuids(), st.integers(min_value=0, max_value=2**63 - 1), max_size=100)


@given(namespace_id=st.integers(min_value=1, max_value=2**31), positions=positions)
def test_a_cursor_comes_back_as_it_was(namespace_id, positions):
    decoded = Cursor.decode(Cursor(namespace_id, positions).encode())
    assert (decoded.namespace_id, decoded.positions) == (namespace_id, positions)
    assert decoded.issued_at > 0


def test_it_is_compact():
    assert len(Cursor(7, {uuid.uuid4(): 123_456}).encode()) <= 48
    assert len(Cursor(7, {uuid.uuid4(): 10**9 for _ in range(100)}).encode()) < 2_900


@given(data=st.data())
def test_any_change_to_an_id_is_refused(data):
    text = Cursor(3, {uuid.uuid4(): 42, uuid.uuid4(): 7}).encode()
    at = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    changed = text[:at] + replacement + text[at + 1 :]
    if changed == text:
        return
    with pytest.raises(BadCursor):
        decoded = Cursor.decode(changed)
        # base64's last character may carry unused bits: then nothing changed
        if decoded.positions == Cursor.decode(text).positions:
            raise BadCursor("same")


@pytest.mark.parametrize("text", ["", "x", "====", "é", "A" * 5000, "AQ", Cursor(1, {}).encode()[:-1]])
def test_garbage_is_refused(text):
    with pytest.raises(BadCursor):
        Cursor.decode(text)


def test_another_secret_key_makes_other_ids(settings):
    text = Cursor(1, {uuid.uuid4(): 1}).encode()
    settings.SECRET_KEY = "another secret key, another service"
    with pytest.raises(BadCursor):
        Cursor.decode(text)
