"""Helpers that make runsecrets feel native in web frameworks and servers.

Each module imports its framework and nothing else does: ``runsecrets.integrations.flask``,
``runsecrets.integrations.django``, ``runsecrets.integrations.gunicorn`` and
``runsecrets.integrations.uvicorn``.
"""
