"""Runnable field-processing, protected-distribution and report scripts."""
