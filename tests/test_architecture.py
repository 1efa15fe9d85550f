"""The layers of docs/ARCHITECTURE.md, held by the import graph (grimp reads every import
statement of every module, wherever it stands).

- No import cycle between the product's modules.
- Every import is at module level: none hides a dependency inside a function.
- Reads do not import writes: selectors and chat.listing reach no service, no delivery
  module and no task.
- The read layer does not depend on DRF.
- messaging_site's core knows no app: only its composition modules (the URL and socket
  tables, the ASGI entry point, the socket's authentication) import apps.
"""

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["accounts", "chat", "boards", "campaigns", "moderation", "web"]
PACKAGES = [*APPS, "messaging_site"]
COMPOSITION = {
    "messaging_site.asgi",
    "messaging_site.routing",
    "messaging_site.urls",
    "messaging_site.websocket",
}


def _product(module: str) -> bool:
    return ".tests" not in module and ".migrations" not in module


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def _product_modules(graph) -> list[str]:
    return sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES and _product(m))


def _cycles(modules: list[str], imports: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle(graph):
    modules = _product_modules(graph)
    product = set(modules)
    imports = {m: graph.find_modules_directly_imported_by(m) & product for m in modules}
    assert _cycles(modules, imports) == []


def test_the_cycle_finder_finds_cycles():
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(sorted(imports), imports) == [["a", "b", "c"]]


def test_every_import_is_at_module_level():
    nested = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            top = {id(node) for node in tree.body}
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                    nested.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert nested == []


READS = ["accounts.selectors", "boards.selectors", "campaigns.selectors", "chat.selectors",
         "chat.listing", "chat.reading", "chat.search"]  # fmt: skip
WRITES = ["accounts.services", "boards.services", "campaigns.services", "campaigns.sending",
          "campaigns.tasks", "campaigns.queue", "chat.services", "chat.memberships",
          "chat.sending"]  # fmt: skip


@pytest.fixture(scope="module")
def read_graph():
    """The graph without one edge: accounts.models imports DRF's token model, to show it in
    admin by prefix (`ApiToken`). That is a table, not DRF's request or serializer layer,
    which is what reads must not depend on."""
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True)
    graph.remove_import(importer="accounts.models", imported="rest_framework")
    return graph


@pytest.mark.parametrize("read", READS)
def test_reads_do_not_import_writes_or_drf(read_graph, read):
    reached = read_graph.find_upstream_modules(read)
    assert [write for write in WRITES if write in reached] == []
    assert sorted(m for m in reached if m.split(".")[0] == "rest_framework") == []


def test_messaging_sites_core_knows_no_app(graph):
    core = [m for m in _product_modules(graph) if m.startswith("messaging_site.")]
    leaks = {
        module: sorted(i for i in graph.find_modules_directly_imported_by(module)
                       if i.split(".")[0] in APPS)
        for module in core
        if module not in COMPOSITION
    }  # fmt: skip
    assert {module: apps for module, apps in leaks.items() if apps} == {}


def test_every_task_the_app_enqueues_or_beat_schedules_is_registered():
    from django.conf import settings

    from campaigns import queue
    from messaging_site.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    named = {queue.SEND_SMS, queue.DISPATCH, queue.TICK}
    assert named | scheduled <= set(app.tasks)
