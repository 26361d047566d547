from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from convoproject.live import channels

        from .models import Conversation, Message
        from .serializers import render_message, render_message_rows

        channels.register(
            channels.Channel(
                message_model=Message,
                parent_model=Conversation,
                parent_key="conversation_id",
                query_parameter="conversation_id",
                deleted_type="conversation_deleted",
                render_message=render_message,
                message_rows=render_message_rows,
            )
        )
