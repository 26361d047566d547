"""The service's URLs and, after them, the floors (bench/floors.py) at
/bench-floor/{Service}/{Method}, /bench-floor/noop and /bench-floor/trip.
Only bench.settings mounts this URLconf."""

from bench.floors import urlpatterns as floor_urlpatterns
from convoproject.urls import handler400, handler403, handler404, handler500, urlpatterns

urlpatterns = [*urlpatterns, *floor_urlpatterns]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
