"""One licence, stated once: LICENSE, every role's meta/main.yml and every plugin header."""

from __future__ import annotations

import yaml
from conftest import REPO

HEADER = "# MIT License (see LICENSE at the top of the repository)"


def test_one_licence_everywhere():
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n")
    roles = sorted((REPO / "roles").glob("*/meta/main.yml"))
    assert roles
    for meta in roles:
        licence = yaml.safe_load(meta.read_text())["galaxy_info"]["license"]
        assert licence == "MIT", f"{meta.relative_to(REPO)}: {licence}"
    sources = sorted(
        path
        for folder in ("library", "module_utils", "doc_fragments", "action_plugins")
        for path in (REPO / folder).glob("*.py")
    )
    assert sources
    for source in sources:
        head = source.read_text().splitlines()[:4]
        assert HEADER in head, f"{source.relative_to(REPO)}: {head}"
