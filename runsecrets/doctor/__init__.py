"""``runsecrets doctor``: what in this container keeps secrets from being safe or fresh.

:func:`diagnose` inspects the environment, the secrets directories, the ``_FILE`` targets, the
mount table, certificates among the secrets and the inotify limits; :func:`diagnose_image`
inspects an image's configuration and history through a Docker engine. Both return
:class:`Finding` values (a stable code, a severity, a subject and a one-line fix), never a
secret value nor a hash of one. :data:`CODES` lists every code with its severity.

Nothing here is imported by ``import runsecrets``; ``cryptography`` is imported only when a
certificate is found, the Docker SDK only by :func:`diagnose_image`.
"""

from __future__ import annotations

from ._finding import CODES, ERROR, WARNING, Finding
from ._image import check_image, diagnose_image
from ._runner import diagnose

__all__ = ["CODES", "ERROR", "WARNING", "Finding", "check_image", "diagnose", "diagnose_image"]
