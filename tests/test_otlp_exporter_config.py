"""Differential: our OTLPSpanExporter and the official one, configured the same way (arguments or
``OTEL_EXPORTER_OTLP_*`` variables), send the same requests to the real local receiver and
retry the same way, ``Retry-After`` included."""

from __future__ import annotations

import gzip
import ssl
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as OfficialExporter,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_lambda_processor.otlp import OTLPSpanExporter
from otel_lambda_processor.testing import Fault, OTLPReceiver
from otel_lambda_processor.testing.receiver import ReceivedRequest

VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
)
#: Headers the two transports add of their own accord (requests and urllib3 differ there).
TRANSPORT_HEADERS = {"accept", "accept-encoding", "connection", "host", "content-length"}


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(keep_bodies=True) as r:
        yield r


@pytest.fixture(autouse=True)
def no_otlp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def spans(count: int = 6) -> list[ReadableSpan]:
    tracer = TracerProvider().get_tracer("config")
    out = []
    for i in range(count):
        with tracer.start_as_current_span(f"op{i}", attributes={"i": i}) as span:
            pass
        out.append(span)
    return out  # type: ignore[return-value]


def sent(request: ReceivedRequest) -> tuple[dict[str, str], bytes]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = request.body
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    elif headers.get("content-encoding") == "deflate":
        body = zlib.decompress(body)
    return {k: v for k, v in headers.items() if k not in TRANSPORT_HEADERS}, body


def both_send(**arguments: object) -> tuple[OTLPSpanExporter, OfficialExporter]:
    ours = OTLPSpanExporter(**arguments)  # type: ignore[arg-type]
    theirs = OfficialExporter(**arguments)  # type: ignore[arg-type]
    batch = spans()
    assert ours.export(batch) == theirs.export(batch) == SpanExportResult.SUCCESS
    return ours, theirs


ENVIRONMENTS = {
    "base endpoint": {"OTEL_EXPORTER_OTLP_ENDPOINT": "{base}"},
    "base endpoint, trailing slash": {"OTEL_EXPORTER_OTLP_ENDPOINT": "{base}/"},
    "traces endpoint wins": {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{base}/v1/traces",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/nowhere",
    },
    "headers, url-encoded": {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{base}/v1/traces",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme,authorization=Basic%20dTpw",
    },
    "headers, liberal and traces-specific": {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{base}/v1/traces",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-ignored=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "X-Key = a=b ,bad header,authorization=Bearer t0k=n",
    },
    "gzip": {"OTEL_EXPORTER_OTLP_ENDPOINT": "{base}", "OTEL_EXPORTER_OTLP_COMPRESSION": "GZip "},
    "deflate for traces": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "deflate",
    },
    "unknown compression": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "brotli",
    },
    "timeouts": {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "{base}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "abc",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "7.5",
    },
}


@pytest.mark.parametrize("variables", list(ENVIRONMENTS.values()), ids=list(ENVIRONMENTS))
def test_the_same_variables_make_the_same_requests(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, variables: dict[str, str]
) -> None:
    base = receiver.endpoint.removesuffix("/v1/traces")
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(base=base))
    ours, theirs = both_send()
    first, second = receiver.requests
    assert sent(first) == sent(second)
    assert ours.settings.timeout == theirs._client._timeout
    assert ours.settings.compression == theirs._client._compression.value
    assert ours.settings.endpoint == theirs._endpoint


ARGUMENTS = {
    "headers": {"headers": {"X-Team": "payments", "User-Agent": "mine"}},
    "gzip": {"compression": Compression.Gzip},
    "deflate": {"compression": Compression.Deflate},
    "timeout": {"timeout": 3},
    "max_request_size": {"max_request_size": 10_000},
}


@pytest.mark.parametrize("arguments", list(ARGUMENTS.values()), ids=list(ARGUMENTS))
def test_the_same_arguments_make_the_same_requests(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, arguments: dict[str, object]
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=1")  # arguments win
    ours, theirs = both_send(endpoint=receiver.endpoint, **arguments)
    first, second = receiver.requests
    assert sent(first) == sent(second)
    assert ours.settings.timeout == theirs._client._timeout


def test_a_batch_over_the_size_limit_is_refused_by_both(receiver: OTLPReceiver) -> None:
    batch = spans(50)
    size = len(official(batch).SerializeToString())
    for exporter in (
        OTLPSpanExporter(endpoint=receiver.endpoint, max_request_size=size - 1),
        OfficialExporter(endpoint=receiver.endpoint, max_request_size=size - 1),
    ):
        assert exporter.export(batch) == SpanExportResult.FAILURE
    assert receiver.requests == []


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_as_the_official_exporter_honours_it(
    receiver: OTLPReceiver, status: int
) -> None:
    for make in (OTLPSpanExporter, OfficialExporter):
        receiver.reset()
        receiver.inject(Fault(status=status, retry_after="1"))
        exporter = make(endpoint=receiver.endpoint, timeout=10)
        assert exporter.export(spans()) == SpanExportResult.SUCCESS
        first, second = receiver.requests
        assert (first.status, second.status) == (status, 200)
        assert 0.9 <= second.at - first.at < 3, make


def test_a_retry_after_beyond_the_timeout_gives_up_at_once_like_the_official_one(
    receiver: OTLPReceiver,
) -> None:
    for make in (OTLPSpanExporter, OfficialExporter):
        receiver.reset()
        receiver.inject(Fault(status=503, retry_after="30"))
        exporter = make(endpoint=receiver.endpoint, timeout=2)
        started = time.monotonic()
        assert exporter.export(spans()) == SpanExportResult.FAILURE
        assert time.monotonic() - started < 1.5
        assert [r.status for r in receiver.requests] == [503]


def test_a_requests_session_goes_to_the_official_exporter(receiver: OTLPReceiver) -> None:
    requests = pytest.importorskip("requests")  # an extra of the official exporter since 1.45

    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, session=requests.Session())
    assert not exporter.uses_fast_encoder
    assert exporter.export(spans()) == SpanExportResult.SUCCESS
    assert len(receiver.spans) == 6


# -- TLS: certificate_file, client_certificate_file, client_key_file, and their variables --------
@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(autouse=True)
def no_requests_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override a session's CA (psf/requests#3829), so with them
    # set the official exporter ignores certificate_file; ours (urllib3) honours it regardless.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def tls_receiver(authority: trustme.CA, *, client_certificates: bool) -> OTLPReceiver:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    if client_certificates:
        authority.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return OTLPReceiver(keep_bodies=True, tls=context)


def test_tls_with_the_collectors_ca_from_the_argument_or_the_variables(
    monkeypatch: pytest.MonkeyPatch, authority: trustme.CA, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca))
    with tls_receiver(authority, client_certificates=False) as receiver:
        assert receiver.endpoint.startswith("https://")
        both_send(endpoint=receiver.endpoint, certificate_file=str(ca))
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(ca))
        both_send(endpoint=receiver.endpoint)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_CERTIFICATE")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", str(ca))
        both_send(endpoint=receiver.endpoint)
        assert len(receiver.requests) == 6


def test_tls_refuses_a_collector_it_cannot_verify_like_the_official_one(
    authority: trustme.CA,
) -> None:
    with tls_receiver(authority, client_certificates=False) as receiver:
        for make in (OTLPSpanExporter, OfficialExporter):
            exporter = make(endpoint=receiver.endpoint, timeout=2)  # system CAs only
            assert exporter.export(spans()) == SpanExportResult.FAILURE
        assert receiver.requests == []


def test_mutual_tls_with_a_client_certificate_from_arguments_or_variables(
    monkeypatch: pytest.MonkeyPatch, authority: trustme.CA, tmp_path: Path
) -> None:
    ca, cert, key = tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client.key"
    authority.cert_pem.write_to_path(str(ca))
    client = authority.issue_cert("client@example.com")
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    with tls_receiver(authority, client_certificates=True) as receiver:
        for make in (OTLPSpanExporter, OfficialExporter):  # no client certificate: refused
            exporter = make(endpoint=receiver.endpoint, certificate_file=str(ca), timeout=2)
            assert exporter.export(spans()) == SpanExportResult.FAILURE
        both_send(
            endpoint=receiver.endpoint,
            certificate_file=str(ca),
            client_certificate_file=str(cert),
            client_key_file=str(key),
        )
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(ca))
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", str(cert))
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", str(key))
        both_send(endpoint=receiver.endpoint)
        assert [r.status for r in receiver.requests] == [200] * 4
