"""The page at every width and in both themes, with a reload that keeps what was shown and a
Delete that asks first: the real app in Chromium, with a screenshot of each tab."""

import contextlib

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

pytestmark = pytest.mark.timeout(240)

WIDTHS = (1440, 1024, 768, 390)
TABS = ("Dataset", "Models", "Dashboard")
# Each tab's main action, visible once the tab is shown.
MAIN_ACTION = {"Dataset": "Load", "Models": "Build", "Dashboard": "Start all"}
# Cards, fields and buttons that reach past the window's right edge (cut off, or scrolled to):
# none may, except inside boxes that scroll on their own (tabs, code, tables).
CUT_OFF = """() => [...document.querySelectorAll('.q-card, .q-field, button')]
  .filter((e) => e.offsetParent && !e.closest('.q-tabs, .cm-editor, .q-table__middle, .q-menu'))
  .filter((e) => e.getBoundingClientRect().width > 0)
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .map((e) => `${e.tagName} ${e.innerText.slice(0, 30)} ${Math.round(e.getBoundingClientRect().right)}`)"""
# Words squeezed into a column a few letters wide (a form crushed instead of wrapped).
CRUSHED = """() => [...document.querySelectorAll(`.q-toggle__label, .q-field__label,
  .q-btn__content, .nicegui-label, .q-item__label`)]
  .filter((e) => e.offsetParent && !e.closest('.q-tabs, .q-menu'))
  .filter((e) => {
    const text = [...e.childNodes].filter((n) => !n.classList || !n.classList.contains('q-icon'))
      .map((n) => n.textContent).join(' ');  // icons are ligatures: their names are not words
    const word = Math.max(0, ...text.split(/\\s+/).map((w) => w.length));
    const box = e.getBoundingClientRect();
    return word >= 4 && box.width > 0 && box.width < word * 3;  // a floated label is small, not crushed
  })
  .map((e) => `${e.innerText.slice(0, 30)} ${Math.round(e.getBoundingClientRect().width)}px`)"""
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
FOLDED = (
    ".q-tab-panel:visible .q-expansion-item--collapsed > .q-expansion-item__container > .q-item"
)
# The header being opened is open, or was drawn again (a live section redrew): next one.
OPENED = """() => { const header = document.querySelector('[data-ts-opening]');
  return !header || !header.isConnected
    || header.closest('.q-expansion-item').classList.contains('q-expansion-item--expanded'); }"""
DARK = "() => document.body.classList.contains('body--dark')"


def show_tab(page, tab):
    page.get_by_role("tab", name=tab, exact=True).click()
    action = page.get_by_role("button", name=MAIN_ACTION[tab]).locator("visible=true").first
    action.wait_for()
    return action


def test_every_tab_fits_every_width_without_sideways_scrolling(server, page, shot):
    page.goto(server.url)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for tab in TABS:
            action = show_tab(page, tab)
            assert page.evaluate(OVERFLOW) <= 0, f"{tab} at {width} px scrolls sideways"
            assert page.evaluate(CUT_OFF) == [], f"{tab} at {width} px cuts these off"
            assert page.evaluate(CRUSHED) == [], f"{tab} at {width} px crushes these"
            box = action.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            shot(f"{tab.lower()}-{width}")


def test_the_theme_follows_the_system_then_the_toggle_and_is_remembered(server, page, shot):
    page.emulate_media(color_scheme="dark")
    page.goto(server.url)
    toggle = page.locator("[data-ts=theme-toggle]")
    toggle.wait_for()
    assert page.evaluate(DARK) and "follows the system" in toggle.get_attribute("aria-label")
    page.emulate_media(color_scheme="light")
    page.wait_for_function(f"() => !({DARK})()")
    toggle.click()  # auto -> light
    page.wait_for_function(f"() => !({DARK})()")
    assert "Theme: light" in toggle.get_attribute("aria-label")
    toggle.click()  # light -> dark, though the system is light
    page.wait_for_function(DARK)
    # The choice is remembered once its cookie is written (a script the server sends after
    # the page turns dark): reloading before that would test nothing.
    page.wait_for_function("() => document.cookie.includes('torchstudio_theme=dark')")
    page.reload()
    page.locator("[data-ts=theme-toggle]").wait_for()
    assert page.evaluate(DARK), "the chosen dark theme was not remembered over a reload"
    for tab in TABS:
        show_tab(page, tab)
        shot(f"dark-{tab.lower()}")
    page.locator("[data-ts=theme-toggle]").click()  # dark -> auto: the system's light again
    page.wait_for_function(f"() => !({DARK})()")


def test_a_reload_keeps_the_tab_and_the_model(server, page):
    page.goto(server.url)
    page.get_by_role("tab", name="Models", exact=True).click()
    page.get_by_role("button", name="Duplicate", exact=True).click()
    copy = page.get_by_role("tab", name="MNISTClassifier 2", exact=True)
    copy.wait_for()
    page.wait_for_function("() => location.search.includes('model=MNISTClassifier+2')")
    assert "tab=models" in page.url
    page.reload()
    name = page.locator("input[aria-label=name]").locator("visible=true").first
    name.wait_for()
    assert name.input_value() == "MNISTClassifier 2"

    # Delete asks first; Cancel keeps the model, Delete removes it.
    page.get_by_role("button", name="Delete", exact=True).locator("visible=true").click()
    page.get_by_text("Delete model 'MNISTClassifier 2'?").wait_for()
    page.locator("[data-ts=delete-cancel]").click()
    page.get_by_text("Delete model 'MNISTClassifier 2'?").wait_for(state="detached")
    assert copy.is_visible()
    page.get_by_role("button", name="Delete", exact=True).locator("visible=true").click()
    page.locator("[data-ts=delete-confirm]").click()
    copy.wait_for(state="detached")
    assert page.get_by_role("tab", name="MNISTClassifier", exact=True).is_visible()


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['html'][:80] for n in v['nodes'][:3]]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violation_on_any_tab(server, page, scheme):
    pytest.importorskip("axe_playwright_python")
    page.emulate_media(color_scheme=scheme)
    page.goto(server.url)
    for tab in TABS:
        show_tab(page, tab)
        assert serious_violations(page) == [], f"{tab} tab, {scheme} theme"
        # Then with every folded part of the tab opened (settings, output, export, probes...),
        # one at a time: an opened part may hold folded parts of its own.
        folded = page.locator(FOLDED)
        for _ in range(40):
            if folded.count() == 0:
                break
            folded.first.evaluate("(header) => header.setAttribute('data-ts-opening', '1')")
            folded.first.click()
            # Not open after a while (the click came while the part was drawn again): the
            # next round clicks the first folded part again; the count below decides.
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(OPENED, timeout=10_000)
            page.evaluate(
                "() => document.querySelectorAll('[data-ts-opening]')"
                ".forEach((h) => h.removeAttribute('data-ts-opening'))"
            )
        expect(folded).to_have_count(0)
        assert serious_violations(page) == [], f"{tab} tab opened, {scheme} theme"


def test_the_common_case_fits_one_screen(server, page):
    """At 1440×900: Build, Train and both curves without scrolling; output and export fold."""
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(server.url)
    show_tab(page, "Models")
    for locator in (
        page.get_by_role("button", name="Build", exact=True),
        page.get_by_role("button", name="Train", exact=True),
        page.locator(".ts-curves").first,
        page.locator(".ts-curves").last,
    ):
        box = locator.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, box
    assert not page.get_by_role("button", name="Show output", exact=True).is_visible()
    page.locator("[data-ts=fold-output]").click()
    page.get_by_role("button", name="Show output", exact=True).wait_for()


def test_the_graph_canvas_details_full_screen_and_reload(server, page):
    page.goto(server.url)
    page.get_by_role("button", name="Load").click()
    page.get_by_text("1438 training samples", exact=True).wait_for()
    show_tab(page, "Models")
    page.get_by_role("button", name="Build", exact=True).click()
    node = page.locator("[data-ts=graph] svg g.node").first
    node.wait_for()
    node.click()
    details = page.locator("[data-ts=node-details]")
    details.wait_for()
    assert "\n" in details.inner_text() and details.inner_text().strip()

    # Open the features module in place: its layers are drawn inside, the rest stays closed.
    nodes = page.locator("[data-ts=graph] svg g.node")
    closed = nodes.count()
    page.locator('[data-ts=graph] g.node[data-key="features"][data-expandable]').dblclick()
    inside = page.locator('[data-ts=graph] g.node[data-parent="features"]')
    inside.first.wait_for()
    assert nodes.count() == closed - 1 + inside.count() and inside.count() >= 4
    assert page.locator('[data-ts=graph] g.node[data-key="classifier"]').count() == 1
    inside.first.click()
    assert "input: " in details.inner_text() and "output: " in details.inner_text()
    page.locator("[data-ts=graph-close-all]").wait_for()
    # A reload keeps it open, the slider at the level drawn.
    page.reload()
    show_tab(page, "Models")
    inside.first.wait_for()
    # A double-click inside closes it again.
    inside.last.dblclick()
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-ts=graph] svg g.node').length === n", arg=closed
    )
    assert not page.locator("[data-ts=graph-close-all]").is_visible()
    page.locator("[data-ts=graph-fullscreen]").click()
    box = page.locator(".ts-graph-box")
    page.wait_for_function("() => document.querySelector('.ts-graph-box.ts-fullscreen')")
    size = box.bounding_box()
    assert size["width"] >= 1500 and size["height"] >= 1000  # the whole 1600x1100 window
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('.ts-fullscreen')")
    # A reload draws the graph again, at the level the slider shows, without touching it.
    page.reload()
    show_tab(page, "Models")
    page.locator("[data-ts=graph] svg g.node").first.wait_for()


ACTIVE = "() => (document.activeElement && document.activeElement.innerText || '').trim()"
IN_EDITOR = "() => !!(document.activeElement && document.activeElement.closest('.cm-editor'))"


def tab_to(page, text: str, presses: int = 80) -> None:
    """Press Tab until the focused control reads `text` (fails after `presses`). In a code
    editor Tab indents; Escape first makes it move on, as CodeMirror documents."""
    seen = []
    for _ in range(presses):
        if page.evaluate(IN_EDITOR):
            page.keyboard.press("Escape")
        page.keyboard.press("Tab")
        seen.append(page.evaluate(ACTIVE)[:20])
        if seen[-1].lower().endswith(text.lower()):  # buttons show their text in capitals
            return
    raise AssertionError(f"{text!r} not reached by Tab; focused in turn: {seen}")


def test_the_main_actions_work_from_the_keyboard(server, page):
    page.goto(server.url)
    page.get_by_role("button", name="Load").wait_for()
    tab_to(page, "Load")
    page.keyboard.press("Enter")
    page.get_by_text("1438 training samples", exact=True).wait_for()
    tab_to(page, "Dataset")  # the tab bar: arrows go from tab to tab
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Build", exact=True).wait_for()
    tab_to(page, "Build")
    page.keyboard.press("Enter")
    page.locator("[data-ts=build-status]").get_by_text("parameters").wait_for()
