"""The example of docs/cloud-azure.md runs as written, in its own process, configured only through the
environment: against the fake ARM double and the Retail Prices API double (`cloud.fake_azure`) on loopback."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from cloud.fake_azure import SUBSCRIPTION, FakeARM, FakePrices, price, sku, usage

DOC = Path(__file__).resolve().parents[2] / "docs" / "cloud-azure.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_azure_doc_example_runs_against_the_doubles(tmp_path):
    """Uses the fake ARM double (async operations) and the Retail Prices API double."""
    assert len(BLOCKS) == 1
    arm = FakeARM(lro="async").start()
    prices = FakePrices([price("Standard_D2s_v5", 0.02, spot=True), price("Standard_D4s_v5", 0.04, spot=True),
                         price("Standard_B1s", 0.001, spot=True)]).start()
    arm.skus = [sku("Standard_D2s_v5", 2, 8), sku("Standard_D4s_v5", 4, 16), sku("Standard_B1s", 1, 1)]
    arm.usages["westeurope"] = [usage("lowPriorityCores", 20, 0)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_") and not k.startswith("SCITQ_AZURE_")}
    env.update({"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION, "AZURE_REGIONS": "westeurope", "SCITQ_AZURE_ARM_URL": arm.url,
                "SCITQ_AZURE_PRICES_URL": prices.url + "/api/retail/prices", "SCITQ_HOME": str(tmp_path / "home")})
    try:
        res = subprocess.run([sys.executable, "-c", BLOCKS[0]], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=120)
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines()[0] == "Standard_D2s_v5 2 cpu 8.0 GB 0.02 per hour"
        assert "scitq-node1 active 203.0.113." in res.stdout
        (put,) = arm.received("PUT", "virtualmachines")
        user_data = yaml.safe_load(base64.b64decode(put.body["properties"]["osProfile"]["customData"]))
        assert isinstance(user_data["runcmd"], list) and all(isinstance(c, str) for c in user_data["runcmd"])
        assert arm.names("virtualmachines") == [] and arm.names("resourcegroups") == ["scitq-network"]
    finally:
        arm.stop()
        prices.stop()
