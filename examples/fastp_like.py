"""A fastp-like quality-control workflow on local FASTQ files, written with scitq's v1 workflow API.

For each `<sample>.fastq` of DATA, a `filter` task keeps the reads at least --min-length long and
writes a small stats file; then one `report` task gathers every sample's stats into a report. Results
go under RESULTS/<sample>/filter/ and RESULTS/report/; task logs under RESULTS/logs/.

    python examples/fastp_like.py DATA RESULTS [--min-length 30] [--container IMAGE] [--name qc]

Workers serve the step batches `<name>.filter` and `<name>.report` (until recruiters move them there:
`scitq worker -b qc.filter`, `scitq worker -b qc.report`). The commands need only a POSIX shell,
`wc` and `cat`, natively or in a small image such as busybox (`--container`).
"""

from __future__ import annotations

import argparse
import os
import sys

from scitq.workflow import Workflow

FILTER = r"""
IN=${INPUT:-/input}; OUT=${OUTPUT:-/output}; mkdir -p $OUT/stats
while read -r head; read -r seq; read -r plus; read -r qual; do
  if [ ${#seq} -ge MINLEN ]; then printf '%s\n%s\n%s\n%s\n' "$head" "$seq" "$plus" "$qual"; fi
done < $IN/SAMPLE.fastq > $OUT/SAMPLE.filtered.fastq
before=$(( $(wc -l < $IN/SAMPLE.fastq) / 4 )); after=$(( $(wc -l < $OUT/SAMPLE.filtered.fastq) / 4 ))
echo "SAMPLE $before $after" > $OUT/stats/SAMPLE.txt
echo "SAMPLE: $after of $before reads kept"
"""

REPORT = r"""
IN=${INPUT:-/input}; OUT=${OUTPUT:-/output}
cat $IN/stats/*.txt > $OUT/report.txt
echo "total reads kept: $(cat $IN/*.filtered.fastq | wc -l | while read n; do echo $((n / 4)); done)" >> $OUT/report.txt
cat $OUT/report.txt
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="folder of <sample>.fastq files")
    p.add_argument("results", help="folder receiving the results")
    p.add_argument("--min-length", type=int, default=30)
    p.add_argument("--container", default=None, help="run the steps in this Docker image")
    p.add_argument("--name", default="qc", help="workflow name (prefix of its batches)")
    args = p.parse_args(argv)
    data, results = os.path.abspath(args.data), os.path.abspath(args.results)
    samples = sorted(f[:-len(".fastq")] for f in os.listdir(data) if f.endswith(".fastq"))
    if not samples:
        print(f"no .fastq file in {data}", file=sys.stderr)
        return 2

    wf = Workflow(name=args.name, shell=True, flavor="local", max_step_workers=1, retry=1,
                  container=args.container, base_storage=results)
    for sample in samples:
        step1 = wf.step(batch="filter", name=f"filter:{sample}", concurrency=4,
                        input=f"{data}/{sample}.fastq", rel_output=f"{sample}/filter/",
                        command=FILTER.replace("SAMPLE", sample).replace("MINLEN", str(args.min_length)))
    report = wf.step(batch="report", name="report", concurrency=1, rel_output="report/",
                     input=step1.gather("output"), required_tasks=step1.gather(), command=REPORT)
    counts = wf.run(refresh=10)
    print(report.get_output(), end="")
    wf.clean(log_destination=os.path.join(results, "logs"))
    return 0 if counts.get("succeeded") == len(samples) + 1 else 1


if __name__ == "__main__":
    sys.exit(main())
