"""A Model tab's left side: the model module or code, Build, and the graph."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

from nicegui import background_tasks, events, ui

from torchstudio.app.catalog import form_parameters, module_key
from torchstudio.app.dataset.definition import error_line
from torchstudio.app.pages.layout import CODE_THEME, ask_replace, mark_error_line
from torchstudio.app.pages.live import Live
from torchstudio.app.studio import Studio

# The name the workers give the model's code in error texts ('File "model code", line 3').
MODEL_CODE = "model code"

# The graph's SVG comes over HTTP and is put inline, so its nodes' <title> show as tooltips
# (op, parameters, shape, dtype) on hover; the sample browser's zoom script zooms and pans it.
GRAPH_SCRIPT = """
<script>
window.tsGraph = async (id, src) => {
  const holder = document.getElementById(id);
  if (!holder || holder.dataset.src === src) return;
  holder.dataset.src = src;
  const reply = await fetch(src);
  if (!reply.ok || holder.dataset.src !== src) return;
  holder.innerHTML = await reply.text();
  const svg = holder.querySelector('svg');
  if (svg) { svg.style.width = '100%'; svg.style.height = '100%'; }
};
// A click on a node shows its details (op, parameters, shapes, dtype: its <title>) in the
// graph's panel; a click elsewhere hides it.
document.addEventListener('click', (e) => {
  const box = e.target.closest && e.target.closest('.ts-graph-box');
  if (!box) return;
  const panel = box.querySelector('.ts-node-details');
  const node = e.target.closest('g.node');
  const title = node && node.querySelector('title');
  panel.textContent = title ? title.textContent : '';
  panel.style.display = title ? 'block' : 'none';
});
// A double-click on a module opens it in place (its children drawn); on a node drawn inside
// an opened module (with shift when the node opens too), it closes that module. Caught
// before the zoom's double-click (fit).
document.addEventListener('dblclick', (e) => {
  const node = e.target.closest && e.target.closest('.ts-graph-box g.node');
  if (!node) return;
  e.stopPropagation();
  const box = node.closest('.ts-graph-box');
  const parent = node.dataset.parent || null;
  const opens = node.dataset.expandable && !(e.shiftKey && parent);
  const open = opens ? node.dataset.key : null;
  const close = opens ? null : parent;
  if (open || close) emitEvent('ts_graph_toggle', {model: box.dataset.model, open, close});
}, true);
window.tsGraphFullscreen = (id) => {
  const box = document.getElementById(id);
  const on = box.classList.toggle('ts-fullscreen');
  return on;
};
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') document.querySelectorAll('.ts-fullscreen').forEach(
    (box) => box.classList.remove('ts-fullscreen'));
});
</script>
<style>
.ts-graph-box { position: relative; }
.ts-graph-box.ts-fullscreen { position: fixed; inset: 0; z-index: 6000; height: 100vh !important;
  width: 100vw !important; }
.ts-node-details { display: none; position: absolute; top: 8px; right: 8px; max-width: 45%;
  white-space: pre-wrap; font: 12px/1.4 monospace; background: rgba(255, 255, 255, 0.95);
  color: #222; border: 1px solid #bbb; border-radius: 6px; padding: 8px 10px;
  box-shadow: 0 2px 8px rgba(0, 0, 0, 0.2); pointer-events: none; }
body.body--dark .ts-node-details { background: rgba(40, 40, 40, 0.95); color: #eee; }
.ts-graph-exit { display: none !important; }
.ts-fullscreen .ts-graph-exit { display: inline-flex !important; position: absolute; top: 8px;
  left: 8px; }
</style>
"""


def mark_id(name: str) -> str:
    """A model name as a test marker (markers are split at spaces)."""
    return name.replace(" ", "_")


def edited_badge(live: Live, name: str, edited: Callable[[], bool], marker: str) -> None:
    """An "edited" badge, shown while code typed by hand replaces the module's."""
    badge = ui.badge("edited", color="orange").props("data-ts=edited").mark(marker)
    badge.tooltip("Code edited by hand: picking a module or changing a parameter replaces it")
    live.watch(["model"], badge.set_visibility, edited, model=name)


def model_source(studio: Studio, live: Live, name: str) -> None:
    """Module picker with its documentation and parameter form, then the code editor."""
    assert studio.project is not None and studio.models is not None
    project, catalog, models = studio.project, studio.catalog, studio.models
    document = project.model(name)
    options = {module_key(m): f"{m.name} ({m.origin})" for m in catalog.modules.get("models", [])}
    current = document.get("module")
    if current and current not in options:
        options[current] = current
    with ui.row().classes("w-full items-center no-wrap gap-2"):
        picker = ui.select(options, value=current, label="Model module", with_input=True)
        picker.classes("grow").mark(f"model-module-{mark_id(name)}")
        edited_badge(
            live,
            name,
            lambda: bool(project.model(name).get("code_edited")),
            f"model-edited-{mark_id(name)}",
        )

    drawn: dict[str, str | None] = {"module": None}

    @ui.refreshable
    def module_form() -> None:
        """The chosen module's documentation and parameters (redrawn when another is picked)."""
        chosen = project.model(name)
        module = drawn["module"] = chosen.get("module")
        info = catalog.find("models", module) if module else None
        if info is None:
            return
        doc = ui.expansion(f"{info.name} documentation", icon="description").classes("w-full")
        with doc.mark(f"model-doc-{mark_id(name)}"):
            ui.label(info.docstring or "(no documentation)").classes("whitespace-pre-wrap text-sm")
        with ui.grid(columns=2).classes("w-full gap-x-3 gap-y-0"):
            values = chosen.get("values") or {}
            for parameter in form_parameters(info):
                key = str(parameter["name"])
                field = ui.input(key, value=values.get(key, str(parameter["default"])))
                field.props("dense").mark(f"model-param-{key}")

                def changed(e: object, key: str = key, field: ui.input = field) -> None:
                    field.error = models.set_value(name, key, field.value)
                    field.update()

                field.on("change", changed)

    module_form()
    editor = ui.codemirror(document.get("code", ""), language="Python", theme=CODE_THEME)
    editor.classes("w-full border").style("height: 200px").mark(f"model-code-{mark_id(name)}")
    editor.on_value_change(lambda e: models.set_code(name, e.value or ""))

    def use(key: str) -> None:
        editor.set_value(models.choose_module(name, key))
        module_form.refresh()  # the new module's documentation and parameters, at once

    def picked(key: str | None) -> None:
        document = project.model(name)
        previous = document.get("module")
        if not key or key == previous:
            return
        if document.get("code_edited"):  # the module's code would replace the hand edits: ask
            ask_replace("model code", lambda: use(key), lambda: picker.set_value(previous))
        else:
            use(key)

    picker.on_value_change(lambda e: picked(e.value))

    def show_code(code: str) -> None:
        if editor.value != code:
            editor.set_value(code)

    def failing_line() -> int | None:
        """The line of the model's code that its build, or else its training, failed on."""
        build = studio.actions.state(name).build_error if studio.actions else None
        run = studio.training.run(name) if studio.training else None
        for text in (build, run.error if run else None):
            line = error_line(text or "", MODEL_CODE)
            if line:
                return line
        return None

    live.watch(
        ["actions", "training", "model"],
        lambda line: mark_error_line(editor, line),
        failing_line,
        model=name,
    )

    live.watch(
        ["model"], show_code, lambda: project.model(name).get("code", ""), model=name, now=False
    )

    def show_module(module: str | None) -> None:
        # Picked in another browser tab (or page) of the same app: show it here too.
        if module in picker.options and picker.value != module:
            picker.set_value(module)
        if drawn["module"] != module:
            module_form.refresh()

    live.watch(
        ["model"], show_module, lambda: project.model(name).get("module"), model=name, now=False
    )


def build_panel(studio: Studio, live: Live, name: str) -> None:
    """Build, the parameter count and shapes (or the error), and the graph by depth level."""
    assert studio.project is not None and studio.actions is not None and studio.views is not None
    actions, views, project = studio.actions, studio.views, studio.project
    with ui.row().classes("w-full items-center gap-2"):
        ui.button("Build", icon="construction", on_click=lambda: actions.build(name)).mark(
            f"build-{mark_id(name)}"
        )
        status = ui.label().classes("text-sm").props("data-ts=build-status")
        status.mark(f"build-status-{mark_id(name)}")
        # The stored build made from other code or another dataset says so.
        stale = ui.label().classes("text-sm text-warning").props("data-ts=build-stale")
        stale.mark(f"build-stale-{mark_id(name)}")
    # Long lines wrap inside the card (a traceback's path or shapes), never widen the page.
    error = ui.label().classes("whitespace-pre-wrap break-all font-mono text-xs text-negative")
    error.classes("w-full").mark(f"build-error-{mark_id(name)}").props("data-ts=build-error")
    with ui.row().classes("w-full items-center gap-2"):
        ui.label("Depth level").classes("text-sm")
        level = (
            ui.slider(min=1, max=1, value=1).classes("grow").mark(f"graph-level-{mark_id(name)}")
        )
    box = ui.element("div").classes("ts-zoom ts-graph-box border w-full").style("height: 460px")
    box.props(f"data-model={json.dumps(name)}")
    with box:
        graph = ui.element("div").props("data-ts=graph").mark(f"graph-{mark_id(name)}")
        graph.style("width: 100%; height: 100%")
        ui.element("div").classes("ts-node-details").props("data-ts=node-details")
        leave = ui.button(
            icon="fullscreen_exit",
            on_click=lambda: ui.run_javascript(f"tsGraphFullscreen({json.dumps(box.html_id)})"),
        )
        leave.classes("ts-graph-exit").props('round dense aria-label="leave full screen"')
    with ui.row().classes("w-full items-center gap-2") as graph_tools:
        ui.label(
            "Click a node for its details; double-click a module to open it in place "
            "(shift+double-click inside it closes it); wheel to zoom, drag to pan."
        ).classes("text-xs ts-hint")
        ui.space()
        close_all = ui.button(
            "Close opened", icon="unfold_less", on_click=lambda: actions.close_all(name)
        ).props("flat dense data-ts=graph-close-all")
        ui.button(
            "Fit",
            icon="fit_screen",
            on_click=lambda: ui.run_javascript(
                f"document.getElementById({json.dumps(box.html_id)})"
                ".dispatchEvent(new MouseEvent('dblclick', {bubbles: true}))"
            ),
        ).props("flat dense data-ts=graph-fit")
        ui.button(
            "Full screen",
            icon="fullscreen",
            on_click=lambda: ui.run_javascript(f"tsGraphFullscreen({json.dumps(box.html_id)})"),
        ).props("flat dense data-ts=graph-fullscreen").tooltip("Esc leaves full screen")
    client = ui.context.client
    level.on_value_change(lambda e: actions.set_level(name, int(e.value or 1)))

    def toggle(event: events.GenericEventArguments) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        if args.get("model") != name:
            return  # another model's graph on this page
        if args.get("open"):
            actions.open_module(name, str(args["open"]))
        elif args.get("close"):
            actions.close_module(name, str(args["close"]))

    ui.on("ts_graph_toggle", toggle)

    def show(_: object) -> None:
        state = actions.state(name)
        build = project.model(name).get("build") or {}
        parameters = (build.get("parameters") or {}).get("total")
        shapes = ", ".join(str(o.get("shape")) for o in build.get("outputs") or [])
        if state.build_status == "building":
            status.set_text("building...")
        elif state.build_status == "error":
            status.set_text("build failed")
        elif parameters is not None:
            status.set_text(f"{parameters:,} parameters · outputs {shapes}")
        error.set_text(state.build_error or "")
        levels = views.graph_levels(name)
        level.props(f"max={max(levels, 1)}")
        level.set_value(state.level)  # in step with what is drawn (a reload, a clamp)
        close_all.set_visibility(bool(state.opened))
        level.set_visibility(levels > 1)
        if state.build_status == "built" and levels:
            version = id(studio.models.graphs.get(name))
            opened = "".join(f"&open={quote(key)}" for key in state.opened)
            src = f"/api/model/graph.svg?name={quote(name)}&level={state.level}{opened}&v={version}"
            background_tasks.create(show_graph(src))
        box.set_visibility(state.build_status == "built" and levels > 0)
        graph_tools.set_visibility(state.build_status == "built" and levels > 0)

    async def show_graph(src: str) -> None:
        await client.connected()  # the script needs the page in the browser
        client.run_javascript(f"tsGraph({json.dumps(graph.html_id)}, {json.dumps(src)})")

    def signature() -> tuple:
        state = actions.state(name)
        graph_id = id(studio.models.graphs.get(name)) if studio.models else 0
        return state.build_status, state.build_error, state.level, state.opened, graph_id

    live.watch(["actions", "model"], show, signature, model=name)
    models = studio.models
    assert models is not None
    live.watch(
        ["model", "dataset", "actions"],
        lambda reason: stale.set_text(reason or ""),
        lambda: models.build_stale(name),
        model=name,
    )
