"""Load: models training in parallel while browser pages use the app, on loopback only.

Starts the real `torchstudio` server on a demo project holding MODELS copies of the demo
model, loads the dataset and starts every training from the Dashboard ("Start all"),
opens PAGES headless Chromium pages, and for SECONDS measures the UI's response time
(a tab click until the tab's content shows; an HTTP GET of the page) and counts errors in
the server's output and the pages' consoles. Processes (the server's descendants),
listening ports and open file handles are counted after a warm-up (every worker started
once) and again after the trainings are stopped and the pages closed: with no leak they
are the same. Also: the server's CPU while the pages sit idle on the Models tab (nothing
training; against the same server with no page open), and the time from an epoch's arrival
in the app to its point on a page's chart during the load.
Run: python benchmarks/bench_load.py [--seconds 600] [--models 4] [--pages 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
TORCHSTUDIO = str(Path(sys.executable).with_name("torchstudio"))
LIMIT_MS = 300.0
EPOCHS = 100_000  # never reached: the trainings are stopped when the time is up
ERROR_LINE = re.compile(r"Traceback|\bERROR\b|Exception in")
LOADED = re.compile(r"^\d+ training samples$")
IDLE_SECONDS = 20.0  # how long the server's CPU is measured with the pages idle


# ---------------------------------------------------------------------- the process tree


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (workers, their children), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found.extend(children)
        queue.extend(children)
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def listening_ports(pids: list[int]) -> list[int]:
    """TCP ports in LISTEN state held by any of `pids`."""
    inodes = set().union(*(_socket_inodes(p) for p in pids))
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def open_files(pid: int) -> int:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return 0


@dataclass
class Resources:
    processes: int
    zombies: int
    ports: list[int]
    server_files: int
    all_files: int
    files_by_process: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"processes {self.processes} (zombies {self.zombies}), listening ports "
            f"{len(self.ports)}, open files: server {self.server_files}, "
            f"with its workers {self.all_files}"
        )


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid: int, seconds: float) -> float:
    """The share of one core `pid` uses over the next `seconds`."""
    used, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - used) / (time.monotonic() - started)


def count_resources(pid: int) -> Resources:
    children = descendants(pid)
    zombies = 0
    for child in children:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                zombies += 1
    tree = [pid, *children]
    return Resources(
        processes=len(children),
        zombies=zombies,
        ports=listening_ports(tree),
        server_files=open_files(pid),
        all_files=sum(open_files(p) for p in tree),
        files_by_process={f"{p} {role(p)}": open_files(p) for p in tree},
    )


def role(pid: int) -> str:
    """The worker module a process runs (or its program), to name it in the report.

    A worker forked by the fork server keeps the server's command line; it is named by the
    name the server gave it (its module's last part, as `top` shows it).
    """
    with contextlib.suppress(OSError):
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        if "-m" in args:
            module = args[args.index("-m") + 1]
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            if module == "torchstudio.forkserver" and not name.startswith("python"):
                return f"torchstudio.{name}"
            return module
        return os.path.basename(args[1] if len(args) > 1 else args[0])
    return "?"


PER_MODEL_WORKERS = ("torchstudio.modeltrain", "torchstudio.modelbuild")
# Descriptors the server holds per worker: its connection and its stderr pipe (and slack
# for NiceGUI's and asyncio's own pools, which may grow by a few after a busy run).
FILES_PER_WORKER, FILES_SLACK = 2, 6


def leaks(before: Resources, after: Resources, models: int) -> list[str]:
    """What was left behind: zombies, more workers than the app keeps, ports, descriptors.

    The app keeps one worker per name (a trainer and a builder per model, one of each other
    kind) for reuse; a worker first needed during the run (a chart's) may stay too.
    """
    problems = []
    if after.zombies:
        problems.append(f"{after.zombies} zombie processes")
    roles: dict[str, int] = {}
    for name in after.files_by_process:
        worker = name.split(" ", 1)[1]
        if worker.startswith("torchstudio."):
            roles[worker] = roles.get(worker, 0) + 1
    for worker, count in sorted(roles.items()):
        allowed = models if worker in PER_MODEL_WORKERS else 1
        if count > allowed:
            problems.append(f"{count} {worker} processes, at most {allowed} expected")
    if after.ports != before.ports:
        problems.append(f"listening ports {before.ports} became {after.ports}")
    new_workers = max(0, after.processes - before.processes)
    allowed_files = before.server_files + FILES_PER_WORKER * new_workers + FILES_SLACK
    if after.server_files > allowed_files:
        problems.append(f"the server holds {after.server_files} files, at most {allowed_files}")
    return problems


def file_changes(before: Resources, after: Resources) -> list[str]:
    """The processes whose open-file count changed (or which came or went)."""
    names = sorted(set(before.files_by_process) | set(after.files_by_process))
    return [
        f"{name}: {before.files_by_process.get(name, '-')} -> {after.files_by_process.get(name, '-')}"
        for name in names
        if before.files_by_process.get(name) != after.files_by_process.get(name)
    ]


# ---------------------------------------------------------------------- the server


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.url.split("/?")[0]

    def errors(self) -> list[str]:
        return [line for line in list(self.output) if ERROR_LINE.search(line)]


def write_project(folder: Path, models: int) -> Path:
    """The demo project with `models` copies of the demo model, each with many epochs."""
    from torchstudio.app.models.definition import duplicate
    from torchstudio.app.models.document import ModelDocument
    from torchstudio.app.store.project import Project

    path = folder / "load.tsproj"
    subprocess.run(
        [TORCHSTUDIO, "new", "--demo", str(path)],
        check=True,
        env=server_env(folder),
        stdout=subprocess.DEVNULL,
    )
    project = Project.open(path)
    try:
        name = project.model_names()[0]
        settings = {**project.model(name)["settings"], "epochs": EPOCHS}
        project.update_model(name, settings=settings)
        copy = duplicate(ModelDocument.from_json(project.model(name))).to_json()
        for _ in range(models - 1):
            project.add_model(name, copy)
    finally:
        project.close()
    return path


def first_model(path: Path) -> str:
    from torchstudio.app.store.project import Project

    project = Project.open(path)
    try:
        return project.model_names()[0]
    finally:
        project.close()


def server_env(folder: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "TORCHSTUDIO_HOME": str(folder / "home"),
        "TORCHSTUDIO_CACHE": str(folder / "cache"),
    }
    env.pop("PYTEST_CURRENT_TEST", None)  # NiceGUI would take it for its own screen tests
    return env


@contextlib.contextmanager
def running_server(folder: Path, project: Path) -> Iterator[Server]:
    process = subprocess.Popen(
        [TORCHSTUDIO, str(project), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=server_env(folder),
    )
    assert process.stdout is not None
    output: list[str] = []
    url = None
    for line in process.stdout:
        output.append(line.rstrip("\n"))
        found = re.search(r"(http://\S+\?token=\S+)", line)
        if found:
            url = found.group(1)
            break
    if url is None:
        raise RuntimeError("the server printed no URL:\n" + "\n".join(output))
    stream = process.stdout
    # Keep reading what the server prints (a full pipe would block it) and keep it to count.
    threading.Thread(
        target=lambda: [output.append(line.rstrip("\n")) for line in stream], daemon=True
    ).start()
    try:
        yield Server(process, url, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------- the pages


@dataclass
class Measures:
    clicks_ms: list[float] = field(default_factory=list)
    driven_clicks_ms: list[float] = field(default_factory=list)
    gets_ms: list[float] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def open_page(browser: Any, server: Server, measures: Measures) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.on("console", lambda m: m.type == "error" and measures.console_errors.append(m.text))
    page.on("pageerror", lambda e: measures.console_errors.append(str(e)))
    page.goto(server.url)
    page.get_by_role("tab", name="Dashboard").wait_for()
    return page


def trust_if_asked(page: Any) -> None:
    """A project changed outside the app is untrusted: allow its code the way a user does."""
    banner = page.get_by_role("button", name="Trust and allow its code...")
    if banner.count() and banner.first.is_visible():
        banner.first.click()
        page.get_by_role("button", name="Trust", exact=True).click()
        banner.first.wait_for(state="hidden")


def load_dataset(page: Any) -> None:
    page.get_by_role("tab", name="Dataset").click()
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text(LOADED).first.wait_for()


def dashboard_column(page: Any, field: str) -> list[str]:
    """The Dashboard table's cells of column `field` (after the selection box), one per row."""
    from torchstudio.app.pages.dashboard_tab import COLUMNS

    index = 1 + [column["field"] for column in COLUMNS].index(field)
    rows = [row.split("\t") for row in page.locator("tbody tr").all_inner_texts()]
    return [row[index].strip() for row in rows if len(row) > index]


def training_rows(page: Any) -> int:
    """Dashboard rows whose status is `training`."""
    return dashboard_column(page, "status").count("training")


def wait_until(condition: Any, timeout: float, what: Any) -> None:
    """Poll `condition`; on timeout say what was awaited (`what`: text, or a function of now)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what() if callable(what) else what}")


def start_all_and_wait(page: Any, server: Server, models: int) -> None:
    """Start every training from the Dashboard; wait until each trainer process runs."""
    page.get_by_role("tab", name="Dashboard").click()
    page.get_by_role("button", name="Start all", exact=True).click()
    pid = server.process.pid

    def trainers() -> int:
        return sum(role(child) == "torchstudio.modeltrain" for child in descendants(pid))

    wait_until(
        lambda: trainers() >= models and training_rows(page) >= models,
        300,
        lambda: (
            f"{models} trainings: {trainers()} trainers, rows {page.locator('tbody tr').all_inner_texts()}"
        ),
    )


def wait_for_an_epoch_each(page: Any, models: int) -> None:
    """Every model has finished an epoch: its trainer is in its loop (and stops promptly),
    and the workers that draw curves have started."""

    def epochs() -> list[int]:
        return [int(cell) for cell in dashboard_column(page, "epochs") if cell.isdigit()]

    wait_until(
        lambda: len(epochs()) >= models and min(epochs()) >= 1, 600, lambda: f"epochs {epochs()}"
    )


def open_pages(browser: Any, server: Server, measures: Measures, count: int) -> list[Any]:
    """`count` pages, each on the Models tab with its curves shown."""
    pages = [open_page(browser, server, measures) for _ in range(count)]
    for page in pages:
        page.get_by_role("tab", name="Models").click()
        page.locator(".ts-curves").first.wait_for()
    return pages


# Installed in a page on the Models tab: every time the first curves chart gains points
# (after what it showed when installed), the number of points and the wall-clock time (ms)
# of the frame that showed them.
FOLLOW_CHART = """() => {
  window.tsChartTimes = [];
  const holder = document.querySelector('.ts-curves');
  let last = null;
  const look = () => {
    const chart = getElement(holder.id.slice(1)).chart;
    const series = (chart && chart.getOption() || {}).series || [];
    const points = Math.max(0, ...series.map(s => (s.data || []).length));
    if (last === null) {
      last = points;
    } else if (points !== last) {
      last = points;
      requestAnimationFrame(() => window.tsChartTimes.push([points, Date.now()]));
    }
    requestAnimationFrame(look);
  };
  look();
}"""


def epoch_to_chart_ms(page: Any, project: Path, model: str) -> list[float]:
    """For each epoch the page's chart showed: ms from its arrival in the app to its point."""
    from torchstudio.app.store.project import Project

    shown = {points: at for points, at in page.evaluate("window.tsChartTimes") if points}
    stored = Project.open(project)  # the server's file, read beside it (write-ahead log)
    try:
        received = {e["epoch"]: e.get("received") for e in stored.epochs(model)}
    finally:
        stored.close()
    # The chart shows the epochs of the last training from 1: point n is epoch n.
    return [
        shown[n] - received[n] * 1000
        for n in sorted(shown)
        if received.get(n) is not None and shown[n] >= received[n] * 1000
    ]


def stop_all_and_wait(page: Any) -> None:
    page.get_by_role("tab", name="Dashboard").click()
    page.get_by_role("button", name="Stop all", exact=True).click()
    wait_until(lambda: training_rows(page) == 0, 120, "the trainings to stop")


# Installed before each click: resolves with the milliseconds from the click event (its
# timeStamp: when the input reached the page) to the frame after the one where a button
# with TEXT is first visible, i.e. once that frame has been painted.
SHOWN_AFTER_CLICK = """text => {
  window.torchstudioShown = new Promise(resolve => {
    document.addEventListener('click', event => {
      const started = event.timeStamp;
      const visible = () => [...document.querySelectorAll('button')].some(
        b => b.offsetParent !== null && b.textContent.includes(text));
      const poll = () => visible()
        ? requestAnimationFrame(() => resolve(performance.now() - started))
        : requestAnimationFrame(poll);
      poll();
    }, {capture: true, once: true});
  });
}"""


def measure_click(page: Any, tab: str, button: str) -> tuple[float, float]:
    """A tab click until the tab's `button` shows: (in the page, as driven by Playwright), ms.

    The first is what the user sees. The second adds the driver's own round trips to the
    browser (locating, scrolling, hit-testing, then polling for the button): about 70 ms
    on an idle machine for a click on the tab already shown, so it is reported apart.
    """
    page.evaluate(SHOWN_AFTER_CLICK, button)
    started = time.perf_counter()
    page.get_by_role("tab", name=tab).click()
    page.get_by_role("button", name=button, exact=True).wait_for(state="visible")
    driven = (time.perf_counter() - started) * 1000
    return page.evaluate("window.torchstudioShown"), driven


def measure_get(server: Server) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(server.url, timeout=60) as response:
        response.read()
        assert response.status == 200
    return (time.perf_counter() - started) * 1000


def exercise(pages: list[Any], server: Server, seconds: float, measures: Measures) -> None:
    """Switch tabs on every page in turn and GET the page, until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for page in pages:
            for tab, button in (("Dashboard", "Start all"), ("Dataset", "Load")):
                shown, driven = measure_click(page, tab, button)
                measures.clicks_ms.append(shown)
                measures.driven_clicks_ms.append(driven)
            measures.gets_ms.append(measure_get(server))
            if time.monotonic() >= deadline:
                break


# ---------------------------------------------------------------------- the run


@dataclass
class LoadReport:
    before: Resources
    after: Resources
    clicks_ms: list[float]
    driven_clicks_ms: list[float]
    gets_ms: list[float]
    server_errors: list[str]
    console_errors: list[str]
    seconds: float
    models: int
    # Share of a core: no page open, the pages on the Models tab (None: not measured).
    idle_cpu: tuple[float, float] | None
    pages: int
    epoch_to_chart_ms: list[float]

    @property
    def leaks(self) -> list[str]:
        return leaks(self.before, self.after, self.models)

    @staticmethod
    def percentiles(values: list[float]) -> tuple[float, float, float]:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        return statistics.median(ordered), p95, ordered[-1]

    def lines(self) -> list[str]:
        out = [f"measured for {self.seconds:.0f} s"]
        measured = (
            ("tab click, in the page", self.clicks_ms),
            ("HTTP GET of the page", self.gets_ms),
            (
                "tab click as driven by Playwright (adds the driver's round trips)",
                self.driven_clicks_ms,
            ),
        )
        for what, values in measured:
            p50, p95, worst = self.percentiles(values)
            verdict = ", ".join(
                f"{name} {'under' if v < LIMIT_MS else 'OVER'} {LIMIT_MS:.0f} ms"
                for name, v in (("p50", p50), ("p95", p95), ("max", worst))
            )
            over = sum(v >= LIMIT_MS for v in values)
            out.append(
                f"{what}: {len(values)} samples, p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
                f"max {worst:.0f} ms ({verdict}); {over} at or over {LIMIT_MS:.0f} ms "
                f"({100 * over / len(values):.1f}%)"
            )
        if self.idle_cpu is not None:
            alone, idle = self.idle_cpu
            out.append(
                f"server CPU with nothing training: no page open {100 * alone:.2f}% of a core, "
                f"{self.pages} pages idle on the Models tab {100 * idle:.2f}% "
                f"({'under' if idle < 0.01 else 'OVER'} the 1% goal)"
            )
        if self.epoch_to_chart_ms:
            p50, p95, worst = self.percentiles(self.epoch_to_chart_ms)
            out.append(
                f"an epoch's arrival to its point on a page's chart, under this load: "
                f"{len(self.epoch_to_chart_ms)} epochs, p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
                f"max {worst:.0f} ms"
            )
        out.append(f"before: {self.before.line()}")
        out.append(f"after:  {self.after.line()}")
        out.extend(f"  open files of {line}" for line in file_changes(self.before, self.after))
        out.append("leaks: " + ("; ".join(self.leaks) or "none"))
        out.append(
            f"errors: server log {len(self.server_errors)}, consoles {len(self.console_errors)}"
        )
        out.extend(f"  server: {line}" for line in self.server_errors[:10])
        out.extend(f"  console: {line}" for line in self.console_errors[:10])
        return out


def steady(pid: int, timeout: float = 30) -> Resources:
    """The resources once the same counts are seen three seconds apart (or the timeout)."""
    deadline = time.monotonic() + timeout
    previous = count_resources(pid)
    while time.monotonic() < deadline:
        time.sleep(3)
        now = count_resources(pid)
        if (now.processes, now.ports, now.server_files) == (
            previous.processes,
            previous.ports,
            previous.server_files,
        ) and not now.zombies:
            return now
        previous = now
    return previous


def settle(pid: int, before: Resources, timeout: float = 60) -> Resources:
    """The resources once closed pages and stopped trainings are let go (or the timeout)."""
    deadline = time.monotonic() + timeout
    now = count_resources(pid)
    while time.monotonic() < deadline:
        if (now.processes, now.ports) == (before.processes, before.ports) and (
            now.server_files <= before.server_files
        ):
            break
        time.sleep(1)
        now = count_resources(pid)
    return now


def run_load(
    seconds: float, models: int, pages: int, folder: Path, idle_seconds: float = IDLE_SECONDS
) -> LoadReport:
    """The load; `idle_seconds` 0 leaves out the idle server's CPU share."""
    from playwright.sync_api import sync_playwright

    project = write_project(folder, models)
    measures = Measures()
    with running_server(folder, project) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # Warm-up: load the dataset and start every worker once, so that the counts
            # before and after compare the same set of long-lived workers.
            first = open_page(browser, server, measures)
            trust_if_asked(first)
            load_dataset(first)
            start_all_and_wait(first, server, models)
            wait_for_an_epoch_each(first, models)
            stop_all_and_wait(first)
            first.context.close()
            before = steady(server.process.pid)

            idle_cpu = None
            if idle_seconds:  # the idle server's CPU share, first alone, then with pages open
                alone = cpu_share(server.process.pid, idle_seconds)
                opened = open_pages(browser, server, measures, pages)
                time.sleep(3)  # the pages' first drawings are done
                idle_cpu = (alone, cpu_share(server.process.pid, idle_seconds))
            else:
                opened = open_pages(browser, server, measures, pages)

            # One page stays on the Models tab and times the curves; the others are exercised.
            follower, exercised = opened[-1], opened[:-1] or opened
            follower.evaluate(FOLLOW_CHART)
            start_all_and_wait(opened[0], server, models)
            started = time.monotonic()
            exercise(exercised, server, seconds, measures)
            elapsed = time.monotonic() - started
            charted = epoch_to_chart_ms(follower, project, first_model(project))
            stop_all_and_wait(opened[0])
            for page in opened:
                page.context.close()
        finally:
            browser.close()
        after = settle(server.process.pid, before)
        return LoadReport(
            before,
            after,
            measures.clicks_ms,
            measures.driven_clicks_ms,
            measures.gets_ms,
            server.errors(),
            measures.console_errors,
            elapsed,
            models,
            idle_cpu,
            pages,
            charted,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="how long to measure")
    parser.add_argument("--models", type=int, default=4, help="models training in parallel")
    parser.add_argument("--pages", type=int, default=5, help="browser pages open on the app")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        report = run_load(args.seconds, args.models, args.pages, Path(folder))
    print(f"{args.models} models training, {args.pages} pages open")
    for line in report.lines():
        print(line)


if __name__ == "__main__":
    main()
