"""Metrics for stores and their consumers: Prometheus, OpenTelemetry, health endpoints.

::

    import prometheus_client
    from runsecrets.metrics import register

    metrics = register(store)                 # a collector on prometheus_client.REGISTRY
    metrics.add(context)                      # a RotatingServerContext on that store
    metrics.add(other_store, name="cache")    # a second store, labelled store="cache"

A :class:`~runsecrets.metrics.Metrics` reads the public state of what it was given at each
collection: no figure is counted twice, and a collection reads no file, lists no directory
and parses no secret. Labels name things (a store, a secret, a model), never a value nor a
hash of one. Every family, with its type and labels, is in
:data:`~runsecrets.metrics.FAMILIES`.

Nothing here imports ``prometheus_client`` or OpenTelemetry until it is used: install
``runsecrets[metrics]`` for :func:`~runsecrets.metrics.register` and the ``collect()`` of a
:class:`~runsecrets.metrics.Metrics`, ``runsecrets[otel]`` for
:func:`~runsecrets.metrics.instrument`. :func:`~runsecrets.metrics.facts` needs neither.
"""

from __future__ import annotations

from ._facts import facts
from ._families import FAMILIES, Family
from ._registry import Metrics

TYPE_CHECKING = False
if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from prometheus_client import CollectorRegistry

__all__ = ["FAMILIES", "Family", "Metrics", "facts", "instrument", "register"]


def register(*objects: object, registry: CollectorRegistry | None = None) -> Metrics:
    """A :class:`~runsecrets.metrics.Metrics` of ``objects`` (default labels), registered.

    Add more to the one returned (:meth:`~runsecrets.metrics.Metrics.add`, with names): a
    registry takes one :class:`~runsecrets.metrics.Metrics`, which exports every store of the
    process.

    Args:
        objects: Stores and consumers (see :meth:`~runsecrets.metrics.Metrics.add`).
        registry: A ``prometheus_client`` registry (default ``prometheus_client.REGISTRY``).

    Raises:
        ValueError: The registry already has runsecrets' metrics (``prometheus_client`` says
            which names are duplicated).
    """
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    metrics = Metrics(*objects)
    registry.register(metrics)  # a collector by its protocol
    return metrics


def instrument(metrics: Metrics, meter: Meter | None = None) -> list[object]:
    """Put ``metrics``' figures on an OpenTelemetry meter, as observable instruments.

    Each family becomes an observable counter or gauge of the same name (a counter's without
    ``_total``, which exporters to Prometheus add back), with its labels as attributes. Its
    callback reads the same figures a scrape reads, when the meter's reader collects.

    Args:
        metrics: What to export.
        meter: The meter (default: ``runsecrets`` from the global meter provider).

    Returns:
        The instruments made.
    """
    from ._otel import create_instruments

    return create_instruments(metrics, meter)
