"""Provides the ENA/SRA helpers of v1 (`scitq.bio.genetics`)."""
