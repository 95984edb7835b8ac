"""Every entry under a folder, as ansible.builtin.find (recurse, hidden, file_type any,
get_checksum) lists them, in one short Python run (flows.yml, on the controller and on the host).

Usage: python3 tree_checksums.py FOLDER. Prints JSON: {"files": [{"path", "isreg", "isdir",
"islnk", "mode" ("0644"), "uid", "gid", "checksum" (SHA-1 of a regular file's content)}]}. A
folder that does not exist lists nothing. Symbolic links are listed, not followed.
"""

import hashlib
import json
import os
import stat
import sys


def entry(path):
    info = os.lstat(path)
    found = {
        "path": path,
        "isreg": stat.S_ISREG(info.st_mode),
        "isdir": stat.S_ISDIR(info.st_mode),
        "islnk": stat.S_ISLNK(info.st_mode),
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "uid": info.st_uid,
        "gid": info.st_gid,
    }
    if found["isreg"]:
        digest = hashlib.sha1()  # noqa: S324 - the checksum Ansible compares files with
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
        found["checksum"] = digest.hexdigest()
    return found


def main(folder):
    files = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(dirs + names):
            files.append(entry(os.path.join(root, name)))
    json.dump({"files": files}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
