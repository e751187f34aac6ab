"""Secrets that follow rotation: the store, its snapshots, and the watcher behind it.

Nothing here is public beyond what :mod:`runsecrets` re-exports (``SecretStore``, ``Snapshot``,
``Changes``, ``StoreStatus``); the modules are the store's parts, one job each.
"""
