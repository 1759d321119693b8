"""Interop: lamas agents as A2A services, A2A agents as lamas agents, and a registry.

Layer 6: it may use everything below it. Importing it loads the A2A SDK (protobuf,
Starlette), so `import lamas` never imports it.
"""
