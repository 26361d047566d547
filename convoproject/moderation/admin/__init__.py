"""Django admin for moderators: the bases that Streams' and Chats' admins
share (MessageModerationAdmin, WithMessagesAdmin, the review queue's
ReviewQueueAdmin and the reports' ReportListAdmin), the confirmation pages
that tenants' admin reuses, and the read-only moderation log.

Every change goes through convoproject.moderation.services (the same
functions a person calls from `manage.py shell`), which records it.
Built for millions of messages: no full-table COUNT (CappedCountPaginator),
no date drill-down on messages (Django's passes over the whole selection;
the sent_at date filter runs no query of its own), related rows joined in
the list query, and every list ordering and filter served by an index
(convoproject.messaging.moderation_indexes). `manage.py admin_timings` (the
bench app) times these pages; docs/MODERATION_SCALE.md has the figures.
"""

from .forms import ReasonForm
from .log import ModerationEventAdmin
from .message_admin import MessageModerationAdmin
from .pages import action_carry, action_page
from .paginator import CappedCountPaginator
from .queue import ReviewQueueAdmin
from .report_admin import ReportListAdmin
from .text import excerpt
from .tokens import ModerationTokenAdmin
from .with_messages import WithMessagesAdmin

__all__ = [
    "CappedCountPaginator",
    "MessageModerationAdmin",
    "ModerationEventAdmin",
    "ModerationTokenAdmin",
    "ReasonForm",
    "ReportListAdmin",
    "ReviewQueueAdmin",
    "WithMessagesAdmin",
    "action_carry",
    "action_page",
    "excerpt",
]
