"""The command line (typer + rich): `lamas --help`."""
