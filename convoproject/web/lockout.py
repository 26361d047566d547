"""What a login page answers once django-axes blocks a username from an
address (settings: AXES_*): 429 with Retry-After, in the site's own page."""

import math

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.shortcuts import render


def locked_out(request, original_response=None, credentials=None):
    seconds = get_cool_off(request).total_seconds()
    response = render(
        request,
        "registration/locked_out.html",
        {
            "username": get_client_username(request, credentials) or "",
            "failure_limit": get_failure_limit(request, credentials),
            "minutes": math.ceil(seconds / 60),
        },
        status=429,
    )
    response["Retry-After"] = str(math.ceil(seconds))
    return response
