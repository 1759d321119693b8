"""Interop: lamas agents as A2A services, A2A agents as lamas agents, and a registry.

Layer 6: it may use everything below it. Importing it loads the A2A SDK (protobuf,
Starlette), so `import lamas` never imports it.

The SDK wraps every internal call in an OpenTelemetry span unless told not to; lamas
carries its own trace (the envelope's W3C `trace`), so that is off here by default
(about a fifth of the SDK's function calls per request). Set
`OTEL_INSTRUMENTATION_A2A_SDK_ENABLED=true` before importing lamas.interop for them.
"""

import os

from lamas._extras import need

need("a2a", "a2a", "serving and calling agents over A2A")

os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")
