"""Packs the named flow files into one tar archive, each owned by root with mode 0644.

Runs on the controller (its own Python, so no tar flavour matters):
    pack_flows.py ARCHIVE SOURCE_DIR RELATIVE_PATH...
One archive is shipped and unpacked in a single module call, instead of one copy call per file.
"""

import sys
import tarfile
from pathlib import Path


def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o644
    return info


def main() -> None:
    archive, source, *paths = sys.argv[1:]
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in paths:
            tar.add(Path(source) / path, arcname=path, recursive=False, filter=reset)


if __name__ == "__main__":
    main()
