"""Helpers shared by the test suites (tests/ is on sys.path, see tests/conftest.py)."""
