"""A traced function with a slow init: its module first sleeps TEST_IMPORT_SLEEP seconds (a heavy
import, before the package is imported at all), then sets up tracing and ``@traced_handler``.

Under SnapStart its own after-restore hook, registered after the decorator's, sleeps
TEST_RESTORE_SLEEP seconds (re-opening connections, say). Each invocation returns when the module
began and when that hook ran, for the test to compare with the spans.
"""

import os
import time

MODULE_STARTED_NS = time.time_ns()
time.sleep(float(os.environ.get("TEST_IMPORT_SLEEP", "0.3")))

from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

from otel_lambda_processor import (  # noqa: E402
    LambdaSpanProcessor,
    lambda_resource,
    traced_handler,
)

provider = TracerProvider(resource=lambda_resource())
provider.add_span_processor(
    LambdaSpanProcessor(OTLPSpanExporter(endpoint=os.environ["TEST_OTLP_ENDPOINT"], timeout=5))
)
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("app")
RESTORED_NS = []


@traced_handler
def handler(event, context):
    with tracer.start_as_current_span("work"):
        pass
    return {"module_started_ns": MODULE_STARTED_NS, "restored_ns": RESTORED_NS}


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    from snapshot_restore_py import register_after_restore

    @register_after_restore
    def reconnect():
        RESTORED_NS.append(time.time_ns())
        time.sleep(float(os.environ.get("TEST_RESTORE_SLEEP", "0.2")))
