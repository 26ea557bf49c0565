"""Provides the worker: the agent (the coordinator), the attempt runner and its parts, the disk spool, the runners."""
