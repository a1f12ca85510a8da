"""The page's layout at every width: two columns on wide screens, one below `lg` (1024 px).

Tailwind classes, in one place, so that both tabs break the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

# The row wraps below 1024 px: each column then takes the whole width.
TWO_COLUMNS = "w-full items-start gap-4 flex-wrap lg:flex-nowrap"
LEFT_COLUMN = "w-full lg:w-[44%] lg:min-w-[420px] min-w-0"
# min-w-0: a flex child may shrink below its content (wide code, long lines) instead of
# pushing the page sideways.
RIGHT_COLUMN = "w-full lg:w-auto lg:flex-1 min-w-0"

# The code editors' colours: each token readable on its background (WCAG AA contrast).
CODE_THEME = "vscodeLight"


def mark_error_line(editor: ui.codemirror, line: int | None) -> None:
    """Highlight the line of the user's code an error points at (none: clear), and show it."""
    editor.decorations = [{"kind": "line", "line": line, "class": "ts-error-line"}] if line else []
    if line:
        editor.reveal_line(line)


# Buttons and the header: white text on this blue reads at 6.4:1 (NiceGUI's default: 3.1:1).
PRIMARY = "#1f5f9e"

# The page's style and script. No sideways scrolling at any width: long words (paths, error lines) wrap in their card;
# code and tables scroll inside their own box.
PAGE_HEAD = """<style>
.q-card { max-width: 100%; overflow-wrap: anywhere; }
.q-card pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.cm-editor { max-width: 100%; }
.nicegui-echart { max-width: 100%; }
</style>
<script>
// Names for controls drawn by libraries without one (CodeMirror's text area, a table's
// selection boxes, Quasar's loading bar), so that screen readers announce them.
window.addEventListener('DOMContentLoaded', () => {
  const name = () => {
    document.querySelectorAll('.cm-content:not([aria-label])').forEach((e) =>
      e.setAttribute('aria-label', 'code editor'));
    document.querySelectorAll('.q-table .q-checkbox:not([aria-label])').forEach((e) =>
      e.setAttribute('aria-label', e.closest('thead') ? 'select all rows' : 'select this row'));
    document.querySelectorAll('.q-loading-bar:not([aria-label])').forEach((e) =>
      e.setAttribute('aria-label', 'loading'));
  };
  new MutationObserver(name).observe(document.body, {childList: true, subtree: true});
  name();
});
</script>"""


def ask_replace(what: str, replace: Callable[[], None], keep: Callable[[], None]) -> None:
    """Ask before a module's code replaces `what` edited by hand."""
    with ui.dialog() as dialog, ui.card():
        ui.label(f"The {what} was edited by hand. Replace it with the module's code?")
        with ui.row():
            ui.button("Replace", on_click=lambda: (dialog.close(), replace())).mark(
                "replace-edited"
            )
            ui.button("Keep my code", on_click=lambda: (dialog.close(), keep())).props("flat").mark(
                "keep-edited"
            )
    dialog.on("hide", lambda: dialog.delete())
    dialog.open()
