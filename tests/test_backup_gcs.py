"""The backup's GCS uploader (roles/prefect_backup/files/prefect-stack-backup-gcs), for real.

The real script runs as the timer runs it (its own interpreter, its own process) against a real
GCS emulator (gcp-storage-emulator from PyPI, in memory) behind a small stand-in of what the
emulator lacks: the VM's metadata server, which hands out a token, and GCS's authorization,
which checks the Bearer token on every storage request (the emulator accepts anything), records
each request with its Authorization header and, while a request is in flight, the client's
command line and environment (/proc/<pid>). The stand-in can also refuse uploads with GCS's 403
and split a listing into pages (the emulator answers one page, whatever maxResults says).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import REPO, VENV_BIN, ansible_env
from gcp_storage_emulator.server import create_server

UPLOADER = REPO / "roles" / "prefect_backup" / "files" / "prefect-stack-backup-gcs"
BUCKET = "prefect-stack-test-backups"
PREFIX = "prefect-stack/host-a/"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"  # noqa: S105
RUNS = ("20261201T023000Z", "20261202T023000Z")
DENIED = (
    "upload@prefect-stack.iam.gserviceaccount.com does not have storage.objects.create access "
    "to the Google Cloud Storage object."
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StandIn(ThreadingHTTPServer):
    """The metadata server and GCS's authorization in front of the emulator."""

    daemon_threads = True

    def __init__(self, emulator_port: int):
        super().__init__(("127.0.0.1", 0), Handler)
        self.emulator_port = emulator_port
        self.token = "ya29.stand-in-" + secrets.token_hex(16)
        self.reset()

    def reset(self) -> None:
        self.requests: list[dict] = []  # method, path, authorization, query
        self.token_requests: list[dict] = []  # the Metadata-Flavor header of each
        self.seen: list[dict] = []  # the client's /proc cmdline and environ, per request
        self.client_pid: int | None = None
        self.deny_uploads = False
        self.page_size: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, *args) -> None:  # quiet
        pass

    def answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status: int, message: str) -> None:
        self.answer(status, json.dumps({"error": {"code": status, "message": message}}).encode())

    def look_at_the_client(self) -> None:
        """The command line and environment of the uploader and of every process it started."""
        if not self.server.client_pid:
            return
        parents = {}
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                # pid (comm) state ppid ...: comm may hold spaces, the last ")" ends it.
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        family = [self.server.client_pid]
        for pid in family:
            family += [child for child, parent in parents.items() if parent == pid]
        seen = []
        for pid in family:
            with contextlib.suppress(OSError):  # it has just ended
                seen.append(
                    {
                        "pid": pid,
                        "cmdline": Path(f"/proc/{pid}/cmdline").read_bytes(),
                        "environ": Path(f"/proc/{pid}/environ").read_bytes(),
                    }
                )
        if seen:
            self.server.seen.append(seen)

    def handle_any(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        url = urllib.parse.urlsplit(self.path)
        self.look_at_the_client()
        if url.path == TOKEN_PATH:
            self.server.token_requests.append({"flavor": self.headers.get("Metadata-Flavor")})
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.error(403, "Missing Metadata-Flavor:Google header.")
            token = {"access_token": self.server.token, "expires_in": 3599, "token_type": "Bearer"}
            return self.answer(200, json.dumps(token).encode())
        query = urllib.parse.parse_qs(url.query)
        self.server.requests.append(
            {
                "method": method,
                "path": url.path,
                "query": query,
                "authorization": self.headers.get("Authorization"),
            }
        )
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self.error(401, "Invalid Credentials")
        if method == "POST" and url.path.startswith("/upload/") and self.server.deny_uploads:
            return self.error(403, DENIED)
        emulator = http.client.HTTPConnection("127.0.0.1", self.server.emulator_port, timeout=30)
        headers = {"Content-Type": self.headers.get("Content-Type", "application/octet-stream")}
        emulator.request(method, self.path, body=body, headers=headers)
        response = emulator.getresponse()
        content = response.read()
        emulator.close()
        if self.server.page_size and method == "GET" and url.path.endswith("/o"):
            content = self.one_page(content, query)
        self.answer(response.status, content, response.getheader("Content-Type") or "text/plain")

    def one_page(self, content: bytes, query: dict) -> bytes:
        listing = json.loads(content)
        items = listing.get("items", [])
        start = int(query.get("pageToken", ["0"])[0])
        end = start + self.server.page_size
        listing["items"] = items[start:end]
        if end < len(items):
            listing["nextPageToken"] = str(end)
        return json.dumps(listing).encode()

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")


@pytest.fixture(scope="module")
def emulator():
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    server.port = port
    yield server
    server.stop()


@pytest.fixture
def stand_in(emulator):
    emulator.wipe(keep_buckets=True)
    server = StandIn(emulator.port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def write_run(backup_dir: Path, run: str) -> dict[str, bytes]:
    """A run as prefect-stack-backup leaves it: a sealed dump (3 MiB and more) and a manifest."""
    files = {
        f"{run}/prefect.dump.age": os.urandom(3 * 1024 * 1024 + 17),
        f"{run}/manifest": f"prefect_version=3.9.1\nalembic_prefect=abc{run}\n".encode(),
    }
    for name, content in files.items():
        path = backup_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


@pytest.fixture
def backup_dir(tmp_path):
    """Two kept runs, and what the uploader must leave alone: the lock, a run being written,
    a restore's staging directory."""
    directory = tmp_path / "backups"
    directory.mkdir()
    (directory / ".lock").write_bytes(b"")
    (directory / ".tmp-20261203T023000Z").mkdir()
    (directory / ".tmp-20261203T023000Z" / "prefect.dump").write_bytes(b"half")
    (directory / "restore").mkdir()
    (directory / "restore" / "prefect.dump").write_bytes(b"staged")
    for run in RUNS:
        write_run(directory, run)
    return directory


def kept(backup_dir: Path) -> dict[str, bytes]:
    """The files of the kept runs (<UTC time>/<file>) with their bytes."""
    return {
        f"{run}/{path.name}": path.read_bytes()
        for run in sorted(os.listdir(backup_dir))
        if run[0].isdigit()
        for path in sorted((backup_dir / run).iterdir())
    }


def tree(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def upload(stand_in: StandIn, backup_dir: Path, token_url: str | None = None):
    """The real uploader, as prefect-stack-backup runs it; nothing else in its environment."""
    argv = [
        str(UPLOADER),
        "--bucket",
        BUCKET,
        "--prefix",
        PREFIX,
        "--token-url",
        token_url or stand_in.url + TOKEN_PATH,
        "--api-url",
        stand_in.url + "/storage/v1",
        "--upload-url",
        stand_in.url + "/upload/storage/v1",
        str(backup_dir),
    ]
    stand_in.requests.clear()
    process = subprocess.Popen(  # noqa: S603 (our own script, fixed arguments)
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8"},
    )
    stand_in.client_pid = process.pid
    stdout, stderr = process.communicate(timeout=120)
    stand_in.client_pid = None
    # The token is never in what the uploader is given, nor in anything it says.
    assert stand_in.token not in " ".join(argv)
    assert stand_in.token not in stdout + stderr
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def in_bucket(emulator, prefix: str = "") -> dict[str, bytes]:
    """Every object under the prefix with its bytes, read from the emulator itself."""
    base = f"http://127.0.0.1:{emulator.port}"
    query = urllib.parse.urlencode({"prefix": prefix})
    with urllib.request.urlopen(f"{base}/storage/v1/b/{BUCKET}/o?{query}") as response:  # noqa: S310
        names = [item["name"] for item in json.load(response).get("items", [])]
    objects = {}
    for name in names:
        url = f"{base}/download/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(name, safe='')}"
        with urllib.request.urlopen(url + "?alt=media") as response:  # noqa: S310
            objects[name] = response.read()
    return objects


def delete_from_bucket(emulator, name: str) -> None:
    url = (
        f"http://127.0.0.1:{emulator.port}/storage/v1/b/{BUCKET}/o/"
        f"{urllib.parse.quote(name, safe='')}"
    )
    request = urllib.request.Request(url, method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request):  # noqa: S310
        pass


def uploads(stand_in: StandIn) -> list[str]:
    return [r["query"]["name"][0] for r in stand_in.requests if r["method"] == "POST"]


def expected(files: dict[str, bytes]) -> dict[str, bytes]:
    return {PREFIX + name: content for name, content in files.items()}


def test_each_file_of_each_run_lands_with_its_name_and_bytes_then_nothing_again(
    emulator, stand_in, backup_dir
):
    first = upload(stand_in, backup_dir)
    assert first.returncode == 0, first.stderr
    assert in_bucket(emulator) == expected(kept(backup_dir))
    # Oldest run first, each run's manifest last (a run whose manifest is there is complete).
    assert uploads(stand_in) == [
        f"{PREFIX}{RUNS[0]}/prefect.dump.age",
        f"{PREFIX}{RUNS[0]}/manifest",
        f"{PREFIX}{RUNS[1]}/prefect.dump.age",
        f"{PREFIX}{RUNS[1]}/manifest",
    ]
    # One listing of the prefix, then the uploads, every request with the metadata server's token.
    assert [r["method"] for r in stand_in.requests] == ["GET"] + ["POST"] * 4
    assert stand_in.requests[0]["query"]["prefix"] == [PREFIX]
    assert {r["authorization"] for r in stand_in.requests} == {f"Bearer {stand_in.token}"}
    assert stand_in.token_requests and {r["flavor"] for r in stand_in.token_requests} == {"Google"}
    assert f"gs://{BUCKET}/{PREFIX}: 4 file(s) uploaded, 0 already there" in first.stdout

    second = upload(stand_in, backup_dir)
    assert second.returncode == 0, second.stderr
    assert uploads(stand_in) == []
    assert "0 file(s) uploaded, 4 already there (2 kept run(s))" in second.stdout
    assert in_bucket(emulator) == expected(kept(backup_dir))


def test_a_run_the_bucket_lacks_goes_with_the_next_one(emulator, stand_in, backup_dir):
    assert upload(stand_in, backup_dir).returncode == 0
    for name in ("prefect.dump.age", "manifest"):
        delete_from_bucket(emulator, f"{PREFIX}{RUNS[0]}/{name}")
    new = write_run(backup_dir, "20261203T023000Z")

    again = upload(stand_in, backup_dir)

    assert again.returncode == 0, again.stderr
    assert sorted(uploads(stand_in)) == sorted(
        [f"{PREFIX}{RUNS[0]}/prefect.dump.age", f"{PREFIX}{RUNS[0]}/manifest"]
        + [PREFIX + name for name in new]
    )
    assert in_bucket(emulator) == expected(kept(backup_dir))


def test_every_page_of_the_listing_counts(emulator, stand_in, backup_dir):
    assert upload(stand_in, backup_dir).returncode == 0
    stand_in.page_size = 1

    again = upload(stand_in, backup_dir)

    assert again.returncode == 0, again.stderr
    listings = [r for r in stand_in.requests if r["method"] == "GET"]
    assert [r["query"].get("pageToken") for r in listings] == [None, ["1"], ["2"], ["3"]]
    assert uploads(stand_in) == []


def test_an_unreachable_metadata_server_fails_the_upload_and_keeps_the_runs(
    emulator, stand_in, backup_dir
):
    before = tree(backup_dir)
    token_url = f"http://127.0.0.1:{free_port()}{TOKEN_PATH}"

    failed = upload(stand_in, backup_dir, token_url=token_url)

    assert failed.returncode == 1
    assert failed.stderr.startswith(
        f"prefect-stack-backup-gcs: cannot get an access token from the metadata server at "
        f"{token_url}: [Errno 111] Connection refused"
    ), failed.stderr
    assert stand_in.requests == []
    assert in_bucket(emulator) == {}
    assert tree(backup_dir) == before


def test_a_refused_upload_fails_clearly_keeps_the_runs_and_the_next_one_uploads(
    emulator, stand_in, backup_dir
):
    before = tree(backup_dir)
    stand_in.deny_uploads = True

    failed = upload(stand_in, backup_dir)

    assert failed.returncode == 1
    first = f"{PREFIX}{RUNS[0]}/prefect.dump.age"
    assert failed.stderr == (
        f"prefect-stack-backup-gcs: the upload of {backup_dir}/{RUNS[0]}/prefect.dump.age to "
        f"gs://{BUCKET}/{first} failed: HTTP 403 Forbidden: {DENIED}\n"
    )
    assert uploads(stand_in) == [first]  # stopped at the first refusal
    assert in_bucket(emulator) == {}
    assert tree(backup_dir) == before

    stand_in.deny_uploads = False
    assert upload(stand_in, backup_dir).returncode == 0
    assert in_bucket(emulator) == expected(kept(backup_dir))


def test_the_token_is_in_no_argument_nor_environment_of_the_uploader(stand_in, backup_dir):
    assert upload(stand_in, backup_dir).returncode == 0

    # Read while each request was in flight: the uploader and any process it started, as ps
    # would show them.
    assert len(stand_in.seen) == 1 + 1 + 4  # the token, the listing, four uploads
    for processes in stand_in.seen:
        assert str(UPLOADER).encode() in processes[0]["cmdline"]
        assert b"--bucket\0" + BUCKET.encode() in processes[0]["cmdline"]
        for process in processes:
            assert stand_in.token.encode() not in process["cmdline"], process["pid"]
            assert stand_in.token.encode() not in process["environ"], process["pid"]


def test_only_http_urls_are_taken(stand_in, backup_dir):
    refused = subprocess.run(  # noqa: S603
        [
            str(UPLOADER),
            "--bucket",
            BUCKET,
            "--token-url",
            "file:///etc/shadow",
            "--api-url",
            stand_in.url,
            "--upload-url",
            stand_in.url,
            str(backup_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "--token-url must be an http(s) URL, not 'file:///etc/shadow'" in refused.stderr
    assert stand_in.requests == [] and stand_in.token_requests == []


def test_the_role_refuses_a_bucket_name_gcs_would_refuse(tmp_path):
    """The check of tasks/validate.yml (the role's first tasks, before any change), as it ships,
    against GCS's naming rules: one copy of it per name."""
    buckets = {
        "": True,
        "prefect-stack-backups": True,
        "backups.example.com": True,
        "a_b.c-d": True,
        "ab": False,  # too short
        "a" * 64: False,  # too long without dots
        "My-Backups": False,  # upper case
        "-backups": False,  # starts with a dash
        "backups.": False,  # ends with a dot
        "a..b": False,  # an empty part
        "192.168.5.4": False,  # an IP address
        "goog-backups": False,
        "my-g00gle-backups": False,
    }
    validate = yaml.safe_load((REPO / "roles/prefect_backup/tasks/validate.yml").read_text())
    check = next(t for t in validate if t["name"] == "Check prefect_backup_gcs_bucket")
    tasks = [
        {**check, "vars": {**check["vars"], "prefect_backup_gcs_bucket": bucket},
         "ignore_errors": True}
        for bucket in buckets
    ]  # fmt: skip
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": tasks}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    run = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "play.yml"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}),
    )  # fmt: skip
    tasks = json.loads(run.stdout[run.stdout.index("{") :])["plays"][0]["tasks"]
    checks = [t["hosts"]["localhost"] for t in tasks]
    assert len(checks) == len(buckets), run.stdout[-3000:]
    for (bucket, valid), check in zip(buckets.items(), checks, strict=True):
        assert bool(check.get("failed")) is not valid, (bucket, check.get("msg"))
        if not valid:
            assert check["msg"].startswith('prefect_backup_gcs_bucket must be "" (no upload) or a')
            assert check["msg"].endswith(f"not {json.dumps(bucket)}")


def test_backup_yml_runs_only_where_the_host_uploads_as_its_settings_say(tmp_path):
    """playbooks/backup.yml runs the timer's script, which uploads as the host's conf file says:
    its check (tasks/backup.yml, as it ships) against files the role's template writes."""
    role = REPO / "roles" / "prefect_backup"
    tasks_file = yaml.safe_load((role / "tasks" / "backup.yml").read_text())
    check = next(
        t for t in tasks_file if t["name"] == "Check the host uploads where these settings say"
    )
    # (the bucket the host's file was written with, or None for a file from before GCS; the
    # play's bucket and prefix; whether backup.yml goes on)
    cases = [
        ("bucket-a", "bucket-a", "prefect-stack/", True),
        ("", "", "prefect-stack/", True),
        (None, "", "prefect-stack/", True),
        (None, "bucket-a", "prefect-stack/", False),
        ("", "bucket-a", "prefect-stack/", False),
        ("bucket-a", "", "prefect-stack/", False),
        ("bucket-a", "bucket-b", "prefect-stack/", False),
        ("bucket-a", "bucket-a", "elsewhere/", False),
    ]
    template = role / "templates" / "prefect-stack-backup.conf.j2"
    tasks = []
    for written, bucket, prefix, _ in cases:
        # The file as the role's template writes it (as slurp reads it), or one from before GCS.
        conf = (
            f"{{{{ lookup('ansible.builtin.template', '{template}', template_vars="
            f"{{'prefect_backup_gcs_bucket': '{written or ''}', "
            "'prefect_backup_gcs_prefix': 'prefect-stack/'})"
            + (" | regex_replace('(?m)^GCS_.*\\n', '')" if written is None else "")
            + " | b64encode }}"
        )
        tasks.append({**check, "ignore_errors": True, "vars": {
            **check["vars"], "_prefect_backup_conf": {"content": conf},
            "prefect_backup_gcs_bucket": bucket, "prefect_backup_gcs_prefix": prefix}})  # fmt: skip
    play = [{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars_files": [str(role / "defaults" / "main.yml"), str(role / "vars" / "main.yml")],
        "roles": ["prefect_stack"], "tasks": tasks,
    }]  # fmt: skip
    (tmp_path / "play.yml").write_text(json.dumps(play))
    run = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "play.yml"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                         "ANSIBLE_ROLES_PATH": str(REPO / "roles")}),
    )  # fmt: skip
    results = json.loads(run.stdout[run.stdout.index("{") :])["plays"][0]["tasks"]
    checks = [t["hosts"]["localhost"] for t in results if t["task"]["name"] == check["name"]]
    assert len(checks) == len(cases), run.stdout[-3000:]
    for case, result in zip(cases, checks, strict=True):
        assert bool(result.get("failed")) is not case[3], (case, result.get("msg"))
        if not case[3]:
            assert result["msg"].startswith(
                "prefect_backup_gcs_bucket / prefect_backup_gcs_prefix: the host's "
                "/etc/prefect-stack-backup.conf says "
            )
            assert (
                "run site.yml (or --tags prefect_backup_install) with these settings first"
                in (result["msg"])
            )
