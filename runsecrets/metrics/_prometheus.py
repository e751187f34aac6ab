"""The figures as ``prometheus_client`` metric families (the only module importing it)."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ._families import COUNTER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._families import Family


def metric_families(
    grouped: Iterable[tuple[Family, list[tuple[tuple[str, ...], float]]]],
) -> list[Metric]:
    """One ``prometheus_client`` family per :class:`~._families.Family`, with its samples.

    ``prometheus_client`` writes the exposition, label values escaped as the format says.
    """
    families: list[Metric] = []
    for family, samples in grouped:
        metric: CounterMetricFamily | GaugeMetricFamily
        if family.kind == COUNTER:
            # Named without "_total": the family adds it to each sample (and OpenMetrics
            # wants the family's own name without it).
            metric = CounterMetricFamily(
                family.name.removesuffix("_total"), family.help, labels=family.labels
            )
        else:
            metric = GaugeMetricFamily(family.name, family.help, labels=family.labels)
        for values, value in samples:
            metric.add_metric(list(values), value)
        families.append(metric)
    return families
