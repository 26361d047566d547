from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from convoproject.live import channels

        from .models import Chat, Message
        from .serializers import render_message, render_message_rows

        channels.register(
            channels.Channel(
                message_model=Message,
                parent_model=Chat,
                parent_key="chat_id",
                query_parameter="chat_id",
                deleted_type="chat_deleted",
                render_message=render_message,
                message_rows=render_message_rows,
            )
        )
