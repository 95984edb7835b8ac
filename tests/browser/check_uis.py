#!/usr/bin/env python3
"""Drive the Prefect and MLflow UIs of a converged server host in a real browser, as a person would.

Run from the Ansible controller against the nginx TLS front door (see README.md beside this file):

    CHECK_UIS_PREFECT_AUTH='admin:SECRET' CHECK_UIS_MLFLOW_PASSWORD=SECRET2 \
    .venv/bin/python tests/browser/check_uis.py --base-url https://172.30.0.10 --mlflow-user admin \
        --deployment load-data/main --deployment train-model/main --schedule '0 0 1 * *' \
        --worker worker1 --model fake-news-classifier --alias champion \
        --screenshots /tmp/artifacts --ca-file ca.crt

Debian's chromium (scripts/install-browser.sh) is driven through Playwright's sync API; no browser
is downloaded. Every wait is bounded by --timeout. One line is printed per check passed; a missing
element is reported with its step and saved as FAILED-<step>.png, and the exit status is then 1.
The other checks still run, except those that need what failed (TLS, the Prefect login).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Response,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CA_NICKNAME = "prefect-stack-ca"
VIEWPORT = {"width": 1400, "height": 900}
LOG_LEVELS = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")


class CheckFailed(Exception):
    """An expectation that a person looking at the UI would see was not met."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def _base_path(path: str) -> str:
    """'/mlflow' -> '/mlflow/', '' -> '/': the base paths are directories."""
    path = "/" + path.strip("/")
    return path if path == "/" else path + "/"


class Run:
    def __init__(self, args: argparse.Namespace, home: Path):
        self.args = args
        self.home = home
        self.timeout_ms = int(args.timeout * 1000)
        self.shots = Path(args.screenshots)
        self.shots.mkdir(parents=True, exist_ok=True)
        base = args.base_url.rstrip("/")
        self.prefect_url = base + _base_path(args.prefect_path)
        self.prefect_api = self.prefect_url + "api"
        self.mlflow_url = base + _base_path(args.mlflow_path)
        self.https = urlsplit(base).scheme == "https"
        self.step = "setup"
        self.page: Page | None = None
        self.failures: list[str] = []
        self.contexts: list[BrowserContext] = []

    # -- reporting -------------------------------------------------------------------------------
    def begin(self, step: str, page: Page | None = None) -> None:
        self.step = step
        if page is not None:
            self.page = page

    def passed(self, message: str) -> None:
        print(f"PASS {self.step}: {message}", flush=True)

    def shot(self, page: Page, name: str) -> None:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)

    def fail(self, message: str) -> NoReturn:
        raise CheckFailed(message)

    def record_failure(self, message: str) -> None:
        step = self.step
        shot = self.shots / f"FAILED-{_slug(step)}.png"
        if self.page is not None and not self.page.is_closed():
            try:
                self.page.screenshot(path=str(shot))
            except PlaywrightError as exc:  # the page may be gone with the browser
                print(f"(could not save {shot}: {exc.message.splitlines()[0]})", file=sys.stderr)
                shot = None
        else:
            shot = None
        where = f" (screenshot: {shot})" if shot else ""
        print(f"FAIL {step}: {message}{where}", flush=True)
        self.failures.append(f"{step}: {message}")

    def attempt(self, func, *a) -> bool:
        """Run one check; a failure is recorded and ends that check only."""
        try:
            func(*a)
        except CheckFailed as exc:
            self.record_failure(str(exc))
        except PlaywrightError as exc:
            first = exc.message.splitlines()[0] if exc.message else repr(exc)
            self.record_failure(f"unexpected browser error: {first}")
        else:
            return True
        return False

    def section(self, func, *a) -> None:
        """Run one independent section (its own browser context) and close its contexts."""
        try:
            self.attempt(func, *a)
        finally:
            self.page = None
            while self.contexts:
                self.contexts.pop().close()

    # -- browser helpers -------------------------------------------------------------------------
    def new_context(self, browser: Browser, **kwargs) -> BrowserContext:
        ctx = browser.new_context(
            viewport=VIEWPORT, ignore_https_errors=self.args.insecure, **kwargs
        )
        ctx.set_default_timeout(self.timeout_ms)
        ctx.set_default_navigation_timeout(self.timeout_ms)
        self.contexts.append(ctx)
        return ctx

    def goto(self, page: Page, url: str) -> Response | None:
        try:
            response = page.goto(url, wait_until="commit")
        except PlaywrightError as exc:
            first = exc.message.splitlines()[0]
            if "ERR_CERT" in first or "SSL" in first:
                hint = (
                    f"the CA in --ca-file {self.args.ca_file} did not sign it"
                    if self.args.ca_file
                    else "give --ca-file"
                )
                self.fail(f"Chromium does not trust the certificate of {url}: {first} ({hint})")
            self.fail(f"could not open {url}: {first}")
        return response

    def need(self, locator: Locator, missing: str, timeout_ms: int | None = None) -> Locator:
        """The first element of `locator` becomes visible within the timeout, or `missing`."""
        first = locator.first
        try:
            expect(first).to_be_visible(timeout=timeout_ms or self.timeout_ms)
        except AssertionError:
            self.fail(missing)
        return first

    # -- TLS -------------------------------------------------------------------------------------
    def tls(self, browser: Browser) -> None:
        """Chromium reaches the front door without a certificate error (or --insecure)."""
        page = self.new_context(browser).new_page()
        self.begin("tls", page)
        url = self.args.base_url.rstrip("/") + "/"
        response = self.goto(page, url)
        status = response.status if response is not None else "?"
        how = (
            f"Chromium trusts the certificate of {urlsplit(url).netloc} through --ca-file "
            f"{self.args.ca_file}"
            if self.args.ca_file
            else f"HTTPS errors ignored for {urlsplit(url).netloc} (--insecure)"
        )
        self.passed(f"{how}; {url} answered {status}")

    # -- Prefect ---------------------------------------------------------------------------------
    def prefect(self, browser: Browser) -> None:
        ctx = self.new_context(browser)
        page = ctx.new_page()
        self.begin("prefect-login", page)
        ui_root = self.prefect_login(page)  # the other checks need the session
        for step, check in (
            ("prefect-deployments", self.prefect_deployments),
            ("prefect-workers", self.prefect_workers),
            ("prefect-flow-run-logs", self.prefect_flow_run_logs),
        ):
            self.begin(step)
            self.attempt(check, page, ui_root)

    def prefect_login(self, page: Page) -> str:
        self.goto(page, self.prefect_url)
        secret = self.need(
            page.locator("input[type=password]"),
            f"no login form (password input) on {page.url}; is basic auth enabled in Prefect?",
        )
        self.shot(page, "prefect-01-login")
        secret.fill(self.args.prefect_auth)
        page.get_by_role("button", name="Login").click()
        nav = page.get_by_role("link", name="Deployments", exact=True)
        refused = page.get_by_text("Invalid credentials", exact=True)
        self.need(
            nav.or_(refused),
            f"neither the navigation nor an error appeared after logging in ({page.url})",
        )
        if refused.is_visible():
            self.fail("the login form answered 'Invalid credentials' to CHECK_UIS_PREFECT_AUTH")
        try:
            page.wait_for_url(lambda u: "/login" not in urlsplit(u).path, timeout=self.timeout_ms)
        except PlaywrightTimeoutError:
            self.fail(f"still on the login page after submitting the auth string ({page.url})")
        # Prefect 3.9 serves its React UI ("V2") under <ui>/v2/ and makes it the default; the
        # selectors below are that UI's. Stay in it even if this server defaults to V1.
        match = re.match(r"^(.*?/v2/)", urlsplit(page.url).path)
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
        ui_root = origin + match.group(1) if match else self.prefect_url + "v2/"
        self.passed(f"logged in through the login form; UI at {ui_root}")
        return ui_root

    def prefect_deployments(self, page: Page, ui_root: str) -> None:
        wanted = [d.split("/", 1) for d in self.args.deployment]
        list_url = ui_root + "deployments?page=1&sort=NAME_ASC&limit=100"
        self.goto(page, list_url)
        self.need(page.get_by_role("table"), f"no deployments table on {page.url}")

        def row_of(flow: str, name: str) -> Locator:
            return (
                page.get_by_role("row")
                .filter(has=page.get_by_role("link", name=name, exact=True))
                .filter(has=page.get_by_role("link", name=flow, exact=True))
            )

        for flow, name in wanted:
            row = self.need(
                row_of(flow, name), f"deployment '{flow}/{name}' not listed on /deployments"
            )
            self.need(
                row.get_by_text(re.compile(r"^\d+ schedules?$")),
                f"deployment '{flow}/{name}' shows no schedule on /deployments",
            )
            self.passed(f"deployment '{flow}/{name}' listed on /deployments with a schedule")
        for flow, name in (d.split("/", 1) for d in self.args.listed):
            self.need(row_of(flow, name), f"deployment '{flow}/{name}' not listed on /deployments")
            self.passed(f"deployment '{flow}/{name}' listed on /deployments")
        self.shot(page, "prefect-02-deployments")

        for flow, name in wanted:
            self.goto(page, list_url)
            row = self.need(
                row_of(flow, name), f"deployment '{flow}/{name}' not listed on /deployments"
            )
            row.get_by_role("link", name=name, exact=True).click()
            self.prefect_schedule(page, flow, name)

    def prefect_schedule(self, page: Page, flow: str, name: str) -> None:
        """The deployment page shows each schedule in words; its Edit dialog shows the cron."""
        want = self.args.schedule
        self.need(
            page.get_by_text("Schedules", exact=True),
            f"no 'Schedules' section on the page of deployment '{flow}/{name}'",
        )
        switches = page.get_by_role("switch", name=re.compile(r"^toggle "))
        self.need(switches, f"deployment '{flow}/{name}' has no schedule on its page ({page.url})")
        seen: list[str] = []
        for i in range(switches.count()):
            switch = switches.nth(i)
            words = (switch.get_attribute("aria-label") or "").removeprefix("toggle ")
            active = switch.get_attribute("aria-checked") == "true"
            card = switch.locator("xpath=ancestor::div[.//button[@aria-haspopup='menu']][1]")
            card.get_by_role("button", name="Open menu").click()
            page.get_by_role("menuitem", name="Edit").click()
            dialog = self.need(
                page.get_by_role("dialog"), f"the Edit dialog of schedule '{words}' did not open"
            )
            cron_input = dialog.locator("input[name='schedule.cron']")
            try:
                cron_input.wait_for(state="visible", timeout=min(self.timeout_ms, 5000))
                cron = cron_input.input_value().strip()
            except PlaywrightTimeoutError:
                cron = None  # an interval or rrule schedule
            seen.append(f"{words!r} (cron {cron!r})")
            if cron == want:
                self.shot(page, f"prefect-03-deployment-{_slug(flow)}-{_slug(name)}-schedule")
            page.keyboard.press("Escape")
            expect(dialog).to_be_hidden(timeout=self.timeout_ms)
            if cron == want:
                if not active:
                    self.fail(f"schedule '{want}' of deployment '{flow}/{name}' is paused")
                self.passed(f"deployment '{flow}/{name}' has schedule '{want}' ({words}, active)")
                return
        self.fail(
            f"schedule '{want}' not shown for deployment '{flow}/{name}'; "
            f"its schedules: {', '.join(seen)}"
        )

    def prefect_workers(self, page: Page, ui_root: str) -> None:
        self.goto(page, ui_root + "work-pools")
        links = page.locator("a[href*='/work-pools/work-pool/']")
        self.need(links, "no work pool listed on /work-pools")
        pools: dict[str, str] = {}
        for link in links.all():
            pool = link.inner_text().strip()
            href = link.get_attribute("href") or ""
            if pool and href and pool not in pools:
                pools[pool] = urljoin(page.url, href.split("?")[0])
        if self.args.work_pool:
            missing = [p for p in self.args.work_pool if p not in pools]
            if missing:
                self.fail(f"work pool(s) {missing} not listed on /work-pools (found {list(pools)})")
            pools = {p: pools[p] for p in self.args.work_pool}

        pending = list(dict.fromkeys(self.args.worker))
        for pool, url in pools.items():
            if not pending:
                break
            self.goto(page, url + "?tab=Workers")
            self.need(
                page.get_by_text(re.compile(r"^\d+ workers?$")),
                f"the Workers tab of work pool '{pool}' did not load",
            )
            found_here = False
            for worker in list(pending):
                row = page.get_by_role("row").filter(
                    has=page.get_by_role("cell", name=worker, exact=True)
                )
                if row.count() == 0:
                    continue
                found_here = True
                try:
                    expect(row.first.get_by_text("Online", exact=True)).to_be_visible(
                        timeout=self.timeout_ms
                    )
                except AssertionError:
                    cells = [c.strip() for c in row.first.get_by_role("cell").all_inner_texts()]
                    cells = [c for c in cells if c and c != "Open menu"]
                    self.fail(
                        f"worker '{worker}' in work pool '{pool}' is not ONLINE "
                        f"(row: {' | '.join(cells)})"
                    )
                pending.remove(worker)
                self.passed(f"worker '{worker}' is ONLINE in work pool '{pool}'")
            if found_here:
                self.shot(page, f"prefect-04-workers-{_slug(pool)}")
        if pending:
            self.fail(
                f"worker(s) {', '.join(repr(w) for w in pending)} not listed on the Workers tab "
                f"of work pool(s) {', '.join(pools)}"
            )

    def prefect_flow_run_logs(self, page: Page, ui_root: str) -> None:
        self.goto(page, ui_root + "runs?tab=flow-runs&state=Completed")
        link = self.need(
            page.locator("main a[href*='/runs/flow-run/']"),
            "no COMPLETED flow run listed on /runs (filtered on state Completed, past 7 days)",
        )
        run_name = link.inner_text().strip()
        link.click()
        page.wait_for_url(re.compile(r"/runs/flow-run/"))
        self.need(
            page.get_by_text("Completed", exact=True),
            f"flow run '{run_name}' does not show the state Completed",
        )
        page.get_by_role("tab", name="Logs").click()
        # each log line is a list item: a level badge, the message, the time and the logger
        badge = page.locator("[data-slot=badge]").filter(has_text=LOG_LEVELS)
        lines = page.get_by_role("tabpanel", name="Logs").locator("li").filter(has=badge)
        line = self.need(
            lines, f"no log line visible on the Logs tab of flow run '{run_name}' ({page.url})"
        )
        level = line.locator("[data-slot=badge]").filter(has_text=LOG_LEVELS).first.inner_text()
        # the item reads [date separator] LEVEL message time logger
        text = " ".join(line.inner_text().split(level, 1)[-1].split())
        text = re.split(r" \d{1,2}:\d{2}:\d{2}( [AP]M)? ", text + " ", maxsplit=1)[0]
        self.shot(page, "prefect-05-flow-run-logs")
        self.passed(
            f"COMPLETED flow run '{run_name}' shows {lines.count()} log line(s), "
            f"e.g. {level} {text[:90]!r}"
        )

    # -- MLflow ----------------------------------------------------------------------------------
    def mlflow(self, browser: Browser) -> None:
        # A context of its own: the browser's Basic credentials must not reach Prefect's API,
        # which reads the same Authorization header.
        ctx = self.new_context(
            browser,
            http_credentials={
                "username": self.args.mlflow_user,
                "password": self.args.mlflow_password,
            },
        )
        page = ctx.new_page()
        # MLflow may greet a fresh browser with a modal about its new registry UI.
        promo = page.get_by_role("dialog").filter(has_text="Try it now")
        page.add_locator_handler(
            promo, lambda d: d.get_by_role("button", name="Try it now").click()
        )
        self.begin("mlflow-ui", page)
        response = self.goto(page, self.mlflow_url)
        if response is not None and response.status == 401:
            self.fail(f"MLflow rejected the credentials of user '{self.args.mlflow_user}'")
        self.need(
            page.get_by_role("link", name="Experiments"),
            f"the MLflow UI did not render at {self.mlflow_url} (no 'Experiments' link)",
        )
        version = page.get_by_text(re.compile(r"^\d+\.\d+\.\d+$"))
        shown = version.first.inner_text() if version.count() else "?"
        self.shot(page, "mlflow-01-home")
        self.passed(f"MLflow UI {shown} opened as '{self.args.mlflow_user}' (basic auth)")

        self.begin("mlflow-models")
        model = self.args.model
        self.goto(page, self.mlflow_url + "#/models")
        link = self.need(
            page.get_by_role("link", name=model, exact=True),
            f"model '{model}' not listed on the model registry page (#/models)",
        )
        self._dismiss(page, promo)
        self.shot(page, "mlflow-02-models")
        self.passed(f"model '{model}' listed in the model registry")

        self.begin("mlflow-alias")
        alias = self.args.alias
        link.click()
        page.wait_for_url(re.compile(r"#/models/[^/]+$"))
        tag = self.need(
            page.get_by_text(re.compile(rf"^@\s*{re.escape(alias)}$")),
            f"alias '@{alias}' not shown on the page of model '{model}' ({page.url})",
        )
        row = page.get_by_role("row").filter(has=tag)
        version_text = ""
        if row.count():
            found = re.search(r"Version \d+", row.first.inner_text())
            version_text = f" on {found.group(0)}" if found else ""
        self._dismiss(page, promo)
        self.shot(page, f"mlflow-03-model-{_slug(model)}")
        self.passed(f"model '{model}' shows alias '@{alias}'{version_text}")

    def _dismiss(self, page: Page, promo: Locator) -> None:
        if promo.count() and promo.first.is_visible():
            promo.first.get_by_role("button", name="Try it now").click()
            expect(promo.first).to_be_hidden(timeout=self.timeout_ms)

    # -- anonymous -------------------------------------------------------------------------------
    def anonymous(self, browser: Browser) -> None:
        ctx = self.new_context(browser)
        page = ctx.new_page()
        checks = [
            (
                "anonymous-mlflow-api",
                "GET",
                self.mlflow_url + "api/2.0/mlflow/experiments/search?max_results=1",
            ),
            ("anonymous-prefect-api", "POST", self.prefect_api + "/deployments/filter"),
        ]
        for step, method, url in checks:
            self.begin(step, page)
            self.attempt(self._refused, ctx, page, method, url)

    def _refused(self, ctx: BrowserContext, page: Page, method: str, url: str) -> None:
        """An anonymous request through the context's request API is answered 401."""
        try:
            if method == "GET":
                response = ctx.request.get(url, max_redirects=0)
            else:
                response = ctx.request.post(
                    url,
                    data=json.dumps({"limit": 1}),
                    max_redirects=0,
                    headers={"Content-Type": "application/json"},
                )
        except PlaywrightError as exc:
            self.fail(f"{method} {url} failed: {exc.message.splitlines()[0]}")
        status = response.status
        body = response.text()[:300]
        response.dispose()
        if status != 401:
            page.set_content(
                f"<h3>{html.escape(method)} {html.escape(url)}</h3>"
                f"<p>status {status}</p><pre>{html.escape(body)}</pre>"
            )
            self.fail(f"anonymous {method} {url} answered {status}, expected 401")
        self.passed(f"anonymous {method} {urlsplit(url).path} is refused with 401")


def _nss_home(ca_file: str) -> Path:
    """A throwaway HOME whose NSS db (the one Chromium reads on Linux) trusts the CA."""
    certutil = shutil.which("certutil")
    if certutil is None:
        raise SystemExit("check_uis: certutil not found; run scripts/install-browser.sh")
    home = Path(tempfile.mkdtemp(prefix="check-uis-home-"))
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    db = f"sql:{nssdb}"
    for cmd in (
        [certutil, "-N", "-d", db, "--empty-password"],
        [certutil, "-A", "-d", db, "-t", "C,,", "-n", CA_NICKNAME, "-i", ca_file],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            shutil.rmtree(home, ignore_errors=True)
            raise SystemExit(f"check_uis: {' '.join(cmd)} failed: {done.stderr.strip()}")
    return home


SECRET_ENV = {
    "prefect_auth": "CHECK_UIS_PREFECT_AUTH",
    "mlflow_password": "CHECK_UIS_MLFLOW_PASSWORD",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--base-url", required=True, help="the front door, e.g. https://172.30.0.10")
    add("--prefect-path", default="/", help="path of the Prefect UI (default /; API at <path>api)")
    add("--mlflow-path", default="/mlflow/", help="path of the MLflow UI (default /mlflow/)")
    add("--mlflow-user", required=True)
    add("--deployment", action="append", required=True, metavar="FLOW/NAME")
    add("--schedule", required=True, help="the cron every --deployment must have")
    add("--listed", action="append", default=[], metavar="FLOW/NAME",
        help="a deployment that must be listed, with or without a schedule")  # fmt: skip
    add("--worker", action="append", required=True, help="a worker that must be ONLINE")
    add("--work-pool", action="append", default=[], help="look for workers only in these pools")
    add("--model", required=True, help="a registered model that must be listed")
    add("--alias", required=True, help="an alias the model must show")
    add("--screenshots", required=True, help="directory for the PNGs")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-file", help="PEM CA that signed the front door's certificate")
    tls.add_argument("--insecure", action="store_true", help="ignore HTTPS errors")
    add("--timeout", type=float, default=30.0, help="seconds to wait for each element")
    args = parser.parse_args(argv)
    # Secrets come from the environment: an argument is in every process listing.
    for attr, name in SECRET_ENV.items():
        value = os.environ.get(name, "")
        if not value:
            parser.error(f"set {name} in the environment")
        setattr(args, attr, value)
    for dep in args.deployment:
        if not re.fullmatch(r"[^/]+/[^/]+", dep):
            parser.error(f"--deployment {dep!r} is not FLOW/NAME")
    if urlsplit(args.base_url).scheme not in ("http", "https"):
        parser.error("--base-url must start with https:// or http://")
    if urlsplit(args.base_url).scheme == "https" and not (args.ca_file or args.insecure):
        parser.error(
            "--base-url is https: give --ca-file CA.crt so that Chromium trusts the server "
            "certificate, or --insecure to ignore HTTPS errors explicitly"
        )
    if args.ca_file and not Path(args.ca_file).is_file():
        parser.error(f"--ca-file {args.ca_file} does not exist")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"check_uis: {CHROMIUM} missing; run scripts/install-browser.sh", file=sys.stderr)
        return 2
    if args.ca_file:
        home = _nss_home(args.ca_file)
        # The request API (anonymous checks) runs in Playwright's Node driver, not in Chromium.
        os.environ["NODE_EXTRA_CA_CERTS"] = str(Path(args.ca_file).resolve())
    else:
        home = Path(tempfile.mkdtemp(prefix="check-uis-home-"))
    run = Run(args, home)
    # Playwright launches Chromium with a fresh temporary user data dir; HOME points Chromium's
    # NSS db (and any other per-user state) into our temp dir as well.
    env = {**os.environ, "HOME": str(home)}
    env.pop("NODE_EXTRA_CA_CERTS", None)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)
            try:
                if run.https:
                    run.section(run.tls, browser)
                if not run.failures:  # every page would fail the same way
                    run.section(run.prefect, browser)
                    run.section(run.mlflow, browser)
                    run.section(run.anonymous, browser)
            finally:
                browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if run.failures:
        print(f"{len(run.failures)} check(s) failed", flush=True)
        return 1
    print("all UI checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
