"""Reports on a live stream (CONTRACT 9, 10): the threshold's hiding, a
dismissal that shows the message again and a confirmation that hides it
arrive as `message_removed` and `message` events, in commit order."""

import pytest

from convoproject.moderation import reports
from convoproject.tenants.models import Namespace
from streams import services
from streams.models import Message
from tests.support import factories
from tests.support.live import live_session, run

pytestmark = pytest.mark.django_db(transaction=True)


def test_report_outcomes_arrive_live(micro_key, admin_user):
    micro = factories.ns("micro")
    Namespace.objects.filter(pk=micro.pk).update(auto_hide_threshold=2)
    micro.refresh_from_db()
    conversation = services.create_conversation(micro, group_id="g", topic="t")

    def report(message, reporter):
        return services.report_message(micro, message_id=message.id, reporter_id=reporter, reason="spam")

    def only(message):
        return Message.objects.filter(pk=message.pk)

    async def body():
        async with live_session() as live:
            stream = await live.open(micro_key, conversation_ids=[conversation.id])
            message = await live.db(
                services.create_message, micro, conversation_id=conversation.id, author_id="sam", text="x"
            )
            await live.db(report, message, "rita")
            await live.db(report, message, "tom")  # the threshold: hidden at once
            await live.db(reports.dismiss_reports, only(message), actor=admin_user, reason="a pile-on")
            await live.db(report, message, "ann")
            await live.db(reports.confirm_reports, only(message), actor=admin_user, reason="spam after all")
            events = await stream.take(4)
            removed = {"id": str(message.id), "conversation_id": str(conversation.id)}
            assert [(e.type, e.data if e.type == "message_removed" else e.data["message"]["id"]) for e in events] == [
                ("message", str(message.id)),
                ("message_removed", removed),
                ("message", str(message.id)),
                ("message_removed", removed),
            ]
            assert await stream.quiet(0.5) == []

    run(body)
