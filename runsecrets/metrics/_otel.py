"""The figures as OpenTelemetry observable instruments (the only module importing it).

Each instrument's callback reads the same samples as a Prometheus scrape, at the meter's
collection: nothing is counted twice, nothing is read from the disk.
"""

from __future__ import annotations

from opentelemetry import metrics as otel_metrics

from .._version import __version__
from ._families import COUNTER, FAMILIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from opentelemetry.metrics import CallbackOptions, Meter, Observation

    from ._families import Family
    from ._registry import Metrics


def otel_name(family: Family) -> str:
    """The instrument's name: the Prometheus name, a counter's without ``_total`` (exporters to
    Prometheus add it back)."""
    return family.name.removesuffix("_total") if family.kind == COUNTER else family.name


def create_instruments(metrics: Metrics, meter: Meter | None) -> list[object]:
    """An observable counter or gauge per family on ``meter`` (default: the global meter
    provider's ``runsecrets`` meter)."""
    if meter is None:
        meter = otel_metrics.get_meter("runsecrets", __version__)
    instruments: list[object] = []
    for family in FAMILIES:
        create = (
            meter.create_observable_counter
            if family.kind == COUNTER
            else meter.create_observable_gauge
        )
        instruments.append(
            create(
                otel_name(family),
                callbacks=[_observe(metrics, family)],
                unit=family.unit,
                description=family.help,
            )
        )
    return instruments


def _observe(
    metrics: Metrics, family: Family
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [
            otel_metrics.Observation(value, dict(zip(family.labels, values, strict=True)))
            for name, values, value in metrics.samples()
            if name == family.name
        ]

    return observe
