"""OpenTelemetry metrics: one meter provider per process, scraped by Prometheus, pushed over OTLP.

Instruments are made once per module from :func:`opentelemetry.metrics.get_meter` and record
through the API. :func:`setup_metrics` installs the SDK's provider when the process exports
anywhere, before the server starts:

- a Prometheus endpoint when ``<SERVICE>_METRICS_PORT`` is set (``GET /metrics`` on the
  service's host; 0 picks a free port, logged in the ``metrics_ready`` line);
- OTLP/gRPC pushes to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the collector of the traces, with the same
  exporter variables for its TLS) unless ``OTEL_METRICS_EXPORTER=none``, every
  ``OTEL_METRIC_EXPORT_INTERVAL`` ms (60 s by default).

With neither, nothing is installed and every instrument is the API's no-op: a service that
exports nothing pays nothing.

The endpoint follows the project's secure-by-default rule (services.common.exposure): with
``TLS_CERT_FILE`` it serves HTTPS with the service's own certificate and asks every scraper for a
client certificate signed by ``TLS_CA_FILE`` (mutual TLS is the scrape's authentication: metrics
carry no patient data, but which methods fail and how busy a service is is nobody else's
business). Without TLS it serves plain HTTP on loopback only, or beyond it with
``ALLOW_INSECURE=true``, logged as a warning. The certificate is read once, at start.

Attribute values (Prometheus labels) are names from a fixed set: a gRPC method, a status, a
search mode, a store engine, a token type. Never a patient id, a query or any other text.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Final
from wsgiref.simple_server import WSGIServer

from opentelemetry import metrics
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from prometheus_client import REGISTRY, start_http_server

from services.common.config import CommonSettings, ConfigError, SecuritySettings
from services.common.exposure import TLS_SETTINGS, is_loopback
from services.common.logging import get_logger

log = get_logger(__name__)

#: Histogram buckets for durations in seconds: the semantic conventions' advice for RPC
#: durations, with 1 and 2.5 ms added below (a cached embed) and 30 and 60 s above (a briefing).
DURATION_BUCKETS_S: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    30.0,
    60.0,
)
#: Buckets for counts of things (texts in a batch, tokens of a turn): powers of two.
COUNT_BUCKETS: Final = tuple(float(2**power) for power in range(17))


@dataclass(frozen=True)
class ScrapeTls:
    """How the Prometheus endpoint speaks TLS: the service's certificate, and the CA that must
    have signed the scraper's client certificate."""

    certfile: str
    keyfile: str
    client_cafile: str


def scrape_tls(host: str, port: int, security: SecuritySettings, service: str) -> ScrapeTls | None:
    """The endpoint's TLS on ``host`` (None: plain HTTP), by the secure-by-default rule above.

    Raises ConfigError when it would serve plain HTTP beyond loopback without ALLOW_INSECURE.
    """
    if security.tls_cert_file is not None and security.tls_key_file is not None:
        assert security.tls_ca_file is not None  # required with a certificate (config.py)
        return ScrapeTls(
            str(security.tls_cert_file), str(security.tls_key_file), str(security.tls_ca_file)
        )
    if is_loopback(host):
        return None
    if security.allow_insecure:
        log.warning(
            "metrics_insecure_exposed",
            host=host,
            port=port,
            detail="ALLOW_INSECURE=true: metrics in plain HTTP beyond loopback",
        )
        return None
    raise ConfigError(
        f"refusing to serve the {service}'s metrics on {host}:{port} in plain HTTP: set "
        f"{TLS_SETTINGS} (scrapers then need a client certificate from that CA), listen on "
        "127.0.0.1, or set ALLOW_INSECURE=true to accept the risk"
    )


@dataclass
class Metrics:
    """Handle on the process's meter provider and its Prometheus endpoint, if any."""

    provider: MeterProvider | None
    endpoint: WSGIServer | None = None

    @property
    def port(self) -> int | None:
        """The Prometheus endpoint's port (the one bound when 0 was asked)."""
        return self.endpoint.server_port if self.endpoint is not None else None

    def shutdown(self) -> None:
        """Stops the endpoint, pushes what OTLP has not sent yet. Blocking: call it off the loop."""
        if self.endpoint is not None:
            self.endpoint.shutdown()
            self.endpoint.server_close()
        if self.provider is not None:
            self.provider.shutdown()


def serve_prometheus(
    host: str, port: int, tls: ScrapeTls | None, service: str
) -> tuple[PrometheusMetricReader, WSGIServer]:
    """A reader and the HTTP(S) endpoint that serves it (and the process's CPU, memory and
    garbage-collector figures, which prometheus-client adds), in a daemon thread."""
    try:
        server, _ = start_http_server(
            port,
            addr=host,
            registry=REGISTRY,
            certfile=tls.certfile if tls else None,
            keyfile=tls.keyfile if tls else None,
            client_cafile=tls.client_cafile if tls else None,
            client_auth_required=tls is not None,
            tls_min_version=ssl.TLSVersion.TLSv1_2,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot serve the {service}'s metrics on {host}:{port}: {exc.strerror or exc} (the "
            "port is in use, or the address is not one of this host's)"
        ) from None
    # Registers itself in the registry the endpoint serves, read at every scrape.
    return PrometheusMetricReader(), server


def setup_metrics(
    service: str,
    common: CommonSettings,
    security: SecuritySettings,
    *,
    host: str,
    port: int | None,
) -> Metrics:
    """Installs the process's meter provider with the readers configured (see the module
    docstring); with none, installs nothing. Raises ConfigError for an endpoint it may not
    serve or cannot bind."""
    readers: list[MetricReader] = []
    endpoint = None
    if port is not None:
        tls = scrape_tls(host, port, security, service)
        reader, endpoint = serve_prometheus(host, port, tls, service)
        readers.append(reader)
        log.info(
            "metrics_ready",
            address=f"{host}:{endpoint.server_port}",
            scheme="https" if tls else "http",
            client_certificate=tls is not None,
        )
    if common.otel_exporter_otlp_endpoint and common.otel_metrics_exporter == "otlp":
        # The exporter reads the same OTEL_EXPORTER_OTLP_* TLS variables as the span exporter.
        exporter = OTLPMetricExporter(endpoint=common.otel_exporter_otlp_endpoint)
        readers.append(PeriodicExportingMetricReader(exporter))
    if not readers:
        return Metrics(provider=None)
    provider = MeterProvider(
        metric_readers=readers,
        resource=Resource.create({SERVICE_NAME: service}),
        # Exemplars would tie measurements to traces; neither reader here sends them.
        exemplar_filter=AlwaysOffExemplarFilter(),
    )
    metrics.set_meter_provider(provider)
    return Metrics(provider=provider, endpoint=endpoint)
