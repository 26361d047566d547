"""Live updates (CONTRACT 9): the event log, what writers publish to it, and
GET /events, which streams it to clients. See docs/ARCHITECTURE.md."""
