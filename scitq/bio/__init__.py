"""Provides the ENA/SRA helpers of v1 (`scitq.bio.genetics`): samples of a bioproject or a folder, filters."""

from __future__ import annotations

from scitq.bio.genetics import (BioException, Depth, ena_get_samples, filter_by, filter_by_layout,
                                find_library_layout, sra_get_samples, uri_get_samples, user_friendly_depth)

__all__ = ["BioException", "Depth", "ena_get_samples", "sra_get_samples", "uri_get_samples", "find_library_layout",
           "filter_by_layout", "filter_by", "user_friendly_depth"]
