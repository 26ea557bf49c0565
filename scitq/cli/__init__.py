"""Provides the command lines: scitq, scitq-launch, scitq-manage, scitq-worker, scitq-fetch."""
