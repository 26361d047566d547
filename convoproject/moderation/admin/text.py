"""Small text helpers of the moderation admin."""

import uuid


def parse_uuid(text):
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def excerpt(text, length=80):
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"
