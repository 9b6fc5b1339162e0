"""One in-memory OpenTelemetry SDK for the telemetry tests (the global providers are set once)."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_EXPORTER = InMemorySpanExporter()
_READER = InMemoryMetricReader()
_installed = False


def _install() -> None:
    global _installed
    if not _installed:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[_READER]))
        _installed = True


@attrs.frozen
class Telemetry:
    """The spans finished and the metrics recorded since the test began."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, oldest first, optionally only those called ``name``."""
        found = list(self.exporter.get_finished_spans())
        return [s for s in found if name is None or s.name == name]

    def points(self, metric: str) -> dict[tuple[tuple[str, object], ...], float]:
        """``metric``'s values by attribute items (counter sums, histogram counts)."""
        data = self.reader.get_metrics_data()
        values: dict[tuple[tuple[str, object], ...], float] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for found in scope.metrics:
                    if found.name != metric:
                        continue
                    for point in found.data.data_points:
                        key = tuple(sorted(dict(point.attributes or {}).items()))
                        values[key] = float(
                            getattr(point, "value", 0) or getattr(point, "count", 0)
                        )
        return values


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    """The in-memory exporter and metric reader, emptied for this test."""
    _install()
    _EXPORTER.clear()
    _READER.get_metrics_data()  # cumulative: tests compare differences, see ``delta``
    yield Telemetry(_EXPORTER, _READER)
    _EXPORTER.clear()
