"""One table of every protection against every attack, with the survey's metrics.

Targets: docs/acceptance.md#evaluation-table.
"""
