"""Prints the requirements the running Python does not satisfy.

    unmet_requirements.py -r requirements.txt     the lines of a requirements file
    unmet_requirements.py 'prefect==3.9.1' ...     requirements given as arguments

Run with the virtualenv's python. Lets the role decide truthfully (also in check mode) whether
pip has anything to install, which the pip module cannot tell for a requirements file, and costs
a fraction of the pip module's own check (which starts pip) when nothing is missing.
"""

import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement


def file_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as lines:
        return [raw.split(" #", 1)[0].strip() for raw in lines]


def unmet(lines: list[str]) -> list[str]:
    missing = []
    for line in lines:
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
    args = sys.argv[1:]
    print("\n".join(unmet(file_lines(args[1]) if args[:1] == ["-r"] else args)))
