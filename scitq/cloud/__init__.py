"""Provides cloud providers and recruiters (OpenStack/OVH, Azure, local, docker)."""
