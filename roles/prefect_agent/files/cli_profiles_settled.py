"""Which CLI users' Prefect profiles are already as the role writes them (configure.yml).

Reads JSON on stdin: {"users": [names], "settings": [{"section": "a.b" or null, "option": name,
"value": text, "state": "present" or "absent"}]}. Prints the names of the users whose
~/.prefect (0700, theirs) or ~/.prefect/profiles.toml (0600, theirs, each setting present with
its value or absent) differs, one a line. A user this cannot look at is printed too: the role's
own tasks then look, and say what is wrong. Python without tomllib (before 3.11) prints them all.
"""

import json
import os
import pwd
import stat
import sys

try:
    import tomllib
except ImportError:
    tomllib = None


def owned(path, uid, mode, kind):
    info = os.stat(path)
    return kind(info.st_mode) and info.st_uid == uid and stat.S_IMODE(info.st_mode) == mode


def holds(profiles, setting):
    table = profiles
    for part in setting["section"].split(".") if setting["section"] else []:
        table = table.get(part) if isinstance(table, dict) else None
    present = isinstance(table, dict) and setting["option"] in table
    if setting["state"] == "absent":
        return not present
    return present and table[setting["option"]] == setting["value"]


def settled(user, settings):
    try:
        entry = pwd.getpwnam(user)
        folder = os.path.join(entry.pw_dir, ".prefect")
        path = os.path.join(folder, "profiles.toml")
        if not owned(folder, entry.pw_uid, 0o700, stat.S_ISDIR):
            return False
        if not owned(path, entry.pw_uid, 0o600, stat.S_ISREG):
            return False
        with open(path, "rb") as handle:
            profiles = tomllib.load(handle)
    except (KeyError, OSError, ValueError, AttributeError):
        return False
    return all(holds(profiles, setting) for setting in settings)


def main():
    wanted = json.load(sys.stdin)
    for user in wanted["users"]:
        if not settled(user, wanted["settings"]):
            print(user)


if __name__ == "__main__":
    main()
