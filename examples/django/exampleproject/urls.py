"""Two views: one that uses the database, one health check that never shows a value."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path

from runsecrets import SecretNotFoundError, Secrets


def whoami(request: HttpRequest) -> JsonResponse:
    """Which server process and role answered: a new ``pid`` means a new connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), current_user")
        pid, user = cursor.fetchone()
    return JsonResponse({"backend_pid": pid, "user": user})


def health(request: HttpRequest) -> JsonResponse:
    """Where the database password comes from (source, size, age), never what it is."""
    try:
        provenance = Secrets().explain("db_password")
    except SecretNotFoundError as e:
        return JsonResponse({"ok": False, "error": e.message}, status=503)
    return JsonResponse({"ok": True, "db_password": provenance.describe()})


urlpatterns = [path("whoami/", whoami), path("health/", health)]
