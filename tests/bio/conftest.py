"""A local HTTP server on 127.0.0.1 answering like the ENA portal API and NCBI E-utilities, with
responses of the recorded shapes (JSON filereport rows, esearch JSON, efetch runinfo CSV)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

RUNINFO_HEADER = ("Run,ReleaseDate,LoadDate,spots,bases,spots_with_mates,avgLength,size_MB,AssemblyName,"
                  "download_path,Experiment,LibraryName,LibraryStrategy,LibrarySelection,LibrarySource,"
                  "LibraryLayout,InsertSize,InsertDev,Platform,Model,SRAStudy,BioProject,Study_Pubmed_id,"
                  "ProjectID,Sample,BioSample,SampleType,TaxID,ScientificName,SampleName,g1k_pop_code,source,"
                  "g1k_analysis_group,Subject_ID,Sex,Disease,Tumor,Affection_Status,Analyte_Type,"
                  "Histological_Type,Body_Site,CenterName,Submission,dbgap_study_accession,Consent,RunHash,ReadHash")


def runinfo_row(run: str, biosample: str, layout: str, strategy: str = "WGS") -> str:
    return (f"{run},2020-01-01 10:00:00,2020-01-01 09:00:00,1000,150000,{1000 if layout == 'PAIRED' else 0},150,1,,"
            f"https://sra-downloadb.be-md.ncbi.nlm.nih.gov/sos5/sra-pub-zq-11/{run}/{run}.1,SRX1,lib,{strategy},"
            f"RANDOM,METAGENOMIC,{layout},0,0,ILLUMINA,Illumina HiSeq 2500,SRP1,PRJNA1,,1,SRS1,{biosample},"
            f"simple,408170,human gut metagenome,S1,,,,,,,no,,,,,,UNI,SRA1,,public,ABC,DEF")


def ena_row(run: str, sample: str, layout: str, strategy: str = "WGS") -> dict:
    files = [f"ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/{run}/{run}_1.fastq.gz"]
    if layout == "PAIRED":
        files.append(f"ftp.sra.ebi.ac.uk/vol1/fastq/{run[:6]}/{run}/{run}_2.fastq.gz")
    return {"study_accession": "PRJEB1", "sample_accession": sample, "run_accession": run, "tax_id": "408170",
            "instrument_platform": "ILLUMINA", "instrument_model": "Illumina HiSeq 2500", "library_layout": layout,
            "library_strategy": strategy, "read_count": "1000", "fastq_md5": ";".join("0" * 32 for _ in files),
            "fastq_ftp": ";".join(files), "fastq_aspera": "", "submitted_ftp": "", "sra_bytes": "1000",
            "sra_ftp": f"ftp.sra.ebi.ac.uk/vol1/srr/{run[:6]}/{run}", "sra_aspera": "", "bam_ftp": ""}


class BioServer:
    ena_row = staticmethod(ena_row)
    runinfo_row = staticmethod(runinfo_row)

    def __init__(self) -> None:
        self.ena: dict[str, list[dict]] = {}
        self.sra: dict[str, list[str]] = {}
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status: int, body: str, ctype: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                outer.requests.append(self.path)
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/ena/portal/api/filereport":
                    assert q["result"] == "read_run" and q["format"] == "json" and "run_accession" in q["fields"]
                    acc = q["accession"]
                    if not acc.startswith(("PRJ", "ERP", "SRP")):
                        return self.reply(400, json.dumps({"message": f"Invalid accession: {acc}"}), "application/json")
                    rows = outer.ena.get(acc)
                    if not rows:
                        return self.reply(204, "", "application/json")
                    return self.reply(200, json.dumps(rows), "application/json")
                if url.path == "/eutils/esearch.fcgi":
                    assert q["db"] == "sra" and q["usehistory"] == "y"
                    project = q["term"].removesuffix("[bioproject]")
                    count = len(outer.sra.get(project, []))
                    result = {"count": str(count), "retmax": "0", "retstart": "0", "idlist": [],
                              "translationset": [], "querytranslation": q["term"]}
                    if count:
                        result.update({"querykey": "1", "webenv": f"MCID_{project}"})
                    else:
                        result["errorlist"] = {"phrasesnotfound": [q["term"]], "fieldsnotfound": []}
                    return self.reply(200, json.dumps({"header": {"type": "esearch", "version": "0.3"},
                                                       "esearchresult": result}), "application/json")
                if url.path == "/eutils/efetch.fcgi":
                    assert q["db"] == "sra" and q["rettype"] == "runinfo" and q["query_key"] == "1"
                    project = q["WebEnv"].removeprefix("MCID_")
                    rows = outer.sra[project]
                    # E-utilities repeats the header between batches and ends with a blank line
                    body = "\n".join([RUNINFO_HEADER, *rows[:1], RUNINFO_HEADER, *rows[1:], ""]) + "\n"
                    return self.reply(200, body, "text/csv")
                return self.reply(404, "not found", "text/plain")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def bio_server():
    server = BioServer()
    yield server
    server.close()


@pytest.fixture
def bio(bio_server, monkeypatch) -> BioServer:
    monkeypatch.setenv("SCITQ_ENA_URL", bio_server.url + "/ena/portal/api")
    monkeypatch.setenv("SCITQ_NCBI_URL", bio_server.url + "/eutils")
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    bio_server.ena.clear()
    bio_server.sra.clear()
    bio_server.requests.clear()
    return bio_server
