"""The browser side: micro.js, the favicon, the login session as JSON, the home and demo pages."""

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_safe

from convoproject.tenants.models import Namespace

MICRO_JS = Path(__file__).resolve().parent / "assets" / "micro.js"
# The static file that the pages link as their icon (web/favicon.svg), also served at
# /favicon.ico, which browsers ask for anyway (on a JSON answer, say).
FAVICON = Path(__file__).resolve().parent / "static" / "web" / "favicon.svg"
FAVICON_MAX_AGE = 7 * 24 * 3600


def namespaces_of(user):
    """The namespaces a logged-in user may call the API in (CONTRACT 6)."""
    if not user.is_authenticated:
        return []
    names = Namespace.objects.all() if user.is_superuser else user.namespaces.all()
    return list(names.order_by("name").values_list("name", flat=True))


@require_GET
def micro_js(request):
    response = FileResponse(MICRO_JS.open("rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_safe
@cache_control(public=True, max_age=FAVICON_MAX_AGE)
def favicon(request):
    return FileResponse(FAVICON.open("rb"), content_type="image/svg+xml")


@require_GET
@never_cache
def session_info(request):
    """What micro.js asks before calling: is someone logged in, in which
    namespaces, and the CSRF token to send (this also sets the CSRF cookie)."""
    user = request.user
    return JsonResponse(
        {
            "authenticated": user.is_authenticated,
            "username": user.get_username() if user.is_authenticated else None,
            "namespaces": namespaces_of(user),
            "csrf_token": get_token(request),
        }
    )


def home(request):
    return render(request, "web/home.html", {"namespaces": namespaces_of(request.user)})


@login_required
def demo(request):
    return render(request, "web/demo.html", {"namespaces": namespaces_of(request.user)})
