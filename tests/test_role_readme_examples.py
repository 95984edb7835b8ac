"""Every role's README shows one example playbook, and the example stays true to the role.

Pure file checks, no Prefect server and no Docker: for each directory in roles/, the README has
one "## Example playbook" section holding one ```yaml block; the block is a list of plays that
apply the role by name (`roles:` entry, or an include_role/import_role task); every variable the
example gives the role is an option of one of the role's entry points in meta/argument_specs.yml;
and secrets are only ever references ("{{ vault_... }}"), never literal values.
"""

from __future__ import annotations

import re

import pytest
import yaml
from ansible.playbook.role.include import RoleInclude
from conftest import REPO

ROLES = REPO / "roles"
ROLE_NAMES = sorted(path.name for path in ROLES.iterdir() if path.is_dir())
HEADING = "## Example playbook"
INCLUDE_ROLE_ACTIONS = frozenset(
    f"{prefix}{verb}_role"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for verb in ("include", "import")
)
TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers")
BLOCK_LISTS = ("block", "rescue", "always")
# Keys of a `roles:` entry that are Ansible keywords; any other key is a role parameter, i.e. a
# variable given to the role, and is checked like the entry's `vars:`.
ROLE_KEYWORDS = frozenset(RoleInclude.fattributes)
SECRET_NAME = re.compile(r"password|secret|key|token|auth_string")
# One Jinja expression and nothing else: "{{ vault_tls_key }}".
REFERENCE = re.compile(r"\s*\{\{(?:(?!\{\{|\}\}).)*\}\}\s*", re.DOTALL)


def example_sections(role: str) -> list[list[str]]:
    """The lines of each "## Example playbook" section (headings inside code blocks ignored)."""
    sections: list[list[str]] = []
    current: list[str] | None = None
    fenced = False
    for line in (ROLES / role / "README.md").read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,2} ", line):
            current = [] if line.strip().lower() == HEADING.lower() else None
            if current is not None:
                sections.append(current)
            continue
        if current is not None:
            current.append(line)
    return sections


def yaml_blocks(lines: list[str]) -> list[str]:
    """The bodies of the ```yaml fenced blocks in these lines."""
    blocks: list[str] = []
    body: list[str] | None = None
    fence_info = None
    for line in lines:
        if line.startswith("```"):
            if fence_info is None:
                fence_info = line[3:].strip()
                body = []
            else:
                if fence_info == "yaml":
                    blocks.append("\n".join(body or []))
                fence_info, body = None, None
        elif body is not None:
            body.append(line)
    assert fence_info is None, f"a ``` block is not closed: {lines}"
    return blocks


def example_plays(role: str) -> list[dict]:
    sections = example_sections(role)
    assert len(sections) == 1, (
        f"{role}: roles/{role}/README.md has {len(sections)} '{HEADING}' sections, wants one"
    )
    blocks = yaml_blocks(sections[0])
    assert len(blocks) == 1, (
        f"{role}: the '{HEADING}' section of roles/{role}/README.md has {len(blocks)} ```yaml "
        "blocks, wants one"
    )
    try:
        plays = yaml.safe_load(blocks[0])
    except yaml.YAMLError as error:
        pytest.fail(f"{role}: the example playbook is not valid YAML: {error}")
    assert isinstance(plays, list), f"{role}: the example playbook is not a list of plays"
    assert plays, f"{role}: the example playbook has no play"
    for index, play in enumerate(plays):
        assert isinstance(play, dict), f"{role}: play {index} of the example is not a mapping"
        assert "hosts" in play, f"{role}: play {index} of the example has no hosts"
    return plays


def walk_tasks(tasks: object):
    """Every task in a task list, descending into block/rescue/always."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in BLOCK_LISTS:
            yield from walk_tasks(task.get(key))


def role_uses(role: str, plays: list[dict]) -> list[tuple[str, dict, str | None]]:
    """(where, variables given to the role, tasks_from) for each use of the role in the plays."""
    uses = []
    for index, play in enumerate(plays):
        for entry in play.get("roles") or []:
            if isinstance(entry, str):
                if entry == role:
                    uses.append((f"play {index} roles", {}, None))
                continue
            if not isinstance(entry, dict) or entry.get("role", entry.get("name")) != role:
                continue
            variables = dict(entry.get("vars") or {})
            variables.update({k: v for k, v in entry.items() if k not in ROLE_KEYWORDS})
            uses.append((f"play {index} roles", variables, None))
        for key in TASK_LISTS:
            for task in walk_tasks(play.get(key)):
                action = next((k for k in task if k in INCLUDE_ROLE_ACTIONS), None)
                args = task.get(action) if action else None
                if isinstance(args, dict) and args.get("name") == role:
                    where = f"play {index} task {task.get('name', action)!r}"
                    uses.append((where, task.get("vars") or {}, args.get("tasks_from")))
    return uses


def declared_options(role: str) -> dict[str, dict]:
    """Every option of every entry point of the role (name -> its spec, the first one seen)."""
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    options: dict[str, dict] = {}
    for entry_point in (specs.get("argument_specs") or {}).values():
        for name, spec in (entry_point.get("options") or {}).items():
            options.setdefault(name, spec or {})
    return options


def is_secret(name: str, spec: dict | None = None) -> bool:
    if spec and spec.get("no_log"):
        return True
    # A *_url option (docker_apt_gpg_key_url, prefect_backup_gcs_token_url) says where a key or
    # token comes from; it is not the secret.
    return bool(SECRET_NAME.search(name)) and not name.endswith("_url")


def is_reference(value: object) -> bool:
    """Empty, or only Jinja references ("{{ vault_... }}"), also inside lists and dicts."""
    if value is None or value == "":
        return True
    if isinstance(value, str):
        return REFERENCE.fullmatch(value) is not None
    if isinstance(value, list):
        return all(is_reference(item) for item in value)
    if isinstance(value, dict):
        return all(is_reference(item) for item in value.values())
    return False


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_example_is_one_yaml_list_of_plays(role):
    example_plays(role)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_example_applies_the_role(role):
    uses = role_uses(role, example_plays(role))
    assert uses, (
        f"{role}: the example playbook never applies role {role!r} (in a play's roles: or as "
        "the name of an include_role/import_role task)"
    )
    for where, _, tasks_from in uses:
        if tasks_from is None:
            continue
        file = ROLES / role / "tasks" / tasks_from
        if not file.suffix:
            file = file.with_suffix(".yml")
        assert file.is_file(), f"{role}: {where}: tasks_from {tasks_from!r}: no {file}"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_example_sets_only_declared_options(role):
    options = declared_options(role)
    undeclared = [
        f"{role}: {where}: variable {name!r} is not an option of any entry point in "
        f"roles/{role}/meta/argument_specs.yml"
        for where, variables, _ in role_uses(role, example_plays(role))
        for name in variables
        if name not in options
    ]
    assert not undeclared, "\n".join(undeclared)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_example_has_no_literal_secret(role):
    options = declared_options(role)
    plays = example_plays(role)
    given = [(f"play {i} vars", play.get("vars") or {}) for i, play in enumerate(plays)]
    given += [(where, variables) for where, variables, _ in role_uses(role, plays)]
    literals = [
        f"{role}: {where}: variable {name!r} is a literal; give a reference such as "
        f'"{{{{ vault_{name} }}}}" or leave it empty'
        for where, variables in given
        for name, value in variables.items()
        if is_secret(name, options.get(name)) and not is_reference(value)
    ]
    assert not literals, "\n".join(literals)
