"""Celery with its broker and result backend on Redis, logging in with rotated credentials.

Celery (kombu for the broker, Celery itself for the result backend) takes a redis-py credential
provider by its dotted name in the URL's ``credential_provider`` parameter and builds it with no
arguments, once per connection pool: a small subclass fixes the secret names.

Run a worker with ``celery -A tasks worker`` (``RUNSECRETS_DIR`` names the secrets directory,
``REDIS_URL`` the server: ``redis://127.0.0.1:6379`` by default).
"""

import functools
import os

from celery import Celery

from runsecrets import SecretStore
from runsecrets.integrations.redis import CredentialProvider


@functools.cache
def secrets_store() -> SecretStore:
    """One store per process, shared by every provider Celery builds (each would else start a
    watcher of its own); made on first use, so in each worker after the fork."""
    return SecretStore(names=["redis_user", "redis_password"]).start()


class RedisCredentials(CredentialProvider):
    """The Redis ACL user and password from the secrets ``redis_user`` and ``redis_password``."""

    def __init__(self) -> None:
        super().__init__("redis_password", username="redis_user", store=secrets_store())


REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
PROVIDER = f"credential_provider={__name__}.RedisCredentials"

app = Celery("tasks", broker=f"{REDIS_URL}/0?{PROVIDER}", backend=f"{REDIS_URL}/1?{PROVIDER}")
app.conf.broker_connection_retry_on_startup = True


@app.task
def add(x: int, y: int) -> int:
    """A task that needs both the broker (to arrive) and the backend (to answer)."""
    return x + y
