"""Helpers that make runsecrets feel native in web frameworks, servers and data layers.

Each module imports its framework or driver and nothing else does:
``runsecrets.integrations.flask``, ``.django``, ``.gunicorn``, ``.uvicorn``, and for database
and cache credentials that follow rotation ``.sqlalchemy``, ``.psycopg`` (psycopg_pool),
``.asyncpg`` and ``.redis`` (the logic they share is in ``._credentials``).
"""
