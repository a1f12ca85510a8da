"""The sample browser: split switch, index slider and field, previous/next, tensor images.

Images come from the app's HTTP route (never through the WebSocket) as plain <img>
elements, so a step is one small request per tensor; zoom (wheel) and pan (drag) happen
in the browser, double-click resets.
"""

from __future__ import annotations

import hashlib

from nicegui import ui

from torchstudio.app.dataset.service import DatasetService
from torchstudio.app.pages.live import Live

PANEL = (280, 280)
DRAWINGS = 4  # drawings of one sample in the augmentation preview

ZOOM_SCRIPT = """
<script>
(() => {
  const state = new WeakMap();
  const get = (box) => state.get(box) || {s: 1, x: 0, y: 0};
  const apply = (box, v) => {
    state.set(box, v);
    const img = box.querySelector('img, svg');
    if (img) img.style.transform = `translate(${v.x}px, ${v.y}px) scale(${v.s})`;
  };
  document.addEventListener('wheel', (e) => {
    const box = e.target.closest && e.target.closest('.ts-zoom');
    if (!box) return;
    e.preventDefault();
    const v = get(box);
    apply(box, {...v, s: Math.min(32, Math.max(1, v.s * (e.deltaY < 0 ? 1.2 : 1 / 1.2)))});
  }, {passive: false});
  let drag = null;
  document.addEventListener('mousedown', (e) => {
    const box = e.target.closest && e.target.closest('.ts-zoom');
    if (box) { drag = {box, x: e.clientX, y: e.clientY, v: get(box)}; e.preventDefault(); }
  });
  document.addEventListener('mousemove', (e) => {
    if (drag) apply(drag.box, {...drag.v, x: drag.v.x + e.clientX - drag.x,
                                          y: drag.v.y + e.clientY - drag.y});
  });
  document.addEventListener('mouseup', () => { drag = null; });
  document.addEventListener('dblclick', (e) => {
    const box = e.target.closest && e.target.closest('.ts-zoom');
    if (box) apply(box, {s: 1, x: 0, y: 0});
  });
})();
</script>
<style>
.ts-zoom { overflow: hidden; cursor: grab; background: #f4f4f4; }
.ts-zoom img { image-rendering: pixelated; transform-origin: center; user-select: none; }
.ts-error-line { background: rgba(255, 0, 0, 0.18); }
</style>
"""


def image_url(dataset: DatasetService, salt: str, split: str, index: int, tensor: int) -> str:
    renderers = dataset.definition.renderers
    code = renderers[tensor]["code"] if tensor < len(renderers) else ""
    digest = hashlib.sha1(code.encode()).hexdigest()[:10]
    width, height = PANEL
    return (
        f"/api/dataset/sample/{split}/{index}/{tensor}.png"
        f"?w={width}&h={height}&g={dataset.generation}&r={digest}&s={salt}"
    )


def sample_browser(dataset: DatasetService, live: Live, salt: str) -> None:
    images: list[ui.element] = []

    def show_images() -> None:
        split_name, index = dataset.browse["split"], dataset.browse["index"]
        for tensor, image in enumerate(images):
            image.props(f'src="{image_url(dataset, salt, split_name, index, tensor)}"')

    def browse(split: str | None = None, index: int | None = None) -> None:
        dataset.set_browse(split, index)
        live.flush()  # this page draws the step now, not at the next frame

    def step(delta: int) -> None:
        browse(index=dataset.browse["index"] + delta)

    @ui.refreshable
    def panels() -> None:
        images.clear()
        report = dataset.report
        if not dataset.loaded or not report:
            ui.label("Samples appear here once the dataset is loaded.").classes("ts-hint")
            return
        with ui.row().classes("gap-4"):
            for index, tensor in enumerate(report["tensors"]):
                with ui.column().classes("items-center gap-1"):
                    ui.label(f"Tensor {index} {tensor['shape']}").classes("text-xs")
                    box = ui.element("div").classes("ts-zoom border")
                    box.style(f"width: {PANEL[0]}px; height: {PANEL[1]}px")
                    with box:
                        image = ui.element("img").mark(f"sample-image-{index}")
                        image.props(
                            f"width={PANEL[0]} height={PANEL[1]} draggable=false data-ts=sample-{index}"
                        )
                    images.append(image)
        show_images()

    drawings = {"tensor": 0, "round": 0, "shown": False}

    @ui.refreshable
    def preview() -> None:
        report = dataset.report
        if not drawings["shown"] or not dataset.loaded or not report:
            return
        split_name, index = dataset.browse["split"], dataset.browse["index"]
        tensor = min(drawings["tensor"], len(report["tensors"]) - 1)
        ui.label(
            f"Sample {index}, tensor {tensor}, drawn {DRAWINGS} times (the dataset code runs "
            "for each: random augmentations differ)"
        ).classes("text-xs")
        with ui.row().classes("gap-2"):
            for draw in range(DRAWINGS):
                url = (
                    f"/api/dataset/draw/{split_name}/{index}/{tensor}/{draw}.png?w={PANEL[0]}"
                    f"&h={PANEL[1]}&g={dataset.generation}&n={drawings['round']}&s={salt}"
                )
                image = ui.element("img").mark(f"draw-image-{draw}")
                image.props(f'src="{url}" width={PANEL[0] // 2} height={PANEL[1] // 2}')

    def draw_again() -> None:
        drawings["shown"], drawings["round"] = True, drawings["round"] + 1
        preview.refresh()

    with ui.card().classes("w-full"):
        ui.label("Samples").classes("text-h6")
        with ui.row().classes("w-full items-center gap-2 flex-wrap sm:flex-nowrap"):
            split = ui.toggle({"train": "Training", "valid": "Validation"}, value="train")
            split.classes("shrink-0").mark("split")
            previous = ui.button(icon="chevron_left", on_click=lambda: step(-1))
            previous.props('flat aria-label="previous sample"').mark("prev")
            slider = ui.slider(min=0, max=1, value=0).classes("grow").mark("index-slider")
            slider.props('aria-label="sample index"')
            following = ui.button(icon="chevron_right", on_click=lambda: step(1))
            following.props('flat aria-label="next sample"').mark("next")
            number = ui.number(value=0, min=0, step=1, format="%d").classes("w-24 ts-index")
            number.props('dense aria-label="sample number"')
            number.mark("index")
            count = ui.label().classes("text-sm ts-hint w-16")
        panels()
        with ui.row().classes("items-center gap-2"):
            ui.button("Augmentation preview", on_click=draw_again).props("flat dense").mark(
                "draw-preview"
            )
            which = ui.number("Tensor", value=0, min=0, step=1, format="%d").props("dense")
            which.classes("w-20").mark("draw-tensor")
            which.on(
                "change", lambda: (drawings.update(tensor=int(which.value or 0)), draw_again())
            )
        preview()

    split.on_value_change(lambda e: browse(split=e.value))
    slider.on_value_change(lambda e: browse(index=int(e.value or 0)))
    number.on("change", lambda: browse(index=int(number.value or 0)))

    def show_position(signature: tuple) -> None:
        split_name, index, total = signature
        split.set_value(split_name)
        slider.props(f"max={max(total - 1, 0)}")
        slider.set_value(index)
        number.set_value(index)
        count.set_text(f"of {total}")
        show_images()
        if drawings["shown"]:
            preview.refresh()

    live.watch(
        ["dataset", "dataset.state"],
        lambda _: panels.refresh(),
        lambda: (dataset.generation, dataset.loaded, str(dataset.definition.renderers)),
        now=False,
    )
    live.watch(
        ["dataset", "dataset.state", "dataset.browse"],
        show_position,
        lambda: (
            dataset.browse["split"],
            dataset.browse["index"],
            dataset.split_count(dataset.browse["split"]),
        ),
    )
