"""roles/prefect_agent/files/cli_profiles_settled.py, which tells the role which CLI users'
Prefect profiles differ (so a re-run writes none), run with the real Python of a throwaway
container of the minimal instance image, against real users and files: a profile as the role
writes it is settled; each kind of drift names its user; a user the script cannot look at is named
(the role's own tasks then say what is wrong); Python without tomllib names every user.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, minimal_instance

SCRIPT = REPO / "roles/prefect_agent/files/cli_profiles_settled.py"
SETTINGS = [
    {"section": None, "option": "active", "value": "prefect-stack", "state": "present"},
    {"section": "profiles.prefect-stack", "option": "PREFECT_API_URL",
     "value": "https://server/api", "state": "present"},
    {"section": "profiles.prefect-stack", "option": "PREFECT_API_SSL_CERT_FILE", "value": "",
     "state": "absent"},
]  # fmt: skip
PROFILE = """active = "prefect-stack"

[profiles.default]
PREFECT_API_URL = "http://elsewhere/api"

[profiles.prefect-stack]
PREFECT_API_URL = "https://server/api"
"""


@pytest.fixture(scope="module")
def host():
    with minimal_instance("prefect-stack-profiles") as name:
        sh(name, "useradd --create-home alice && useradd --create-home bob")
        subprocess.run(["docker", "cp", str(SCRIPT), f"{name}:/tmp/settled.py"], check=True)  # noqa: S603,S607
        yield name


def sh(host: str, script: str, stdin: str | None = None) -> str:
    return subprocess.run(  # noqa: S603
        ["docker", "exec", "-i", host, "sh", "-c", script],  # noqa: S607
        input=stdin, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def write_profile(host: str, user: str, text: str = PROFILE) -> None:
    home = f"/home/{user}"
    path = f"{home}/.prefect/profiles.toml"
    sh(
        host,
        f"rm -rf {home}/.prefect && install -d -m 0700 -o {user} {home}/.prefect && "
        f"cat > {path} && chown {user} {path} && chmod 0600 {path}",
        text,
    )


def unsettled(host: str, users=("alice", "bob"), python="python3") -> list[str]:
    wanted = json.dumps({"users": list(users), "settings": SETTINGS})
    return sh(host, f"{python} /tmp/settled.py", wanted).split()


def test_profiles_as_the_role_writes_them_are_settled(host):
    write_profile(host, "alice")
    write_profile(host, "bob")
    assert unsettled(host) == []


@pytest.mark.parametrize(
    "drift",
    [
        "sed -i 's#https://server/api#https://old/api#' {p}",  # a value differs
        "sed -i '/^active/d' {p}",  # a top-level setting is missing
        "printf 'PREFECT_API_SSL_CERT_FILE = \"/x\"\\n' >> {p}",  # an absent setting is there
        "chmod 0644 {p}",
        "chown root {p}",
        "chmod 0755 $(dirname {p})",
        "rm {p}",
        "printf 'not = [toml\\n' > {p}",
    ],
)
def test_each_drift_names_its_user_only(host, drift):
    write_profile(host, "alice")
    write_profile(host, "bob")
    sh(host, drift.format(p="/home/bob/.prefect/profiles.toml"))
    assert unsettled(host) == ["bob"]


def test_a_user_it_cannot_look_at_is_named(host):
    write_profile(host, "alice")
    assert unsettled(host, users=("alice", "nosuchuser")) == ["nosuchuser"]


def test_python_without_tomllib_names_every_user(host):
    write_profile(host, "alice")
    write_profile(host, "bob")
    no_toml = (
        "python3 -c \"import sys; sys.modules['tomllib'] = None; sys.argv = ['x']; "
        "exec(open('/tmp/settled.py').read())\""
    )
    assert unsettled(host, python=no_toml) == ["alice", "bob"]


def test_the_script_is_what_the_role_runs():
    configure = (REPO / "roles/prefect_agent/tasks/configure.yml").read_text()
    assert "lookup('ansible.builtin.file', 'cli_profiles_settled.py')" in configure
    assert Path(SCRIPT).is_file()
