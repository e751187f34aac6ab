"""A FastAPI app whose settings come from runsecrets' ``SecretsSettings``.

Run: ``python examples/fastapi_settings/app.py`` (serves on http://127.0.0.1:8000 with
uvicorn). Without ``RUNSECRETS_DIR`` it reads the example secrets beside this file; in a
container it would read ``/run/secrets``, and ``API_TOKEN_FILE=/path`` works too. The
settings follow rotation while the app runs (started and stopped by the lifespan).

Operations: ``/healthz`` is a liveness check naming nothing; ``/internal/status`` shows the
settings' and their store's figures under the names of runsecrets' metrics (put it behind
your own protection); ``/metrics`` serves the same figures to Prometheus.
"""

from __future__ import annotations

import argparse
import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from runsecrets.metrics import Metrics, facts
from runsecrets.pydantic import LiveSettings, SecretsSettings, live


class Settings(SecretsSettings):
    """The app's settings: two secrets and a plain option."""

    api_token: SecretStr
    db_password: SecretStr
    greeting: str = "hello"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the settings, follow their secrets while the app runs, stop at shutdown."""
    with live(Settings) as settings:
        app.state.settings = settings
        app.state.metrics.add(settings)  # and the store it follows
        yield
        app.state.metrics.remove(settings)


def live_settings(request: Request) -> LiveSettings[Settings]:
    """The app's live settings."""
    settings: LiveSettings[Settings] = request.app.state.settings
    return settings


def current_settings(request: Request) -> Settings:
    """The latest valid settings (never touches the disk)."""
    return live_settings(request).current


def create_app() -> FastAPI:
    """Build the app; its settings load and start watching in the lifespan."""
    app = FastAPI(lifespan=lifespan)
    registry = CollectorRegistry()
    app.state.metrics = Metrics()
    registry.register(app.state.metrics)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        # Liveness only: a refused rotation keeps the last valid settings serving.
        return {"status": "ok"}

    @app.get("/internal/status")
    def status(
        settings: Annotated[LiveSettings[Settings], Depends(live_settings)], response: Response
    ) -> dict[str, object]:
        shown = facts(settings)
        if settings.store is not None:
            shown = {**facts(settings.store), **shown}
        shown["healthy"] = bool(shown.get("healthy", True)) and bool(shown["settings_healthy"])
        response.status_code = 200 if shown["healthy"] else 503
        return shown

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/")
    def index(
        current: Annotated[Settings, Depends(current_settings)],
        settings: Annotated[LiveSettings[Settings], Depends(live_settings)],
    ) -> dict[str, object]:
        return {"greeting": current.greeting, "settings_ok": settings.last_error is None}

    @app.get("/private")
    def private(
        current: Annotated[Settings, Depends(current_settings)],
        authorization: Annotated[str, Header()] = "",
    ) -> dict[str, str]:
        token = current.api_token.get_secret_value()
        # An empty token must let nobody in: "Bearer " + "" is what a client sends with no token.
        if not token or not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
            raise HTTPException(status_code=401, detail="unauthorized")
        return {"message": "welcome"}

    return app


def main() -> None:
    """Serve on 127.0.0.1 with uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(description="runsecrets + FastAPI example")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    os.environ.setdefault("RUNSECRETS_DIR", str(Path(__file__).parent / "secrets"))
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
