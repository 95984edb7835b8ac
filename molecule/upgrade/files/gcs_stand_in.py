"""GCS for the upgrade scenario's backups, run on the controller by verify_backup_gcs.yml.

A GCS emulator (gcp-storage-emulator from requirements/test.txt, in memory, with one bucket) and
a stand-in of the VM's metadata server that hands out the token of the environment's
GCS_STAND_IN_TOKEN (never an argument) to a request that says Metadata-Flavor: Google.

  gcs_stand_in.py ADDRESS EMULATOR_PORT METADATA_PORT BUCKET LIFETIME

Both stop after LIFETIME seconds, or at GET /stop on the metadata port.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gcp_storage_emulator.server import create_server

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"  # noqa: S105


class Metadata(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/stop":
            self.answer(200, {"stopping": True})
            threading.Thread(target=self.server.shutdown).start()
        elif self.path != TOKEN_PATH:
            self.answer(404, {"error": "not found"})
        elif self.headers.get("Metadata-Flavor") != "Google":
            self.answer(403, {"error": "Missing Metadata-Flavor:Google header."})
        else:
            token = os.environ["GCS_STAND_IN_TOKEN"]
            self.answer(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def answer(self, status, body):
        content = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


def main(address, emulator_port, metadata_port, bucket, lifetime):
    emulator = create_server(address, int(emulator_port), in_memory=True, default_bucket=bucket)
    metadata = ThreadingHTTPServer((address, int(metadata_port)), Metadata)
    timer = threading.Timer(float(lifetime), metadata.shutdown)
    emulator.start()
    timer.start()
    try:
        metadata.serve_forever()
    finally:
        timer.cancel()
        metadata.server_close()
        emulator.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
