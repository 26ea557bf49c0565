"""Provides the dashboard's screens: workers, batches, tasks, one task in detail, events."""
