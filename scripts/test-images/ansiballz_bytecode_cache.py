"""Keep the bytecode of what Python imports from zip archives: Ansible's module payloads.

Python never writes bytecode for a module it imports from a zip archive, so it compiles the source
on every import. Ansible runs each module from such an archive (AnsiballZ), so every task on a host
compiled `ansible.module_utils.basic` and its imports again: about 0.3 CPU-s of a module call's
0.45 (docs/testing.md). This keeps each compiled source in a root-only directory, named by the
digest of the interpreter's magic number and the source, so a changed source or another Python
never reads it.

Test images only (scripts/test-images/instance.Dockerfile installs it with a .pth file): it is a
cost of the test hosts, and the modules run the same code either way. Every root Python process
on the host loads this file, so it imports nothing more until a zip import compiles.
"""

import os
import zipimport

CACHE_DIR = "/var/cache/ansiballz-bytecode"
_compile_source = zipimport._compile_source


def _with_filename(code, filename):
    """The code with the archive it was imported from this time, for tracebacks."""
    consts = tuple(
        _with_filename(const, filename) if isinstance(const, type(code)) else const
        for const in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def _cache_dir_is_ours():
    """A cache another user could write would run that user's code as root."""
    try:
        info = os.stat(CACHE_DIR)
    except FileNotFoundError:
        os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
        info = os.stat(CACHE_DIR)
    return info.st_uid == os.geteuid() and info.st_mode & 0o077 == 0


def _read(path, pathname):
    import marshal
    import types

    try:
        with open(path, "rb") as cached:
            code = marshal.load(cached)  # noqa: S302 - a root-only directory this file writes
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return _with_filename(code, pathname) if isinstance(code, types.CodeType) else None


def _write(path, code):
    import contextlib
    import marshal

    partial = f"{path}.{os.getpid()}.partial"
    try:
        with open(partial, "wb") as out:
            marshal.dump(code, out)
        os.replace(partial, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(partial)


def compile_source(pathname, source):
    """zipimport's own compile step, through the cache where the cache can be trusted."""
    import hashlib
    import importlib.util

    try:
        usable = _cache_dir_is_ours()
    except OSError:
        usable = False
    if not usable:
        return _compile_source(pathname, source)
    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + source).hexdigest()
    path = os.path.join(CACHE_DIR, digest)
    code = _read(path, pathname)
    if code is None:
        code = _compile_source(pathname, source)
        _write(path, code)
    return code


if os.geteuid() == 0:
    zipimport._compile_source = compile_source
