"""Helpers that make runsecrets feel native in web frameworks, servers and clients.

Each module imports its library and nothing else does: ``runsecrets.integrations.flask``,
``runsecrets.integrations.django``, ``runsecrets.integrations.gunicorn``,
``runsecrets.integrations.uvicorn``, ``runsecrets.integrations.httpx``,
``runsecrets.integrations.requests`` and ``runsecrets.integrations.grpc``.
"""
