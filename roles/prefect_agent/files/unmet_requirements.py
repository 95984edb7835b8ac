"""Prints the requirements of a requirements file that the running Python does not satisfy.

Run with the virtualenv's python. Lets the role decide truthfully (also in check mode) whether
pip has anything to install, which the pip module cannot tell for a requirements file.
"""

import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement


def unmet(path: str) -> list[str]:
    missing = []
    with open(path, encoding="utf-8") as lines:
        for raw in lines:
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith(("#", "-")):
                continue
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate():
                continue
            try:
                installed = version(requirement.name)
            except PackageNotFoundError:
                missing.append(line)
                continue
            if not requirement.specifier.contains(installed, prereleases=True):
                missing.append(line)
    return missing


if __name__ == "__main__":
    print("\n".join(unmet(sys.argv[1])))
