"""``OTLPMetricExporter``: the lean drop-in for the official OTLP/HTTP metric exporter.

The span exporter's path (:mod:`.exporter`) for metrics: ``OTEL_EXPORTER_OTLP_METRICS_*``
variables, and the temporality and histogram aggregation preferences
(``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``,
``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``) read by the official,
protobuf-free helpers. ``max_export_batch_size`` (splitting one export into several requests) is
left to the official exporter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

from .exporter import _arguments, _exporter_metrics, _LeanExport
from .sending import METRICS

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricsData
    from opentelemetry.sdk.metrics.view import Aggregation


def _data_points(data: MetricsData) -> int:
    """How many data points ``data`` holds (for the exporter's own metrics; the metric reader
    counts its collections the same way, on its side of the layers)."""
    count = 0
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                count += len(getattr(metric.data, "data_points", ()))
    return count


def _preferences(
    temporality: dict[type, AggregationTemporality] | None,
    aggregation: dict[type, Aggregation] | None,
) -> tuple[dict[type, AggregationTemporality], dict[type, Aggregation]]:
    """The official exporter's preferences: its helpers read the same variables."""
    from opentelemetry.exporter.otlp.common._aggregation import (
        _get_aggregation,
        _get_temporality,
    )

    return _get_temporality(temporality), _get_aggregation(aggregation)


class OTLPMetricExporter(_LeanExport, MetricExporter):
    """Drop-in for ``opentelemetry.exporter.otlp.proto.http.metric_exporter.OTLPMetricExporter``.

    Takes the same arguments, plus ``compression_level`` (0-9, default 1) for gzip and deflate.
    """

    _signal = METRICS
    _success = MetricExportResult.SUCCESS
    _failure = MetricExportResult.FAILURE

    def __init__(
        self,
        endpoint: str | None = None,
        certificate_file: str | None = None,
        client_key_file: str | None = None,
        client_certificate_file: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        compression: Any = None,
        session: Any = None,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
        max_export_batch_size: int | None = None,
        *,
        max_request_size: int | None = None,
        meter_provider: Any = None,
        compression_level: int | None = None,
        **others: Any,
    ) -> None:
        self._setup(
            _arguments(
                endpoint,
                certificate_file,
                client_key_file,
                client_certificate_file,
                headers,
                timeout,
                compression,
            ),
            session=session,
            max_request_size=max_request_size,
            meter_provider=meter_provider,
            compression_level=compression_level,
            official_only={
                "preferred_temporality": preferred_temporality,
                "preferred_aggregation": preferred_aggregation,
                "max_export_batch_size": max_export_batch_size,
            },
            others=others,
            hand_over=("max_export_batch_size",),
        )
        # The preferences are needed now; before OpenTelemetry 1.45 only the official exporter's
        # module (protobuf) reads them, so there it is built at once.
        official = self._official_exporter()
        if official is not None:  # it has read (and warned about) the preferences already
            temporality = official._preferred_temporality
            aggregation = official._preferred_aggregation
        else:
            temporality, aggregation = _preferences(preferred_temporality, preferred_aggregation)
        MetricExporter.__init__(
            self, preferred_temporality=temporality, preferred_aggregation=aggregation
        )

    def export(
        self, metrics_data: MetricsData, timeout_millis: float | None = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if self._official is not None:
            return self._export_official(  # type: ignore[no-any-return]
                self._official, metrics_data, (timeout_millis,), kwargs
            )
        return self._export_items(metrics_data, _data_points(metrics_data))  # type: ignore[no-any-return]

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing is buffered here."""
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._shutdown_lean()

    def set_meter_provider(self, meter_provider: Any) -> None:
        """Where the exporter's own metrics go (as on the official exporter)."""
        self._meter_provider = meter_provider
        if self._official is not None:
            self._official.set_meter_provider(meter_provider)
        else:
            self._metrics = _exporter_metrics(self._signal, self.settings, meter_provider)
