"""Helpers that make runsecrets feel native in web frameworks, servers, data layers and
clients.

Each module imports its framework, driver or client library and nothing else does:
``runsecrets.integrations.flask``, ``.django``, ``.gunicorn``, ``.uvicorn``; for database and
cache credentials that follow rotation ``.sqlalchemy``, ``.psycopg`` (psycopg_pool),
``.asyncpg`` and ``.redis`` (the logic they share is in ``._credentials``); for outbound calls
with rotating client certificates and tokens ``.httpx``, ``.requests`` and, for gRPC servers,
``.grpc``.
"""
