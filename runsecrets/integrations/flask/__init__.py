"""Flask: fill ``app.config`` from secrets and keep it current when they rotate.

::

    from runsecrets.integrations.flask import RunSecrets

    secrets = RunSecrets(config={"SECRET_KEY": "flask_secret_key"}, prefix="app_",
                         health_path="/healthz")

    def create_app():
        app = Flask(__name__)
        secrets.init_app(app)   # app.config["SECRET_KEY"], app.config["API_TOKEN"] (app_api_token)
        return app

Each app gets a :class:`~runsecrets.SecretStore` (or the one passed in) that watches the secrets
directories. When a rotation is published, the config keys it feeds are replaced in one
``dict.update`` call: a request sees all the old values or all the new ones for the keys of that
rotation. Read ``app.config`` at request time (not once at start-up) to see new values.

Values are typed for the key they fill: ``SECRET_KEY_FALLBACKS`` from a secret is a list, one
key per line; ``SECRET_KEY`` must not be empty; Flask's own keys that are not text (``DEBUG``,
``MAX_CONTENT_LENGTH``, ...) cannot come from a secret (``ValueError`` for one named in
``config``, skipped with a log line for one picked up by the prefix).

Key rotation needs Flask 3.1+, the first version that reads ``SECRET_KEY_FALLBACKS``: a new
``SECRET_KEY`` pushes the previous one into that list, so sessions signed before the rotation
stay valid. The list keeps the app's own fallbacks (set in ``app.config`` before
:meth:`RunSecrets.init_app`, or from a secret) after the retired keys; how many retired keys stay,
and for how long, is bounded by ``secret_key_fallbacks`` and ``secret_key_fallback_max_age``. On
an older Flask, :meth:`RunSecrets.init_app` refuses to start unless ``secret_key_fallbacks=0``
(then a rotation ends every session signed with the old key).

A secret picked up by the prefix that is not valid text (a binary keystore, say) fills no config
key: it is skipped with a log line naming it, and the app starts. A secret named in ``config``
must be text: a binary one fails :meth:`RunSecrets.init_app` with ``SecretDecodeError``.

``health_path`` is a liveness view: always 200 while the app serves, naming nothing.
``status_path`` (opt-in) is the detail view: secret names, config keys, the store's problems
(which name paths and sizes); keep it off public routes.
"""

from __future__ import annotations

from ._extension import RunSecrets

__all__ = ["RunSecrets"]
