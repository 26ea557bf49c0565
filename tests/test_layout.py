"""The structure stays visible: key names in one module, import layers, compose stack, CI = README."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_every_redis_key_name_is_built_in_keys_py():
    offenders = []
    for path in (ROOT / "scitq").rglob("*.py"):
        if path.name == "keys.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""["']scitq:[a-z_{]""", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_import_layers_hold():
    exe = shutil.which("lint-imports")
    assert exe, "import-linter is a test dependency"
    res = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_compose_stack_has_valkey_server_and_worker_wired_together():
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = doc["services"]
    assert set(services) >= {"valkey", "access", "server", "worker"}
    valkey_cmd = " ".join(services["valkey"]["command"])
    assert "--appendonly yes" in valkey_cmd and "--aclfile /data/users.acl" in valkey_cmd
    assert "user default off" in valkey_cmd
    assert services["server"]["command"][:2] == ["scitq", "server"]
    assert services["server"]["environment"]["SCITQ_REDIS"].startswith("redis://server-compose:")
    assert "@valkey:6379" in services["server"]["environment"]["SCITQ_REDIS"]
    assert services["worker"]["command"][:4] == ["scitq", "worker", "--name", "compose-worker"]
    assert services["worker"]["environment"]["SCITQ_SERVER"].startswith("redis://worker-compose-worker:")
    assert services["access"]["depends_on"]["valkey"]["condition"] == "service_healthy"
    assert services["server"]["depends_on"]["access"]["condition"] == "service_completed_successfully"
    assert "server" in services["worker"]["depends_on"]
    for name in ("server", "worker"):
        assert "valkey:6379" in services[name]["environment"]["SCITQ_SERVER"]


def test_compose_puts_no_password_on_a_command_line():
    """Passwords reach Valkey through its ACL file and scitq through the environment, never through argv
    (visible to every user of the machine in `ps`): no command interpolates a variable at deploy time."""
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for name, service in doc["services"].items():
        command = service.get("command", [])
        command = " ".join(command) if isinstance(command, list) else command
        health = " ".join(service.get("healthcheck", {}).get("test", []))
        for text in (command, health):
            assert "PASSWORD}" not in text and "PASSWORD:?" not in text, (name, text)
            assert "requirepass" not in text and " -a " not in text, (name, text)
    assert set(doc["volumes"]) == {"valkey-data", "worker-data"}
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        res = subprocess.run(["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"],
                             capture_output=True, text=True, env={"SCITQ_REDIS_PASSWORD": "x", "PATH": "/usr/bin:/bin"})
        assert res.returncode == 0, res.stderr


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.S)
    assert len(commands) >= 2
    test_cmd = commands[1].strip()
    assert "scripts/test.sh" in test_cmd
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert "scitq demo" in commands[0]
