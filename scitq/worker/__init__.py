"""Provides the worker: the agent, its disk spool and the native and Docker runners."""
