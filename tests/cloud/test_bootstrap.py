"""The cloud-init user-data of a cloud worker, parsed as YAML as cloud-init does."""

from __future__ import annotations

import base64
import re

import pytest
import yaml

from scitq.cloud.bootstrap import ENV_FILE, RCLONE_FILE, UNIT_FILE, cloud_init
from scitq.cloud.provider import Bootstrap

SECRET_URL = "redis://worker-node1:s3cr3t-p4ss@10.0.0.5:6379/0"


def parsed(**kw):
    boot = Bootstrap(**{"worker": "node1", "server_url": SECRET_URL, "concurrency": 4, "prefetch": 1,
                        "batch": "align", "flavor": "b2-7", "version": "2.0.0", **kw})
    text = cloud_init(boot)
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    files = {f["path"]: f for f in doc["write_files"]}
    contents = {p: base64.b64decode(f["content"]).decode() for p, f in files.items()}
    return text, doc, files, contents


def test_runcmd_is_a_list_of_strings_even_with_colon_space_inside_a_command():
    _, doc, _, _ = parsed(rclone_conf="[s3]\ntype = s3\nendpoint: http://x\n")
    assert isinstance(doc["runcmd"], list) and doc["runcmd"]
    assert all(isinstance(c, str) for c in doc["runcmd"])


def test_the_credential_is_in_a_0600_environment_file_and_never_in_runcmd_or_the_unit():
    text, doc, files, contents = parsed()
    assert not any("s3cr3t" in c for c in doc["runcmd"])
    assert "s3cr3t" not in contents[UNIT_FILE]
    assert files[ENV_FILE]["permissions"] == "0600"
    assert f'SCITQ_SERVER="{SECRET_URL}"' in contents[ENV_FILE].splitlines()
    assert f"EnvironmentFile={ENV_FILE}" in contents[UNIT_FILE]


def test_the_server_version_of_scitq_is_pinned_and_docker_is_installed():
    _, doc, _, _ = parsed(version="2.1.3")
    installs = [c for c in doc["runcmd"] if re.search(r"pip install.*['\s]scitq", c)]
    assert installs and all("scitq==2.1.3" in c for c in installs)
    assert any("docker.io" in c for c in doc["runcmd"])


def test_the_unit_runs_the_worker_with_its_settings_and_is_enabled_and_started():
    _, doc, _, contents = parsed()
    unit = contents[UNIT_FILE]
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert "scitq worker -n node1 -C 4 -p 1 -f b2-7 -b align" in exec_start
    assert "WantedBy=multi-user.target" in unit
    assert "systemctl enable --now scitq-worker.service" in doc["runcmd"]


def test_rclone_and_ca_files_are_written_when_given_and_the_worker_is_told_where():
    _, _, files, contents = parsed(rclone_conf="[s3]\ntype = s3\n", ca_file="-----BEGIN CERTIFICATE-----\nx\n")
    assert contents[RCLONE_FILE] == "[s3]\ntype = s3\n" and files[RCLONE_FILE]["permissions"] == "0600"
    env = contents[ENV_FILE]
    assert 'RCLONE_CONFIG="/etc/rclone.conf"' in env and 'SCITQ_TLS_CA="/etc/scitq/ca.pem"' in env
    _, _, files, _ = parsed()
    assert RCLONE_FILE not in files


def test_quotes_and_backslashes_in_the_environment_are_escaped_for_systemd():
    _, _, _, contents = parsed(env={"EXTRA": 'a "b" \\c'})
    assert 'EXTRA="a \\"b\\" \\\\c"' in contents[ENV_FILE]


@pytest.mark.parametrize("field,value", [("worker", "node 1"), ("worker", "a\nb"), ("version", ""),
                                         ("flavor", "x;rm -rf /")])
def test_unsafe_names_are_refused_with_one_line(field, value):
    with pytest.raises(ValueError) as err:
        parsed(**{field: value})
    assert "\n" not in str(err.value).replace(repr(value), "")
