"""Intrinsic fingerprints: Deep Taylor Decomposition relevance maps of a model on an owner's probe set (InFIP).

Targets: docs/acceptance.md#intrinsic-fingerprint.
"""
