"""The watcher thread behind ``SecretStore.watch()`` and its backends (inotify, watchfiles,
polling), one module each."""
