"""Provides v1's sample helpers: runs of a bioproject from ENA or SRA, samples of a storage folder, filters.

Return shape (v1): `{sample: [argparse.Namespace(<run fields>, uri=...)]}`, the `uri` being ready to
use as a task input (`run+fastq://<run>` for ENA, `run+fastq@sra://<run>` for SRA).

HTTP endpoints: `SCITQ_ENA_URL` (ENA portal API, default https://www.ebi.ac.uk/ena/portal/api) and
`SCITQ_NCBI_URL` (E-utilities, default https://eutils.ncbi.nlm.nih.gov/entrez/eutils; `NCBI_API_KEY`
is passed along when set). Parsing is pure (`parse_ena_runs`, `parse_runinfo`); the HTTP layer is
`_http_get`.
"""

from __future__ import annotations

import copy
import csv
import importlib
import io
import json
import logging
import math
import os
import re
import statistics
import urllib.error
import urllib.parse
import urllib.request
from argparse import Namespace
from typing import Any, Callable, Iterable

from scitq.errors import BadInput

__all__ = ["BioException", "Depth", "ena_get_samples", "sra_get_samples", "uri_get_samples", "find_library_layout",
           "filter_by_layout", "filter_by", "user_friendly_depth", "parse_ena_runs", "parse_runinfo",
           "snake_header", "FASTQ_PARITY", "ENA_FIELDS"]

log = logging.getLogger("scitq.bio")

ENA_FIELDS = ("study_accession,sample_accession,run_accession,tax_id,instrument_platform,instrument_model,"
              "library_layout,library_strategy,read_count,fastq_md5,fastq_ftp,fastq_aspera,submitted_ftp,"
              "sra_bytes,sra_ftp,sra_aspera,bam_ftp")
FASTQ_PARITY = re.compile(r"^.*?([12])\.f(?:ast)?q(?:\.gz)?$")
DEPTH = re.compile(r"^(?P<pair1>[12]x)?(?P<core>\d+)(?P<unit>[kmg]?)(?P<pair2>x[12])?$")
TIMEOUT = 60.0


class BioException(BadInput):
    """A project, a folder or a depth string that cannot give samples (unknown, empty, ambiguous)."""


# --- HTTP --------------------------------------------------------------------------------------------
def _ena_url() -> str:
    return (os.environ.get("SCITQ_ENA_URL") or "https://www.ebi.ac.uk/ena/portal/api").rstrip("/")


def _ncbi_url() -> str:
    return (os.environ.get("SCITQ_NCBI_URL") or "https://eutils.ncbi.nlm.nih.gov/entrez/eutils").rstrip("/")


def _http_get(url: str, what: str) -> tuple[int, str]:
    """(status, body) of a GET; network failures become BioException naming `what`."""
    req = urllib.request.Request(url, headers={"User-Agent": "scitq-bio/2"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BioException(f"{what} cannot be reached: {reason}") from None


# --- ENA ---------------------------------------------------------------------------------------------
def parse_ena_runs(rows: Any, bioproject: str) -> list[Namespace]:
    """ENA filereport JSON rows -> runs with `uri='run+fastq://<run_accession>'`."""
    if isinstance(rows, dict) and "message" in rows:
        raise BioException(f"ENA does not know {bioproject}: {rows['message']}")
    if not isinstance(rows, list):
        raise BioException(f"Unexpected answer from EBI ENA when querying {bioproject}: {str(rows)[:200]}")
    runs = []
    for item in rows:
        if not isinstance(item, dict):
            raise BioException(f"Unexpected answer from EBI ENA when querying {bioproject}: {str(item)[:200]}")
        run = Namespace(**item)
        run.uri = f"run+fastq://{item.get('run_accession', '')}"
        runs.append(run)
    return runs


def _group(runs: Iterable[Namespace], key: str, library_layout: str | None,
           library_strategy: str | None) -> dict[str, list[Namespace]]:
    samples: dict[str, list[Namespace]] = {}
    for run in runs:
        if library_strategy and getattr(run, "library_strategy", None) != library_strategy:
            continue
        if library_layout and getattr(run, "library_layout", None) != library_layout:
            continue
        samples.setdefault(getattr(run, key), []).append(run)
    return samples


def ena_get_samples(bioproject: str, library_layout: str | None = None,
                    library_strategy: str | None = None) -> dict[str, list[Namespace]]:
    """Runs of `bioproject` in ENA grouped by `sample_accession`, optionally filtered (exact match) by
    library_layout (PAIRED/SINGLE) and library_strategy (WGS, AMPLICON...)."""
    query = urllib.parse.urlencode({"accession": bioproject, "result": "read_run", "fields": ENA_FIELDS,
                                    "format": "json", "download": "true", "limit": "0"}, safe=",")
    status, body = _http_get(f"{_ena_url()}/filereport?{query}", "EBI ENA")
    if status == 204 or (status == 200 and not body.strip()):
        raise BioException(f"No such bioproject {bioproject} in ENA (no run found)")
    try:
        rows = json.loads(body)
    except ValueError:
        raise BioException(f"Unexpected answer from EBI ENA when querying {bioproject} (HTTP {status})") from None
    if status != 200 and not (isinstance(rows, dict) and "message" in rows):
        raise BioException(f"EBI ENA answered HTTP {status} for {bioproject}")
    runs = parse_ena_runs(rows, bioproject)
    if not runs:
        raise BioException(f"No such bioproject {bioproject} in ENA (no run found)")
    return _group(runs, "sample_accession", library_layout, library_strategy)


# --- SRA ---------------------------------------------------------------------------------------------
_WORDS = re.compile(r"[A-Z]?[^A-Z]+|[A-Z]{2,3}")


def snake_header(header: str) -> str:
    """v1's conversion of SRA runinfo headers: Run -> run, ReleaseDate -> release_date, size_MB -> size_mb,
    BioSample -> bio_sample, TaxID -> tax_id, SRAStudy -> sra_study."""
    words = [w[:-1].lower() if w.endswith("_") else w.lower() for w in _WORDS.findall(header)]
    return "_".join(words) if words else header


def parse_runinfo(text: str) -> list[Namespace]:
    """NCBI efetch runinfo CSV -> runs with snake_case fields, `sample_accession=bio_sample` and
    `uri='run+fastq@sra://<run>'`. Repeated header lines and blank lines are skipped."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    names = [snake_header(h) for h in next(csv.reader([header]))]
    body = [line for line in lines[1:] if line != header]
    runs = []
    for row in csv.reader(io.StringIO("\n".join(body))):
        item = dict(zip(names, row))
        if not item.get("run"):
            continue
        run = Namespace(**item)
        run.uri = f"run+fastq@sra://{run.run}"
        run.sample_accession = item.get("bio_sample", "")
        runs.append(run)
    return runs


def sra_get_samples(bioproject: str, library_layout: str | None = None,
                    library_strategy: str | None = None) -> dict[str, list[Namespace]]:
    """Runs of `bioproject` in NCBI SRA (E-utilities esearch + efetch runinfo) grouped by `bio_sample`,
    optionally filtered like `ena_get_samples`."""
    key = os.environ.get("NCBI_API_KEY")
    extra = {"api_key": key} if key else {}
    query = urllib.parse.urlencode({"db": "sra", "term": f"{bioproject}[bioproject]", "usehistory": "y",
                                    "retmode": "json", "retmax": "0", **extra})
    status, body = _http_get(f"{_ncbi_url()}/esearch.fcgi?{query}", "NCBI E-utilities")
    try:
        result = json.loads(body)["esearchresult"]
    except (ValueError, KeyError, TypeError):
        raise BioException(f"Unexpected answer from NCBI esearch for {bioproject} (HTTP {status})") from None
    if "ERROR" in result:
        raise BioException(f"NCBI esearch refused {bioproject}: {result['ERROR']}")
    if int(result.get("count") or 0) == 0:
        raise BioException(f"No such bioproject {bioproject}")
    query = urllib.parse.urlencode({"db": "sra", "rettype": "runinfo", "retmode": "text",
                                    "WebEnv": result.get("webenv", ""), "query_key": result.get("querykey", ""),
                                    **extra})
    status, body = _http_get(f"{_ncbi_url()}/efetch.fcgi?{query}", "NCBI E-utilities")
    if status != 200:
        raise BioException(f"NCBI efetch answered HTTP {status} for {bioproject}")
    runs = parse_runinfo(body)
    if not runs:
        raise BioException(f"No such bioproject {bioproject}")
    return _group(runs, "bio_sample", library_layout, library_strategy)


# --- storage folders ---------------------------------------------------------------------------------
def _default_lister() -> Callable[[str], list[Any]]:
    # The data layer is a sibling of this package: it is looked up at run time, not imported statically.
    return importlib.import_module("scitq.io").list_content


def _spread_ok(groups: dict[str, list[str]]) -> bool:
    counts = [len(v) for v in groups.values()]
    return len(counts) < 2 or statistics.stdev(counts) <= statistics.mean(counts)


def _layout(files: list[str], ending: str) -> str:
    ones = sum(f.endswith(f"1{ending}") for f in files)
    twos = sum(f.endswith(f"2{ending}") for f in files)
    return "PAIRED" if ones and ones == twos else "SINGLE"


def uri_get_samples(uri: str, ending: str = ".fastq.gz", alternate_endings: list[str] | None = None, *,
                    list_content: Callable[[str], list[Any]] | None = None) -> dict[str, list[Namespace]]:
    """Samples of the FASTQ files under the folder `uri`: grouped by parent folder when that looks
    regular (at most 3 files per sample), else by the longest common name prefix that groups them;
    `library_layout` is PAIRED when a sample has as many `1<ending>` as `2<ending>` files."""
    endings = [ending] + list(alternate_endings if alternate_endings is not None else [".fastq", ".fq.gz", ".fq"])
    listing = (list_content or _default_lister())(uri)
    files: list[Any] = []
    for ending in endings:
        files = [f for f in listing if f.rel_name.endswith(ending)]
        if files:
            break
    if not files:
        raise BioException(f"{uri} does not seem to contain sample files ({', '.join(endings)})")
    by_folder: dict[str, list[str]] = {}
    for f in files:
        parts = f.name.rstrip("/").split("/")
        by_folder.setdefault(parts[-2] if len(parts) > 1 else "", []).append(f.name)
    if len(files) / len(by_folder) <= 3 and _spread_ok(by_folder):
        log.info("samples of %s are grouped by folder", uri)
        groups = by_folder
    else:
        start = math.floor(statistics.mean(len(f.rel_name) for f in files)) - len(ending)
        groups = {}
        for length in range(start, 0, -1):
            candidate: dict[str, list[str]] = {}
            for f in files:
                candidate.setdefault(f.rel_name[:length], []).append(f.name)
            if len(files) / len(candidate) >= 1.5 and _spread_ok(candidate):
                log.info("samples of %s are grouped by a common prefix of %d characters", uri, length)
                groups = candidate
                break
        if not groups:
            log.info("samples of %s: no grouping found, one sample per name prefix", uri)
            for f in files:
                groups.setdefault(f.rel_name[:max(start, 1)], []).append(f.name)
    return {sample: [Namespace(sample_accession=sample, uri=name, library_layout=_layout(names, ending))
                     for name in names] for sample, names in groups.items()}


# --- filters -----------------------------------------------------------------------------------------
def find_library_layout(samples: dict[str, list[Namespace]]) -> str:
    """The dominant layout, one vote per sample (a sample with a PAIRED run votes PAIRED); a tie is an error."""
    paired = single = 0
    for runs in samples.values():
        layouts = {getattr(r, "library_layout", None) for r in runs}
        if "PAIRED" in layouts:
            paired += 1
        elif "SINGLE" in layouts:
            single += 1
    if paired == single:
        raise BioException(f"Cannot decide: paired vote {paired} vs single vote {single}")
    return "PAIRED" if paired > single else "SINGLE"


def filter_by_layout(samples: dict[str, list[Namespace]], paired: bool,
                     use_only_r1: bool = True) -> dict[str, list[Namespace]]:
    """paired=True keeps PAIRED runs. paired=False keeps SINGLE runs and, with `use_only_r1`, turns PAIRED
    runs into their read 1 (`run+fastq` -> `run+fastq@filter_r1`, file URIs: only `*1.f(ast)q(.gz)`)."""
    out: dict[str, list[Namespace]] = {}
    for sample, runs in samples.items():
        kept: list[Namespace] = []
        for run in runs:
            layout = getattr(run, "library_layout", None)
            if paired:
                if layout == "PAIRED":
                    kept.append(run)
            elif layout != "PAIRED":
                kept.append(run)
            elif use_only_r1:
                if run.uri.startswith("run+fastq"):
                    new = copy.deepcopy(run)
                    proto, _, rest = new.uri.partition("://")
                    if "filter_r1" not in proto.split("@"):
                        new.uri = f"{proto}@filter_r1://{rest}"
                    kept.append(new)
                else:
                    m = FASTQ_PARITY.match(run.uri)
                    if m is None or m.group(1) == "1":
                        kept.append(run)
        if kept:
            out[sample] = kept
    return out


def filter_by(samples: dict[str, list[Namespace]], **filters: Any) -> dict[str, list[Namespace]]:
    """Keep runs whose attributes equal every given value, e.g. `filter_by(samples, library_strategy='WGS')`."""
    out: dict[str, list[Namespace]] = {}
    for sample, runs in samples.items():
        kept = [r for r in runs if all(getattr(r, k, None) == v for k, v in filters.items())]
        if kept:
            out[sample] = kept
    return out


class Depth:
    """A sequencing depth: a number of reads (or of pairs), paired or single or unknown (None)."""

    def __init__(self, read_number: int, paired: bool | None = None) -> None:
        self.read_number = read_number
        self.paired = paired
        self.single = not paired

    def __repr__(self) -> str:
        return f"Depth({self.read_number}{f',paired={self.paired}' if self.paired is not None else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Depth) and self.to_tuple() == other.to_tuple()

    def to_tuple(self) -> tuple[int, bool | None]:
        return (self.read_number, self.paired)

    @property
    def total_read_number(self) -> int:
        return self.read_number * 2 if self.paired else self.read_number


_UNITS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def user_friendly_depth(depth_string: str) -> Depth:
    """'10M' -> Depth(10000000), '2x10M' or '10Mx2' -> paired, '100kx1' or '1x100k' -> single."""
    m = DEPTH.match(str(depth_string).strip().lower())
    if m is None or (m["pair1"] and m["pair2"]):
        raise BioException(f"{depth_string!r} does not look like a depth (like 10M, 2x10M, 10Mx2 or 100kx1)")
    pairing = m["pair1"] or m["pair2"]
    paired = None if pairing is None else "2" in pairing
    return Depth(read_number=int(m["core"]) * _UNITS[m["unit"]], paired=paired)
