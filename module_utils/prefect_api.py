# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""Shared part of the ``prefect_*`` modules: a Prefect REST API client and a reconcile loop.

Stdlib + ansible.module_utils only (modules run on a plain host python, no ``prefect`` import).

* ``PrefectClient``: JSON over HTTP(S) with ``Authorization: Basic`` from ``api_auth_string``,
  one kept-alive connection per thread (unless a proxy applies), retries on connection errors
  and 5xx, clear messages for 401/403/422, paging for ``/filter`` (the pages of an expected
  number of rows read at the same time), read calls in parallel.
* ``PrefectObjectsModule``: the loop every object kind shares. A kind subclasses it and says how
  to read (``load``, ``find``, ``prunable``), check (``check_item``, ``validate_item``), view
  (``desired_view``, ``actual_view``) and write (``create``, ``update``, ``delete``). The base
  class checks each item's options itself (``prefect_validate``: types, NUL characters, names)
  before any API call, checks duplicates, validates ALL items before any write, plans
  created/updated/deleted/unchanged by comparing the desired view with the actual one
  (``plan_item``, ``plan_prune``), keeps the record of a kind without tags in step
  (``adopt``), honours check mode, builds the per-item ``diff`` (secrets masked) and the
  ``results`` list.
"""

import base64
import gzip
import http.client
import io
import json
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.prefect_compare import (
    MASK,
    changed_fields,
    collect_strings,
    differs,
    mask_pair,
    mask_value,
    strip_request_data,
)
from ansible.module_utils.prefect_validate import (
    check_options,
    clip,
    lookup,
    name_problem,
    storable,
)
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode, urlsplit
from ansible.module_utils.six.moves.urllib.request import getproxies, proxy_bypass
from ansible.module_utils.urls import Request, open_url

try:  # ansible-core >= 2.15: build the TLS context once, not per request (saves ~20 ms a call)
    from ansible.module_utils.urls import make_context
except ImportError:  # pragma: no cover
    make_context = None

COMMON_ARGUMENT_SPEC = dict(
    api_url=dict(type="str", required=True),
    api_auth_string=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="float", default=30.0),
)

# The ``secret_fields`` option of an item: dotted paths of the item (``*`` matches any key) whose
# values are secrets the module masks like its own (see PrefectObjectsModule.secret_field_roots).
SECRET_FIELDS_SPEC = dict(type="list", elements="str", default=[])

READ_ONLY_POST_SUFFIXES = ("/filter", "/count", "/paginate")
RETRY_STATUS = (500, 502, 503, 504)
PAGE = 200  # the most rows a Prefect /filter call returns (PREFECT_API_DEFAULT_LIMIT)
READ_WORKERS = 4  # read calls (pages, lookups) at the same time


class PrefectAPIError(Exception):
    def __init__(self, message, status=None, method=None, path=None, body=None):
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.body = body


def key_label(key):
    """An item key as people read it: ``flow/name`` for a tuple."""
    return "/".join(key) if isinstance(key, tuple) else str(key)


def q(segment):
    """Quote one path segment (names may contain spaces or slashes)."""
    return quote(str(segment), safe="")


class PrefectClient:
    def __init__(
        self, api_url, auth_string=None, validate_certs=True, timeout=30.0, retries=4, backoff=0.5
    ):
        self.api_url = api_url.rstrip("/")
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth_string:
            token = base64.b64encode(auth_string.encode("utf-8")).decode("ascii")
            self.headers["Authorization"] = "Basic " + token
        self.calls = []  # (method, path) of every request, for debugging/tests
        self._request = None
        self._direct = None
        if make_context is not None:
            # Plain http (the server host's loopback API) never uses the TLS context, and loading
            # the CA store into one takes ~150 ms of every module run: an empty one stands in
            # (Request.open would otherwise build a full one per request).
            https = self.api_url.lower().startswith("https://")
            context = (
                make_context(validate_certs=validate_certs)
                if https
                else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            )
            self._request = Request(
                headers=self.headers,
                timeout=timeout,
                validate_certs=validate_certs,
                follow_redirects="safe",
                use_netrc=False,
                context=context,
            )
            self._direct = self._direct_target(context)
        self._kept_alive_headers = dict(self.headers, **{"Accept-Encoding": "gzip"})
        self._local = threading.local()

    def _direct_target(self, context):
        """(scheme, host, port, context) when calls may go on kept-alive connections: an http(s)
        URL that no proxy of the environment applies to. Otherwise None (``Request`` per call)."""
        parts = urlsplit(self.api_url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return None
        if getproxies().get(scheme) and not proxy_bypass(parts.hostname):
            return None
        return scheme, parts.hostname, parts.port, context

    def _answer(self, url, data, method):
        """The answer's body (bytes); ``HTTPError`` for a status of 400 or more."""
        if self._direct is not None:
            raw = self._kept_alive(url, data, method)
            if raw is not None:
                return raw
        # no kept-alive connection, or a redirect: Request decides (it follows only safe ones)
        return self._open(url, data, method).read()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            scheme, host, port, context = self._direct
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout, context=context
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self):
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _kept_alive(self, url, data, method):
        """One call on this thread's kept-alive connection: the body, or None for a redirect."""
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        body = data.encode("utf-8") if isinstance(data, str) else data
        reused = getattr(self._local, "conn", None) is not None
        try:
            return self._exchange(method, target, body, url)
        except (ConnectionResetError, BrokenPipeError):
            # On a reused connection (RemoteDisconnected is a ConnectionResetError) this is, as a
            # rule, the server having closed it while idle, before reading this request: once
            # more, on a new connection.
            if not reused:
                raise
        return self._exchange(method, target, body, url)

    def _exchange(self, method, target, body, url):
        conn = self._connection()
        try:
            conn.request(method, target, body=body, headers=self._kept_alive_headers)
            resp = conn.getresponse()
            raw = resp.read()
        except BaseException as err:
            self._drop()
            if isinstance(err, http.client.HTTPException) and not isinstance(err, OSError):
                # e.g. IncompleteRead: a broken connection, retried as one
                raise ConnectionError(f"{type(err).__name__}: {err}") from err
            raise
        if resp.will_close:
            self._drop()
        if (resp.getheader("Content-Encoding") or "").lower() == "gzip":
            raw = gzip.decompress(raw)
        if 300 <= resp.status < 400:
            return None
        if resp.status >= 400:
            raise HTTPError(url, resp.status, resp.reason, resp.msg, io.BytesIO(raw))
        return raw

    def _open(self, url, data, method):
        if self._request is not None:
            return self._request.open(method, url, data=data)
        return open_url(
            url,
            data=data,
            headers=self.headers,
            method=method,
            validate_certs=self.validate_certs,
            timeout=self.timeout,
            follow_redirects="safe",
            use_netrc=False,
        )

    @staticmethod
    def is_write(method, path):
        method = method.upper()
        if method == "GET":
            return False
        return not (method == "POST" and path.rstrip("/").endswith(READ_ONLY_POST_SUFFIXES))

    def request(self, method, path, body=None, params=None, allow_404=False):
        url = self.api_url + path
        if params:
            url += "?" + urlencode(params)
        data = json.dumps(body) if body is not None else None
        idempotent = not self.is_write(method, path) or method in ("PATCH", "PUT", "DELETE")
        attempt = 0
        while True:
            attempt += 1
            self.calls.append((method, path))
            try:
                raw = self._answer(url, data, method)
                if not raw:
                    return None
                return json.loads(raw.decode("utf-8"))
            except HTTPError as err:
                status = err.code
                try:
                    detail = err.read().decode("utf-8", "replace")
                except Exception:  # noqa: BLE001 - best effort
                    detail = ""
                if status == 404 and allow_404:
                    return None
                retry_ok = status in (502, 503, 504) or (status == 500 and idempotent)
                if retry_ok and attempt <= self.retries:
                    time.sleep(self.backoff * attempt)
                    continue
                raise PrefectAPIError(  # noqa: B904
                    self._message(status, method, path, detail),
                    status=status,
                    method=method,
                    path=path,
                    body=detail,
                )
            except (TimeoutError, URLError, ConnectionError, OSError) as err:
                if attempt <= self.retries:
                    time.sleep(self.backoff * attempt)
                    continue
                reason = getattr(err, "reason", err)
                raise PrefectAPIError(  # noqa: B904
                    f"cannot reach the Prefect API at {self.api_url} ({method} {clip(path, 300)}): "
                    f"{reason}",
                    method=method,
                    path=path,
                )

    def _message(self, status, method, path, detail):
        detail = strip_request_data(detail)
        path = clip(path, 300)  # a path holds names the user gave
        if status == 401:
            return (
                f"Prefect API at {self.api_url} refused the credentials "
                f"(HTTP 401 on {method} {path}): "
                "check api_auth_string (user:password of PREFECT_SERVER_API_AUTH_STRING)"
            )
        if status == 403:
            return f"Prefect API denied {method} {path} (HTTP 403): {detail[:500]}"
        return f"Prefect API error HTTP {status} on {method} {path}: {detail[:2000]}"

    def get(self, path, params=None, allow_404=False):
        return self.request("GET", path, params=params, allow_404=allow_404)

    def post(self, path, body=None, allow_404=False):
        return self.request(
            "POST", path, body=body if body is not None else {}, allow_404=allow_404
        )

    def patch(self, path, body):
        return self.request("PATCH", path, body=body)

    def delete(self, path, allow_404=True):
        return self.request("DELETE", path, allow_404=allow_404)

    def filter_all(self, path, body=None, page=PAGE, expect=0):
        """POST ``path`` (a ``/filter`` endpoint) page by page and return every row.

        ``expect``: how many rows there may be (a count, or the number of names asked for). The
        pages those rows fill are read at the same time (``READ_WORKERS`` at once), then any
        further page one by one, until a page is not full. A row that two pages both hold (the
        server's order shifted between them) is kept once."""
        pages = max(1, -(-expect // page))
        offsets = [n * page for n in range(pages)]
        if pages > 1:
            batches = self.parallel(
                [partial(self._page, path, body, page, offset) for offset in offsets]
            )
        else:
            batches = [self._page(path, body, page, 0)]
        while len(batches[-1]) == page:
            offsets.append(offsets[-1] + page)
            batches.append(self._page(path, body, page, offsets[-1]))
        rows, seen = [], set()
        for batch in batches:
            for row in batch:
                key = row.get("id") if isinstance(row, dict) else None
                if key is None or key not in seen:
                    seen.add(key)
                    rows.append(row)
        return rows

    def filter_counted(self, path, body=None):
        """Every row of ``path`` (``/<kind>/filter``): the kind's ``/count`` first, then the
        pages those rows fill at the same time."""
        expect = self.post(path[: -len("/filter")] + "/count", body or {}) or 0
        return self.filter_all(path, body, expect=expect)

    def filter_named(self, kind, names, every=False):
        """The rows of ``/<kind>/filter`` named in ``names``, or every row when ``every`` (a prune
        must see what is no longer declared): counted first, so the pages are read at once."""
        path = f"/{kind}/filter"
        if every:
            return self.filter_counted(path, {})
        if not names:
            return []
        body = {kind: {"name": {"any_": sorted(set(names))}}}
        return self.filter_all(path, body, expect=len(set(names)))

    def _page(self, path, body, page, offset):
        payload = dict(body or {})
        payload.update(limit=page, offset=offset)
        return self.post(path, payload) or []

    @staticmethod
    def parallel(calls, workers=READ_WORKERS):
        """The results of ``calls`` (in their order), ``workers`` of them running at a time;
        the first error is raised once every call has ended."""
        if len(calls) <= 1 or workers <= 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
            futures = [pool.submit(call) for call in calls]
        for future in futures:
            if future.exception() is not None:
                raise future.exception()
        return [future.result() for future in futures]


class ValidationErrors:
    """Collects validation errors that name the item (index and name) and the field."""

    def __init__(self, kind):
        self.kind = kind
        self.errors = []

    def add(self, index, name, field, message):
        # every part is cut short: the name and field paths echo what the user gave
        where = f"{self.kind}[{index}]" if index is not None else self.kind
        if name:
            where += f" ({clip(name, 80)})"
        if field:
            where += f": {clip(field, 160)}"
        self.errors.append(f"{where}: {clip(message, 2000)}")

    def __bool__(self):
        return bool(self.errors)

    __nonzero__ = __bool__


class Change:
    """One planned action on one object."""

    def __init__(
        self, name, action, before=None, after=None, secret_paths=(), apply=None, extra=None
    ):
        self.name = name
        self.action = action  # created | updated | deleted | unchanged
        self.before = before
        self.after = after
        self.secret_paths = secret_paths
        self.apply = apply
        self.extra = extra or {}

    @property
    def changed(self):
        return self.action != "unchanged"


class PrefectObjectsModule:
    """Base of the bulk object modules. Subclasses set ``kind`` and ``item_spec`` and the hooks."""

    kind = None  # option name holding the list, e.g. "deployments"
    item_spec = None  # suboptions of one item
    extra_spec = {}  # further module options
    supports_prune = False
    parallel_writes = 1  # objects of this kind can be written concurrently when > 1
    # dotted paths of an item's values that name Prefect objects (checked by name_problem)
    name_fields = ("name",)
    # Where an item's ``secret_fields`` may point: item path -> the same value's path in the
    # planned views (diffs). Empty: the kind has no ``secret_fields`` option.
    secret_field_roots = {}
    # results rows of updates name the top-level fields of the views that differ
    report_changed_fields = False
    api_path = None  # e.g. "/automations": the default ``delete`` is DELETE {api_path}/{id}

    def __init__(self, module=None):
        """``module``: the module to plan in, a ``KindPlanner`` (``prefect_plan``); by default
        an ``AnsibleModule`` of this kind's own options."""
        self.module = module or AnsibleModule(
            argument_spec=self.argument_spec(), supports_check_mode=True
        )
        p = self.module.params
        self.client = PrefectClient(
            p["api_url"], p["api_auth_string"], p["validate_certs"], p["timeout"]
        )
        self.errors = ValidationErrors(self.kind)
        self.bad_items = set()  # indexes of items whose options are not what the spec says
        self.items = []
        raw = p[self.kind]
        if not isinstance(raw, list):
            self.errors.add(None, None, None, "expected a list of mappings")
            raw = []
        for index, given in enumerate(raw):
            item, problems = check_options(given, self.item_spec, "")
            self.items.append(item)
            if problems:
                self.bad_items.add(index)
            label = self.item_label(item) if isinstance(item, dict) else None
            # first, so that no message below (nor any API error) shows them
            self.register_values(collect_strings(item, self.secret_fields(item)))
            for field, message in problems:
                self.errors.add(index, label, field, message)
        self.positions = {id(item): index for index, item in enumerate(self.items)}

    @classmethod
    def argument_spec(cls):
        spec = dict(COMMON_ARGUMENT_SPEC)
        # the items are checked by check_options, not by Ansible (see prefect_validate)
        spec[cls.kind] = dict(type="raw", required=True)
        spec.update(cls.extra_spec)
        return spec

    @classmethod
    def item_lists(cls):
        """``{option: item spec}`` of the options that hold the items: Ansible takes each as
        ``raw``, ``check_options`` checks it item by item (documented as a list of mappings with
        these suboptions)."""
        return {cls.kind: cls.item_spec}

    # ---- hooks -------------------------------------------------------------------------
    def item_key(self, item):
        return item["name"]

    def item_label(self, item):
        return key_label(self.item_key(item))

    def load(self):
        """Read-only lookups (server state needed for validation and planning)."""

    def check_item(self, index, item):
        """Checks that need no server, run before any API call: values Prefect cannot store,
        names no URL or index holds. Extend it for what ``load`` needs well formed."""
        label = self.item_label(item)
        if self.secret_field_roots:
            self.check_secret_fields(index, item)
        unstorable = set()
        for key in self.item_spec:
            for field, message in storable(item[key], key):
                self.errors.add(index, label, field, message)
                unstorable.add(field)
        for field in self.name_fields:
            value = lookup(item, field)
            problem = name_problem(value) if isinstance(value, str) else None
            if problem and field not in unstorable:  # a NUL is a control character too
                self.errors.add(index, label, field, problem)

    def validate_item(self, index, item):
        """Add errors to ``self.errors``; must not write."""

    # ---- secrets the user lists ----------------------------------------------------------
    def secret_field_root(self, path):
        """The root of ``secret_field_roots`` that ``path`` lies under, or None."""
        for root in self.secret_field_roots:
            if path == root or path.startswith(root + "."):
                return root
        return None

    def secret_fields(self, item):
        """The item's ``secret_fields`` that lie under a known root (item paths)."""
        fields = item.get("secret_fields") if isinstance(item, dict) else None
        if not isinstance(fields, list):
            return []
        return [f for f in fields if isinstance(f, str) and self.secret_field_root(f)]

    def secret_view_path(self, root, rest):
        """The view path of the item path ``root.rest`` (``rest`` a list of keys)."""
        return ".".join([self.secret_field_roots[root]] + rest)

    def secret_view_paths(self, item):
        """The item's ``secret_fields`` as paths of the planned views, for the diffs."""
        paths = []
        for path in self.secret_fields(item):
            root = self.secret_field_root(path)
            rest = path[len(root) + 1 :].split(".") if path != root else []
            paths.append(self.secret_view_path(root, rest))
        return paths

    def check_secret_fields(self, index, item):
        label = self.item_label(item)
        roots = " or ".join(sorted(self.secret_field_roots))
        for n, path in enumerate(item.get("secret_fields") or []):
            if not isinstance(path, str):
                continue  # check_options reported it
            if "" in path.split("."):
                problem = "is not a dotted path (empty key)"
            elif not self.secret_field_root(path):
                problem = f"is not under {roots}"
            else:
                continue
            self.errors.add(
                index,
                label,
                f"secret_fields[{n}]",
                f"{clip(path, 80)} {problem}: give dotted paths such as {roots}.<key>, "
                "where * matches any key",
            )

    def register_values(self, values):
        """Ansible then blanks these strings out of every output of the task."""
        self.module.no_log_values.update(v for v in values if len(v) >= 4)

    # ---- planning (the base decides; a kind says how to read, view and write) ------------
    # ``plan_item`` and ``plan_prune`` stay overridable: a kind whose planning is genuinely
    # different (several writes per item) may replace them and still return Changes.
    def index_of(self, item):
        """The position of ``item`` in the declared list (items are matched by identity)."""
        return self.positions[id(item)]

    def find(self, item):
        """The server's object of a declared item, or None (default: ``self.existing`` by key,
        which ``load`` fills)."""
        return self.existing.get(self.item_key(item))

    def change_name(self, key):
        """The ``name`` of the results row and diff header of the object with this key."""
        return key_label(key)

    def item_extra(self, item, row):
        """The results row's further fields (``item`` is None for a pruned object)."""
        return {"id": row["id"] if row else None}

    def desired_view(self, item):
        """What the declared item should look like: compared, shown in the diff."""
        raise NotImplementedError

    def actual_view(self, row, item=None, desired=None):
        """The server's object in the shape of ``desired_view``; ``desired`` is None for a
        delete and ``item`` too for a pruned object."""
        raise NotImplementedError

    def same(self, actual, desired):
        """True when nothing needs writing (default: deep equality, 1 == 1.0)."""
        return not differs(desired, actual)

    def diff_secret_paths(self, item, before, after):
        """Paths of the views masked in the diff (``item`` is None for a pruned object)."""
        return self.secret_view_paths(item) if item is not None else []

    def create(self, item, desired, extra):
        """Write a new object; put its id in ``extra``."""
        raise NotImplementedError

    def update(self, item, row, actual, desired, extra):
        """Write the differences of ``desired`` over the existing ``row``."""
        raise NotImplementedError

    def delete(self, key, row):
        """Delete the existing object ``row`` (default: by id under ``api_path``)."""
        self.client.delete("{}/{}".format(self.api_path, row["id"]))

    def prunable(self, declared_keys):
        """``(key, row)`` of the objects to prune: undeclared and made by this project."""
        return []

    def tagged_prunable(self, declared_keys, rows):
        """``prunable`` of a kind whose objects carry the tag of its ``managed_tag`` option: of
        ``rows`` (``(key, row)`` pairs), the undeclared ones with that tag, when ``prune`` is on."""
        tag = self.module.params["managed_tag"]
        if not self.module.params["prune"] or not tag:
            return []
        return [
            (key, row)
            for key, row in rows
            if key not in declared_keys and tag in (row.get("tags") or [])
        ]

    # ---- the record of what this project manages (kinds without tags) -------------------
    record = None  # a ``prefect_record.ManagedRecord`` that ``load`` sets; saved by ``run``

    def record_name(self, key):
        """The name the record keeps for the object with this key (``pool/queue``)."""
        return key_label(key)

    def recordable(self, item):
        """Whether the record follows this declared item (default: every item)."""
        return True

    def adopt(self, item, change):
        """Keep the record in step with an item's plan: a present object that exists is recorded
        (adopted: prune may take it once it is not declared any more), an absent one that is not
        there is forgotten. ``create`` records what it made once the write succeeded, ``delete``
        forgets what it deleted; ``run`` saves the record after the writes, never in check
        mode."""
        if self.record is None or not self.recordable(item):
            return
        name = self.record_name(self.item_key(item))
        if item["state"] == "present" and change.action != "created":
            self.record.add(name)
        elif item["state"] == "absent" and change.action == "unchanged":
            self.record.discard(name)

    def planned_change(self, item, key, action, before, after, apply, extra):
        """A Change whose diff masks what ``diff_secret_paths`` names."""
        return Change(
            self.change_name(key),
            action,
            before=before,
            after=after,
            secret_paths=self.diff_secret_paths(item, before, after),
            apply=apply,
            extra=extra,
        )

    def plan_item(self, item):
        """Return the Change of one declared item: absent, unchanged, created or updated."""
        key = self.item_key(item)
        row = self.find(item)
        extra = self.item_extra(item, row)
        if item.get("state") == "absent":
            if not row:
                return Change(self.change_name(key), "unchanged", extra=extra)
            before = self.actual_view(row, item)
            apply = partial(self.delete, key, row)
            return self.planned_change(item, key, "deleted", before, None, apply, extra)
        desired = self.desired_view(item)
        if not row:
            apply = partial(self.create, item, desired, extra)
            return self.planned_change(item, key, "created", None, desired, apply, extra)
        actual = self.actual_view(row, item, desired)
        if self.same(actual, desired):
            return Change(self.change_name(key), "unchanged", extra=extra)
        if self.report_changed_fields:
            extra["changed_fields"] = changed_fields(desired, actual)
        apply = partial(self.update, item, row, actual, desired, extra)
        return self.planned_change(item, key, "updated", actual, desired, apply, extra)

    def plan_prune(self, declared_keys):
        """Return Changes (deletes) for the objects ``prunable`` names."""
        return [
            self.planned_change(
                None,
                key,
                "deleted",
                self.actual_view(row),
                None,
                partial(self.delete, key, row),
                dict(self.item_extra(None, row), pruned=True),
            )
            for key, row in self.prunable(declared_keys)
        ]

    def prepare_writes(self, changes):
        """Hook run before the writes (e.g. create what parallel writes share)."""

    def apply(self, changes):
        """Run the writes: in list order, or ``parallel_writes`` at a time when independent."""
        self.prepare_writes(changes)
        self.run_parallel([change.apply for change in changes])

    def run_parallel(self, calls):
        """Call each of ``calls``, ``parallel_writes`` at a time; raise the first error."""
        workers = min(self.parallel_writes, len(calls))
        if workers <= 1:
            for call in calls:
                call()
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(call) for call in calls]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]

    def sanitize_item(self, item):
        """One item (a mapping) as echoed in ``invocation`` (override to mask secret data)."""
        return item

    def sanitized_items(self):
        """Items as echoed in ``invocation``; one that is not even a mapping is masked whole."""
        return [
            mask_value(self.sanitize_item(item), self.secret_fields(item))
            if isinstance(item, dict)
            else mask_value(item, ["*"])
            for item in self.items
        ]

    # ---- machinery ---------------------------------------------------------------------
    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, invocation=self.invocation(), **kwargs)

    def invocation(self):
        args = dict(self.module.params)
        args[self.kind] = self.sanitized_items()
        if args.get("api_auth_string"):
            args["api_auth_string"] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        return {"module_args": args}

    def check_duplicates(self):
        seen = {}
        for index, item in enumerate(self.items):
            key = self.item_key(item)
            if key in seen:
                self.errors.add(
                    index,
                    self.item_label(item),
                    "name",
                    f"duplicate of {self.kind}[{seen[key]}]",
                )
            else:
                seen[key] = index

    def fail_validation(self):
        self.fail(
            "validation failed, nothing was changed: " + "; ".join(self.errors.errors),
            validation_errors=self.errors.errors,
        )

    def run(self):
        for index, item in enumerate(self.items):
            if index not in self.bad_items:
                self.check_item(index, item)
        if self.errors:
            self.fail_validation()  # before any API call: no lookup sees these values
        try:
            self.load()
            self.check_duplicates()
            for index, item in enumerate(self.items):
                self.validate_item(index, item)
            if self.errors:
                self.fail_validation()
            changes = []
            for item in self.items:
                changes.append(self.plan_item(item))
                self.adopt(item, changes[-1])
            if self.supports_prune:
                declared = set(self.item_key(item) for item in self.items)
                changes.extend(self.plan_prune(declared))
            # Objects adopted or forgotten by the plan: the record would be saved (a write even
            # when every object is unchanged).
            record_pending = self.record is not None and self.record.pending
            if not self.module.check_mode:
                try:
                    self.apply([c for c in changes if c.changed and c.apply is not None])
                finally:  # also when a write failed: what was written is recorded
                    if self.record is not None:
                        self.record.save(check_mode=False)
        except PrefectAPIError as err:
            self.fail(str(err), status=err.status)
        results = []
        diffs = []
        for change in changes:
            row = {"name": change.name, "action": change.action}
            row.update(change.extra)
            results.append(row)
            if change.changed and self.module._diff:
                before, after = mask_pair(change.before, change.after, change.secret_paths)
                diffs.append(
                    {
                        "before_header": f"{self.kind} {change.name} ({change.action})",
                        "after_header": f"{self.kind} {change.name} ({change.action})",
                        "before": before if before is not None else {},
                        "after": after if after is not None else {},
                    }
                )
        changed = any(c.changed for c in changes) or record_pending
        summary = {}
        for change in changes:
            summary[change.action] = summary.get(change.action, 0) + 1
        extra = {} if self.record is None else {"record_pending": record_pending}
        self.module.exit_json(
            changed=changed,
            results=results,
            diff=diffs,
            summary=summary,
            invocation=self.invocation(),
            **extra,
        )


class KindResult(Exception):
    """How a kind planned by ``KindPlanner`` ends: its result, as ``exit_json`` or ``fail_json``
    would have printed it (``failed`` set when it failed)."""

    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result


class KindPlanner:
    """Stands in for the ``AnsibleModule`` of one object kind inside another module
    (``prefect_plan``), which plans several kinds in one call: the kind's options are checked
    against its own argument spec, it runs in check mode without diff, its warnings and secret
    values go to the module that runs it, and it ends by raising ``KindResult``."""

    check_mode = True
    _diff = False

    def __init__(self, module, kind_class, name, params):
        self._module = module
        self._name = name
        self.no_log_values = module.no_log_values
        checked = ArgumentSpecValidator(kind_class.argument_spec()).validate(params)
        self.no_log_values.update(checked._no_log_values)
        if checked.error_messages:
            self.fail_json(msg="; ".join(checked.error_messages))
        self.params = checked.validated_parameters

    def warn(self, warning):
        self._module.warn(f"{self._name}: {warning}")

    def exit_json(self, **result):
        raise KindResult(result)

    def fail_json(self, msg, **result):
        raise KindResult(dict(result, msg=msg, failed=True))


__all__ = [
    "KindPlanner",
    "KindResult",
    "COMMON_ARGUMENT_SPEC",
    "SECRET_FIELDS_SPEC",
    "Change",
    "MASK",
    "PrefectAPIError",
    "PrefectClient",
    "PrefectObjectsModule",
    "ValidationErrors",
    "differs",
    "mask_value",
    "strip_request_data",
    "q",
]
