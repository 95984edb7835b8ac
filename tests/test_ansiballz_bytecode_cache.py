"""The test images' bytecode cache for Ansible's module payloads (scripts/test-images).

Against a throwaway container of the minimal instance image, as the scenarios' hosts run it: a real
playbook fills the cache and a second run reads it without compiling anything new; a corrupt entry
is compiled again and replaced; a cache directory others could write is not used; an entry is
never served for a changed source; a traceback names the archive the module came from this time.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import minimal_instance, run_playbook_json

CACHE = "/var/cache/ansiballz-bytecode"

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.command: "true"
      changed_when: false
    - ansible.builtin.stat:
        path: /etc/hostname
"""

# Runs on the host as root: the same module name from two archives, with different sources, then
# the first source again from a third archive.
ZIP_IMPORTS = r"""
import subprocess, sys, zipfile

def archive(path, source):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("probe.py", source)

def run(path):
    code = "import sys; sys.path.insert(0, %r); import probe; print(probe.answer()); probe.fail()"
    proc = subprocess.run([sys.executable, "-c", code % path], capture_output=True, text=True)
    return proc.stdout.strip(), proc.stderr

one = "def answer():\n    return 'one'\n\ndef fail():\n    raise RuntimeError('from probe')\n"
archive("/root/a.zip", one)
archive("/root/b.zip", one.replace("'one'", "'two'"))
archive("/root/c.zip", one)
for path in ("/root/a.zip", "/root/b.zip", "/root/c.zip"):
    out, err = run(path)
    print(path, out, "traceback names", path if path + "/probe.py" in err else "another file")
"""


@pytest.fixture
def host():
    with minimal_instance("prefect-stack-bytecode") as name:
        yield name


def on_host(host: str, script: str, stdin: str | None = None) -> str:
    proc = subprocess.run(  # noqa: S603
        ["docker", "exec", "-i", host, "sh", "-c", script],  # noqa: S607
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def cache_entries(host: str) -> dict[str, str]:
    """Each cached file by name, with its checksum."""
    out = on_host(host, f"cd {CACHE} 2>/dev/null && sha256sum * 2>/dev/null || true")
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def play(tmp_path: Path, host: str) -> None:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.yml").write_text(
        f"all:\n  hosts:\n    {host}:\n      ansible_connection: community.docker.docker\n"
        "      ansible_python_interpreter: /usr/bin/python3\n"
    )
    proc, report = run_playbook_json(
        ["-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")]
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert report["stats"][host]["failures"] == 0


def test_modules_compile_once_and_a_corrupt_entry_is_replaced(host, tmp_path):
    play(tmp_path, host)
    first = cache_entries(host)
    # ansible.module_utils.basic and what it imports, the two modules, their packages' __init__s.
    assert len(first) > 20, first
    assert on_host(host, f"stat -c %a {CACHE}").strip() == "700"

    play(tmp_path, host)
    assert cache_entries(host) == first, "the second run compiled something again"

    corrupt = sorted(first)[0]
    on_host(host, f"printf 'not bytecode' >{CACHE}/{corrupt}")
    garbage = cache_entries(host)[corrupt]
    play(tmp_path, host)
    after = cache_entries(host)
    assert after.keys() == first.keys()
    assert after[corrupt] != garbage, "the corrupt entry was not compiled again and replaced"
    assert int(on_host(host, f"stat -c %s {CACHE}/{corrupt}")) > 100


def test_a_cache_others_can_write_is_not_used(host, tmp_path):
    on_host(host, f"mkdir -p {CACHE} && chmod 0777 {CACHE}")
    play(tmp_path, host)
    assert cache_entries(host) == {}


def test_an_entry_is_never_served_for_another_source(host):
    lines = on_host(host, "python3 -", stdin=ZIP_IMPORTS).splitlines()
    assert lines == [
        "/root/a.zip one traceback names /root/a.zip",
        "/root/b.zip two traceback names /root/b.zip",
        # Read from the cache (a.zip's entry), yet the traceback names this archive.
        "/root/c.zip one traceback names /root/c.zip",
    ]
    assert len(cache_entries(host)) == 2
