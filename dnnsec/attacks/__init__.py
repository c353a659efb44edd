"""Attacks on protected models (fine-tuning, pruning, adaptive repair), used to measure protections empirically."""
