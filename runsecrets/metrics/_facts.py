"""The figures of one object as a JSON-ready mapping, for health endpoints.

Built from the same readings as the metrics, so a health endpoint and a scrape say the same
thing under the same names: a family's name without ``runsecrets_`` (``publishes_total``,
``last_publish_timestamp_seconds``), 0/1 gauges as ``true``/``false``, the watcher mode as its
name (``"watcher_mode": "inotify"``).
"""

from __future__ import annotations

from ._families import BY_NAME
from ._readers import CONSUMER_READERS, STORE, default_name, kind_of, read_store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from ._readers import Sample


def facts(obj: object, *, name: str | None = None) -> dict[str, Any]:
    """What the metrics say about ``obj``, as a mapping for a health endpoint; never a value.

    A store's facts add, beside its figures, the text of its status: ``problem`` and
    ``last_error`` (which name files and sizes, never a value), and the ``kept``, ``skipped``
    and ``watched`` names. A consumer's facts carry its own label too (``"secret": "tls.crt"``,
    ``"settings": "AppSettings"``); for a TLS context,
    ``certificate_not_after_timestamp_seconds`` is the served certificate's end date.

    Args:
        obj: A store, or a consumer of one (as :meth:`~runsecrets.metrics.Metrics.add` takes).
        name: A consumer's own label (default: as :class:`~runsecrets.metrics.Metrics` derives it).

    Raises:
        TypeError: ``obj`` is none of the kinds metrics read.
    """
    kind = kind_of(obj)
    if kind == STORE:
        result = _fold(read_store(obj, "", None))  # type: ignore[arg-type]
        status = obj.status  # type: ignore[attr-defined]
        result["problem"] = status.problem
        result["last_error"] = status.last_error
        result["kept"] = list(status.kept)
        result["skipped"] = list(status.skipped)
        result["watched"] = list(status.watched)
        return result
    own = default_name(kind, obj) if name is None else name
    return _fold(CONSUMER_READERS[kind](obj, "", own))


def _fold(samples: Iterable[Sample]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for family_name, values, value in samples:
        family = BY_NAME[family_name]
        key = family.fact
        shown: Any = bool(value) if family.boolean else value  # counts stay ints
        if family_name == "runsecrets_watcher_mode":
            if value:
                result[key] = values[1]
            continue
        if len(values) == 1:
            result[key] = shown
        else:
            # The second label names the consumer (a TLS context's secret, a model): said once.
            result[family.labels[1]] = values[1]
            result[key] = shown
    return result
