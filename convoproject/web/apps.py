from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "convoproject.web"
    label = "web"
    verbose_name = "Browser client"
