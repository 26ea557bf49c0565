"""Provides the data layer's settings, read from the environment at each use (tests change them).

| variable | default | meaning |
|--|--|--|
| `SCITQ_IO_RETRY_DELAY` | 10 | first sleep between two tries (s), doubled at each try (v1) |
| `SCITQ_IO_RETRY_MAX_DELAY` | 900 | longest sleep between two tries (s) |
| `SCITQ_IO_RETRIES` | 3 | tries for private stores (s3, azure, ftp, rclone...) |
| `SCITQ_IO_PUBLIC_RETRIES` | 20 | tries for public sources (http(s), run+fastq, run+submitted) |
| `SCITQ_IO_TIMEOUT` | 60 | network timeout of one request (s) |
| `SCITQ_S3_ENDPOINT` | — | endpoint of an S3-compatible store (else `AWS_ENDPOINT_URL`, else AWS) |
| `SCITQ_ENA_URL` | https://www.ebi.ac.uk/ena/portal/api | ENA portal API |
| `SCITQ_NCBI_URL` | https://eutils.ncbi.nlm.nih.gov/entrez/eutils | NCBI E-utilities |
| `SCITQ_SRA_URL` | https://sra-pub-run-odp.s3.amazonaws.com/sra | SRA run files (`<url>/<run>/<run>`) |
| `RCLONE_CONFIG` | /etc/rclone.conf, then ~/.config/rclone/rclone.conf | rclone remotes |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["IOSettings", "io_settings"]


def _rclone_config_default() -> str | None:
    for candidate in ("/etc/rclone.conf", os.path.expanduser("~/.config/rclone/rclone.conf")):
        if os.path.exists(candidate):
            return candidate
    return None


@dataclass(frozen=True)
class IOSettings:
    retry_delay: float = 10.0
    retry_max_delay: float = 900.0
    retries: int = 3
    public_retries: int = 20
    timeout: float = 60.0
    s3_endpoint: str | None = None
    ena_url: str = "https://www.ebi.ac.uk/ena/portal/api"
    ncbi_url: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
    sra_url: str = "https://sra-pub-run-odp.s3.amazonaws.com/sra"
    rclone_config: str | None = field(default=None)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "IOSettings":
        e = os.environ if env is None else env

        def get(name: str, default, conv=str):
            value = e.get(name)
            return conv(value) if value not in (None, "") else default

        return cls(
            retry_delay=get("SCITQ_IO_RETRY_DELAY", cls.retry_delay, float),
            retry_max_delay=get("SCITQ_IO_RETRY_MAX_DELAY", cls.retry_max_delay, float),
            retries=get("SCITQ_IO_RETRIES", cls.retries, int),
            public_retries=get("SCITQ_IO_PUBLIC_RETRIES", cls.public_retries, int),
            timeout=get("SCITQ_IO_TIMEOUT", cls.timeout, float),
            s3_endpoint=get("SCITQ_S3_ENDPOINT", None),
            ena_url=get("SCITQ_ENA_URL", cls.ena_url).rstrip("/"),
            ncbi_url=get("SCITQ_NCBI_URL", cls.ncbi_url).rstrip("/"),
            sra_url=get("SCITQ_SRA_URL", cls.sra_url).rstrip("/"),
            rclone_config=get("RCLONE_CONFIG", None) or _rclone_config_default(),
        )


def io_settings() -> IOSettings:
    """Current data-layer settings (re-read from the environment: cheap, and tests change it)."""
    return IOSettings.from_env()
