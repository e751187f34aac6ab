"""gunicorn settings: secrets checked at start, watchers in every worker, rotating TLS.

Run: ``RUNSECRETS_DIR=/run/secrets gunicorn -c examples/gunicorn/gunicorn.conf.py app:application``
"""

import os

from runsecrets.integrations import gunicorn as runsecrets_hooks

bind = f"127.0.0.1:{os.environ.get('PORT', '8443')}"
workers = 2
preload_app = True  # the app's store is made once, in the master; workers re-arm it

hooks = runsecrets_hooks.Hooks(require=["api_token", "tls.crt", "tls.key"])
on_starting = hooks.on_starting  # a missing secret stops gunicorn with its name and places
when_ready = hooks.when_ready
post_fork = hooks.post_fork  # logs "worker N re-armed 1 secret watcher(s)"
on_exit = hooks.on_exit

# gunicorn turns TLS on when certfile is set; the context itself comes from the hook, one per
# worker, and serves each renewed certificate to new handshakes without a restart.
certfile = runsecrets_hooks.secret_path("tls.crt")
keyfile = runsecrets_hooks.secret_path("tls.key")
ssl_context = runsecrets_hooks.rotating_ssl_context("tls.crt", "tls.key")
