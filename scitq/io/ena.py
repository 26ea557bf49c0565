"""Provides `run+fastq://<run>` and `run+submitted://<run>`: a sequencing run fetched from ENA, else SRA.

v1's method: ask the ENA portal `filereport` for the run's files (30 s timeout, 4 tries), then try
the methods in order `aspera` (only when `ascp` is installed), `ftp`, `sra` (run+fastq only), each
downloaded file MD5-checked against ENA. An empty or unreachable ENA answer goes straight to SRA.
Options force one method (`@aspera`, `@ftp`, `@sra`; `@ena` means aspera then ftp), `@filter_r1`
keeps read 1 only. The whole fetch is retried as a public source (SCITQ_IO_PUBLIC_RETRIES).
The `sra` method downloads `<SCITQ_SRA_URL>/<run>/<run>` and needs `fasterq-dump` (sra-tools).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from scitq.io.config import io_settings
from scitq.io.errors import NoRetry, TransferError
from scitq.io.progress import Watch
from scitq.io.retry import describe, retrying
from scitq.io.uri import URI, parse_uri

__all__ = ["RunFile", "ena_files", "fetch_run"]

log = logging.getLogger("scitq.io")
ENA_TIMEOUT = 30.0
ENA_TRIES = 4


@dataclass(frozen=True)
class RunFile:
    url: str
    md5: str | None

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def _query(run: str, prefix: str) -> list[dict] | None:
    """ENA's rows for `run`, or None when ENA has nothing (empty, 204) or cannot be reached."""
    from scitq.io.stores.http import open_url

    fields = f"{prefix}_md5,{prefix}_aspera,{prefix}_ftp" + (",sra_md5,sra_ftp" if prefix == "fastq" else "")
    url = (f"{io_settings().ena_url}/filereport?accession={urllib.parse.quote(run)}&result=read_run"
           f"&fields={fields}&format=json&download=true&limit=0")

    def ask() -> list[dict] | None:
        with open_url(url, timeout=ENA_TIMEOUT) as resp:
            if resp.status == 204:
                return None
            body = resp.read().decode("utf-8", "replace").strip()
        if not body:
            return None
        rows = json.loads(body)
        return rows if isinstance(rows, list) and rows else None

    try:
        return retrying(ask, what=f"ENA query for {run}", tries=ENA_TRIES)
    except FileNotFoundError:
        return None
    except Exception as exc:
        log.warning("ENA cannot be asked about %s (%s): trying SRA", run, describe(exc))
        return None


def ena_files(rows: list[dict], prefix: str, method: str) -> list[RunFile]:
    """Files of the ENA rows for one method (`ftp` or `aspera`)."""
    out: list[RunFile] = []
    for row in rows:
        locations = [x for x in (row.get(f"{prefix}_{method}") or "").split(";") if x]
        md5s = [x for x in (row.get(f"{prefix}_md5") or "").split(";")]
        for i, loc in enumerate(locations):
            if method == "ftp" and "://" not in loc:
                loc = "ftp://" + loc
            out.append(RunFile(loc, md5s[i] if i < len(md5s) and md5s[i] else None))
    return out


def _only_r1(files: list[RunFile]) -> list[RunFile]:
    reads1 = [f for f in files if f.name.split(".")[0].endswith("_1")]
    return reads1 or files


def _check_md5(path: Path, expected: str | None) -> None:
    if not expected:
        return
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if h.hexdigest() != expected:
        path.unlink(missing_ok=True)
        raise ConnectionError(f"{path.name}: MD5 {h.hexdigest()} differs from ENA's {expected}")


def _download_one(f: RunFile, dest: Path, watch: Watch) -> Path:
    from scitq.io.stores import open_store

    target = dest / f.name
    if f.url.startswith("fasp:") or "://" not in f.url:
        _ascp(f.url, dest)
    else:
        uri = parse_uri(f.url)
        store = open_store(uri)
        store.download(store.path_of(uri), str(target), watch)
    _check_md5(target, f.md5)
    watch.file_done()
    return target


def _ascp(location: str, dest: Path) -> None:
    key = os.environ.get("SCITQ_ASPERA_KEY") or os.path.expanduser("~/.aspera/connect/etc/asperaweb_id_dsa.openssh")
    res = subprocess.run(["ascp", "-QT", "-l", "300m", "-P33001", "-i", key, f"era-fasp@{location}", str(dest)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise ConnectionError(f"ascp: {(res.stderr.strip().splitlines() or ['failed'])[-1]}")


def _parallel(files: list[RunFile], dest: Path, watch: Watch) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, min(len(files), 4))) as pool:
        return list(pool.map(lambda f: _download_one(f, dest, watch), files))


def _sra(run: str, dest: Path, watch: Watch, filter_r1: bool) -> list[Path]:
    from scitq.io.stores.http import http_get

    tool = shutil.which("fasterq-dump")
    if tool is None:
        raise NoRetry(f"run {run}: the sra method needs fasterq-dump (sra-tools) on PATH")
    dest.mkdir(parents=True, exist_ok=True)
    sra_file = dest / f"{run}.sra"
    http_get(f"{io_settings().sra_url}/{run}/{run}", str(sra_file), watch)
    if shutil.which("vdb-validate"):
        subprocess.run(["vdb-validate", str(sra_file)], check=True, capture_output=True)
    before = set(dest.iterdir())
    res = subprocess.run([tool, "-f", "-F", "--split-files", "-O", str(dest), str(sra_file)],
                         capture_output=True, text=True)
    sra_file.unlink(missing_ok=True)
    if res.returncode != 0:
        raise ConnectionError(f"fasterq-dump {run}: {(res.stderr.strip().splitlines() or ['failed'])[-1]}")
    fastqs = sorted(p for p in set(dest.iterdir()) - before if p.name.endswith(".fastq"))
    if filter_r1 and any(p.name.endswith("_1.fastq") for p in fastqs):
        for p in fastqs:
            if not p.name.endswith("_1.fastq"):
                p.unlink()
        fastqs = [p for p in fastqs if p.name.endswith("_1.fastq")]
    pigz = shutil.which("pigz") or shutil.which("gzip")
    if pigz is None:
        return fastqs
    subprocess.run([pigz, "-f", *map(str, fastqs)], check=True, capture_output=True)
    return [p.with_name(p.name + ".gz") for p in fastqs]


def _methods(uri: URI) -> list[str]:
    opts = set(uri.opts)
    forced: list[str] = [m for m in ("aspera", "ftp", "sra") if m in opts]
    if forced:
        return forced
    order = ["aspera", "ftp"] + (["sra"] if uri.proto == "run+fastq" and "ena" not in opts else [])
    return [m for m in order if m != "aspera" or shutil.which("ascp")]


def fetch_run(uri: URI, dest: Path, watch: Watch) -> list[Path]:
    """Download the files of the run named by `uri` into `dest`; return their paths."""
    run = uri.resource
    prefix = "fastq" if uri.proto == "run+fastq" else "submitted"
    filter_r1 = "filter_r1" in uri.opts

    def attempt() -> list[Path]:
        rows = _query(run, prefix)
        errors: list[str] = []
        for method in _methods(uri):
            watch.check()
            if method == "sra":
                if prefix != "fastq":
                    continue
                try:
                    return _sra(run, dest, watch, filter_r1)
                except Exception as exc:
                    errors.append(f"sra: {describe(exc)}")
                    continue
            if rows is None:
                errors.append(f"{method}: ENA has no file for {run}")
                continue
            files = ena_files(rows, prefix, method)
            if not files:
                errors.append(f"{method}: ENA lists no {prefix} file")
                continue
            if filter_r1:
                files = _only_r1(files)
            try:
                return _parallel(files, dest, watch)
            except TransferError:
                raise
            except Exception as exc:
                errors.append(f"{method}: {describe(exc)}")
        if not errors:
            raise NoRetry("no download method available")
        final = all("no file" in e or "lists no" in e or "needs fasterq-dump" in e for e in errors)
        message = "; ".join(errors)
        raise NoRetry(message) if final else ConnectionError(message)

    return retrying(attempt, what=f"download of {uri}", public=True, cancelled=lambda: watch.cancelled)
