"""RFC 3339 timestamps in the protobuf JSON style (CONTRACT 3)."""

import datetime
import re

UTC = datetime.UTC
RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_EARLIEST = datetime.datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.datetime.max.replace(tzinfo=UTC)


def format_timestamp(value):
    """Always UTC, `Z`, exactly six fractional digits, four of the year. A
    naive value is UTC: SQLite's driver hands sent_at back so. isoformat costs
    a third of strftime (every message of every page), and writes year 1 as
    "0001" where strftime wrote "1"."""
    text = value.isoformat(timespec="microseconds")
    if value.tzinfo is None:
        return text + "Z"
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_timestamp(text):
    """An aware UTC datetime, or ValueError. Sub-microsecond digits round up to
    the next microsecond, so that "strictly before" keeps its meaning."""
    match = RFC3339.fullmatch(text)
    if not match:
        raise ValueError("not an RFC 3339 timestamp with an offset")
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    if int(off_h or 0) > 23 or int(off_m or 0) > 59:
        raise ValueError("offset out of range")
    nanos = int((fraction or "").ljust(9, "0"))
    micros = -(-nanos // 1000)  # ceiling
    offset = datetime.timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
    if sign == "-":
        offset = -offset
    # datetime() itself rejects impossible dates and times (Feb 30, 24:00, :60).
    local = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    try:
        return (local - offset + datetime.timedelta(microseconds=micros)).replace(tzinfo=UTC)
    except OverflowError:
        # Valid text whose instant lies past datetime's range: before or after everything.
        return _EARLIEST if local.year == 1 else _LATEST
