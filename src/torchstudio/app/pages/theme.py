"""Light, dark, or the system's choice (`prefers-color-scheme`), remembered in a cookie.

Quasar's dark mode colours the page; the model graph, charts and code editors are drawn
light and turned dark by a CSS filter, so that they follow the system's choice as well,
which the server cannot know when it draws them. Sample images are data: never filtered.
Hints (`ts-hint`) are dark grey on white and light grey on the dark background.
"""

from __future__ import annotations

from nicegui import ui

THEMES = ("auto", "light", "dark")
THEME_COOKIE = "torchstudio_theme"
ICONS = {"auto": "brightness_auto", "light": "light_mode", "dark": "dark_mode"}
LABELS = {"auto": "follows the system", "light": "light", "dark": "dark"}

# Inverting lightness and turning hues back keeps each colour's hue on a dark background.
DARK_STYLE = """<style>
body.body--dark [data-ts=graph] svg, body.body--dark .nicegui-echart,
body.body--dark .cm-editor { filter: invert(0.88) hue-rotate(180deg); }
body.body--dark .cm-editor { background: #fff; }
.ts-hint { color: #616161; }
/* Blue text (flat buttons, tabs, links) lighter on the dark background; filled buttons keep
   the darker blue under their white text. */
body.body--dark .q-btn--flat, body.body--dark .q-tab, body.body--dark .text-primary,
body.body--dark .q-field--focused { --q-primary: #8ab8e6; }
body.body--dark .q-btn--flat { --q-negative: #f28b8b; }
body.body--dark .ts-hint { color: #b8b8b8; }
</style>"""


def dark_value(theme: str) -> bool | None:
    """Quasar's dark setting for a theme: None follows the system."""
    return {"dark": True, "light": False}.get(theme)


def next_theme(theme: str) -> str:
    """The toggle's order: auto, light, dark, auto..."""
    current = theme if theme in THEMES else "auto"
    return THEMES[(THEMES.index(current) + 1) % len(THEMES)]


def theme_toggle(theme: str) -> None:
    """The header's theme button; `theme` is the cookie's value (auto when unknown)."""
    ui.add_head_html(DARK_STYLE)
    state = {"theme": theme if theme in THEMES else "auto"}
    mode = ui.dark_mode(dark_value(state["theme"]))

    def describe() -> None:
        text = f"Theme: {LABELS[state['theme']]} (click to change)"
        button.props(f'icon={ICONS[state["theme"]]} aria-label="{text}"')
        tip.set_text(text)

    def change() -> None:
        state["theme"] = next_theme(state["theme"])
        mode.set_value(dark_value(state["theme"]))
        describe()
        ui.run_javascript(
            f"document.cookie = '{THEME_COOKIE}={state['theme']}; path=/; "
            "max-age=31536000; samesite=strict'"
        )

    button = ui.button(on_click=change).props("flat round color=white data-ts=theme-toggle")
    button.mark("theme-toggle")
    with button:
        tip = ui.tooltip("")
    describe()
