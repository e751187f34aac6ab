"""``runsecrets.integrations.redis.CredentialProvider`` on a real Redis with ACL users, for
``redis.Redis`` and ``redis.asyncio.Redis``."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("redis")

import redis
import redis.asyncio

from runsecrets import CredentialsError
from runsecrets.integrations.redis import CredentialProvider, rotation_retry
from runsecrets.testing import SecretsDir, wait_until

from .._databases import user_names
from ..conftest import leaked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._redis import RedisServer


@pytest.fixture
def users(request: pytest.FixtureRequest, redis_server: RedisServer) -> list[str]:
    return user_names(request, redis_server.drop_user)


def _client(server: RedisServer, provider: CredentialProvider, **options: object) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, credential_provider=provider, **options)  # type: ignore[arg-type]


def test_each_connect_takes_the_current_user_and_password(
    redis_server: RedisServer, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """Alternating users: after the switch, a new connection authenticates as the new user; an
    open one stays authenticated as the old one until it reconnects."""
    blue, green = users
    redis_server.add_user(blue, sentinel)
    redis_server.add_user(green, sentinel + "-green")
    secrets_dir.write_all({"redis_user": blue, "redis_password": sentinel})
    provider = CredentialProvider("redis_password", username="redis_user", dirs=[secrets_dir.path])
    client = _client(redis_server, provider)
    try:
        assert client.acl_whoami() == blue
        secrets_dir.write_all({"redis_user": green, "redis_password": sentinel + "-green"})
        wait_until(lambda: provider.follower.changes == 1)
        assert client.acl_whoami() == blue  # the open connection
        redis_server.kill_user_connections(blue)
        redis_server.set_user(blue, "off")
        assert client.acl_whoami() == green
        assert not leaked(sentinel, repr(provider), provider.follower.status())
    finally:
        client.close()
        provider.close()
        provider.close()


@pytest.mark.parametrize("order", ["server_first", "file_first"])
def test_a_refused_auth_is_retried_while_the_rotation_completes(
    redis_server: RedisServer, users: list[str], secrets_dir: SecretsDir, sentinel: str, order: str
) -> None:
    """One user whose only password is replaced, the server and the file 0.3 s apart: with
    rotation_retry() redis-py retries the connect, asking the provider again: no error."""
    user = users[0]
    redis_server.add_user(user, sentinel)
    secrets_dir.write("redis_password", sentinel)
    secrets_dir.write("redis_user", user)
    provider = CredentialProvider("redis_password", "redis_user", dirs=[secrets_dir.path])
    client = _client(redis_server, provider, retry=rotation_retry(5.0))
    steps = [
        lambda: redis_server.set_user(user, "resetpass", f">{sentinel}-2"),
        lambda: secrets_dir.write("redis_password", sentinel + "-2"),
    ]
    if order == "file_first":
        steps.reverse()
    try:
        assert client.ping()
        steps[0]()
        wait_until(lambda: order == "server_first" or provider.follower.changes == 1)
        redis_server.kill_user_connections(user)
        later = threading.Timer(0.3, steps[1])
        later.start()
        try:
            started = time.monotonic()
            assert client.ping()
            assert time.monotonic() - started >= 0.2
        finally:
            later.join()
    finally:
        client.close()
        provider.close()


def test_a_missing_secret_fails_the_connect_and_open_connections_keep_working(
    redis_server: RedisServer, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """The password file removed: the pooled connection keeps serving; a new connection fails
    with CredentialsError naming the secret and the file, never the value."""
    user = users[0]
    redis_server.add_user(user, sentinel)
    secrets_dir.write_all({"redis_user": user, "redis_password": sentinel})
    provider = CredentialProvider("redis_password", "redis_user", dirs=[secrets_dir.path])
    client = _client(redis_server, provider)
    try:
        assert client.ping()
        secrets_dir.remove("redis_password")
        wait_until(lambda: "redis_password" not in provider.follower.store)
        assert client.ping()  # the same connection, back from the pool
        with pytest.raises(CredentialsError) as info:
            client.connection_pool.make_connection().connect()
        assert info.value.reason == "not_found"
        assert str(secrets_dir.path / "redis_password") in " ".join(info.value.searched)
        assert not leaked(sentinel, info.value.message, repr(info.value))
    finally:
        client.close()
        provider.close()


def test_asyncio_redis_takes_the_current_credentials(
    redis_server: RedisServer, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """``redis.asyncio.Redis`` asks ``get_credentials_async`` at each connect."""
    blue, green = users
    redis_server.add_user(blue, sentinel)
    redis_server.add_user(green, sentinel + "-green")
    secrets_dir.write_all({"redis_user": blue, "redis_password": sentinel})
    provider = CredentialProvider("redis_password", "redis_user", dirs=[secrets_dir.path])

    async def main() -> None:
        client = redis.asyncio.Redis(
            host=redis_server.host,
            port=redis_server.port,
            credential_provider=provider,
            retry=rotation_retry(2.0, asynchronous=True),  # type: ignore[arg-type]
        )
        try:
            assert await client.acl_whoami() == blue
            secrets_dir.write_all({"redis_user": green, "redis_password": sentinel + "-green"})
            for _ in range(500):
                if provider.follower.changes:
                    break
                await asyncio.sleep(0.01)
            redis_server.kill_user_connections(blue)
            assert await client.acl_whoami() == green
        finally:
            await client.aclose()

    try:
        asyncio.run(main())
    finally:
        provider.close()


def test_bad_arguments(tmp_path: Path) -> None:
    """Bad names, a store with dirs and a negative retry time are ValueErrors."""
    from runsecrets import SecretStore

    with pytest.raises(ValueError, match="password"):
        CredentialProvider("")
    with SecretStore([tmp_path]) as store, pytest.raises(ValueError, match="not both"):
        CredentialProvider("p", store=store, dirs=[tmp_path])
    with pytest.raises(ValueError, match="seconds"):
        rotation_retry(-1)
    assert rotation_retry(5.0).get_retries() >= 10
