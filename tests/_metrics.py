"""Reading an exposition back with ``prometheus_client``'s own parser, for the metrics tests."""

from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

#: A parsed scrape: ``{(sample name, sorted label pairs): value}``.
Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Scrape:
    """Every sample of an exposition in the text format."""
    samples: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(registry: CollectorRegistry) -> tuple[str, Scrape]:
    """The registry's exposition and its samples."""
    text = generate_latest(registry).decode()
    return text, parse(text)


def scrape_url(url: str) -> tuple[str, Scrape]:
    """A real HTTP scrape."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return text, parse(text)


def value(samples: Scrape, name: str, **labels: str) -> float:
    """The value of one sample.

    Raises:
        KeyError: No such sample (the names present are listed).
    """
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        present = sorted({n for n, _ in samples if n.startswith(name[:12])})
        raise KeyError(f"{key} not scraped; names: {present}")
    return samples[key]


def names_of(samples: Scrape, name: str) -> list[dict[str, str]]:
    """The label sets of every sample called ``name``."""
    return [dict(labels) for sample, labels in samples if sample == name]
