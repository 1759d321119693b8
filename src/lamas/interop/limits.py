"""A node's default limits, apart from the code that enforces them (which needs the A2A
extra): the command line shows them as option defaults without importing a server."""

DEFAULT_MAX_BODY_BYTES = 4 * 1_048_576
"""A 1 MB text, JSON-escaped and carried twice (as A2A parts and as the exact lamas
envelope), fits."""
DEFAULT_TTL_SECONDS = 3_600.0
"""Seconds an A2A task is kept after its last update."""
DEFAULT_MAX_TASKS = 10_000
"""Most A2A tasks a node keeps."""
DEFAULT_MAX_BYTES = 256 * 1_048_576
"""Most bytes of A2A tasks a node keeps, all tasks together."""
