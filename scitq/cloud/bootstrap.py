"""Provides `cloud_init(boot)`: the cloud-init user-data that turns a fresh Ubuntu machine into a scitq worker.

The user-data (`#cloud-config`) installs Docker and `scitq==<the server's version>` (pip, in a virtualenv),
writes the rclone configuration and the CA certificate if any (`write_files`, base64-encoded), writes the worker's settings to
`/etc/scitq-worker.env` (mode 0600: it holds the worker's own credential URL, which is never on a command
line nor in `runcmd`), and a systemd unit `scitq-worker.service` running `scitq worker`, enabled and started.

Every `runcmd` entry is a plain string, emitted as a quoted YAML scalar: a `": "` inside a command cannot turn
it into a mapping (cloud-init would then drop every command).
"""

from __future__ import annotations

import base64
import json
import re
import shlex

from scitq.cloud.provider import Bootstrap

__all__ = ["cloud_init", "ENV_FILE", "UNIT_FILE", "RCLONE_FILE", "CA_FILE", "VENV"]

ENV_FILE = "/etc/scitq-worker.env"
UNIT_FILE = "/etc/systemd/system/scitq-worker.service"
RCLONE_FILE = "/etc/rclone.conf"
CA_FILE = "/etc/scitq/ca.pem"
VENV = "/opt/scitq"
HOME = "/var/lib/scitq"
_SAFE = re.compile(r"^[A-Za-z0-9._+-]+$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _q(s: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML double-quoted scalars)."""
    return json.dumps(s)


def _env_line(key: str, value: str) -> str:
    # systemd EnvironmentFile: KEY="value" with \ and " escaped
    return f'{key}="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def worker_command(boot: Bootstrap) -> list[str]:
    """The `scitq worker` command line of the unit (no credential: it is read from SCITQ_SERVER)."""
    cmd = [f"{VENV}/bin/scitq", "worker", "-n", boot.worker, "-C", str(boot.concurrency), "-p", str(boot.prefetch),
           "-f", boot.flavor]
    if boot.batch:
        cmd += ["-b", boot.batch]
    return cmd


def cloud_init(boot: Bootstrap) -> str:
    """The `#cloud-config` user-data of a machine that runs the worker `boot.worker` (see the module docstring)."""
    if not boot.version:
        raise ValueError("Bootstrap.version is required: the worker installs the server's scitq version")
    for what, value in (("worker", boot.worker), ("flavor", boot.flavor), ("batch", boot.batch or "x"),
                        ("version", boot.version)):
        if not _SAFE.match(value):
            raise ValueError(f"Bootstrap.{what} {value!r} must be letters, digits, '.', '_', '-' or '+'")
    for key in boot.env:
        if not _ENV_KEY.match(key):
            raise ValueError(f"Bootstrap.env: {key!r} is not an environment variable name")
    env = {"SCITQ_SERVER": boot.server_url, "SCITQ_HOME": HOME, **boot.env}
    if boot.ca_file:
        env["SCITQ_TLS_CA"] = CA_FILE
    if boot.rclone_conf:
        env["RCLONE_CONFIG"] = RCLONE_FILE
    env_text = "\n".join(_env_line(k, v) for k, v in env.items()) + "\n"
    unit = (
        "[Unit]\n"
        f"Description=scitq worker {boot.worker}\n"
        "After=network-online.target docker.service\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        f"EnvironmentFile={ENV_FILE}\n"
        f"ExecStart={shlex.join(worker_command(boot))}\n"
        "Restart=always\n"
        "RestartSec=5\n"
        "KillMode=process\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
    files = [(ENV_FILE, "0600", env_text), (UNIT_FILE, "0644", unit)]
    if boot.rclone_conf:
        files.append((RCLONE_FILE, "0600", boot.rclone_conf))
    if boot.ca_file:
        files.append((CA_FILE, "0644", boot.ca_file))
    runcmd = [
        "apt-get update",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io python3-venv python3-pip rclone",
        "systemctl enable --now docker",
        f"mkdir -p {HOME}",
        f"python3 -m venv {VENV}",
        f"{VENV}/bin/pip install --upgrade pip",
        f"{VENV}/bin/pip install {shlex.quote('scitq==' + boot.version)}",
        "systemctl daemon-reload",
        "systemctl enable --now scitq-worker.service",
    ]
    lines = ["#cloud-config", "write_files:"]
    for path, mode, content in files:     # base64: any content (leading spaces, quotes, no final newline) is safe
        lines += [f"  - path: {_q(path)}", "    owner: root:root", f"    permissions: {_q(mode)}",
                  "    encoding: b64", f"    content: {base64.b64encode(content.encode()).decode()}"]
    lines.append("runcmd:")
    lines += [f"  - {_q(cmd)}" for cmd in runcmd]
    return "\n".join(lines) + "\n"
