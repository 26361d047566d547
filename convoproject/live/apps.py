from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "convoproject.live"
    label = "live"
    verbose_name = "Live updates"
