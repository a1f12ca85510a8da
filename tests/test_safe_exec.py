"""safe_exec: user code errors become texts naming the file, line, code and error."""

import json

import torch

from torchstudio.modules import Analyzer, Metric, Renderer, safe_exec


def test_runs_code_and_returns_namespace():
    result = safe_exec("x = 1 + 2\ny = [x] * 2", description="dataset code")
    assert result.ok and result.namespace["y"] == [3, 3]


def test_syntax_error_shows_line_and_caret():
    code = "a = 1\nb = (2 +\nc = 3\n"
    result = safe_exec(code, description="model code")
    assert not result.ok
    text = result.error
    assert "Syntax error in model code" in text
    assert 'File "model code", line 2' in text
    lines = text.splitlines()
    code_line = next(i for i, line in enumerate(lines) if "b = (2 +" in line)
    assert lines[code_line + 1].strip() == "^"
    assert "SyntaxError" in text


def test_runtime_error_names_line_and_code():
    code = "values = [1, 2]\n\nresult = values[5]\n"
    text = safe_exec(code, description="dataset code").error
    assert 'File "dataset code", line 3, in <module>' in text
    assert "result = values[5]" in text
    assert text.endswith("IndexError: list index out of range")


def test_error_deep_in_a_library_points_at_the_users_innermost_line():
    code = (
        "import torch\n"
        "def forward(x):\n"
        "    w = torch.ones(3, 5)\n"
        "    return x @ w\n"
        "def run():\n"
        "    return forward(torch.ones(2, 4))\n"
    )
    ns = safe_exec(code, description="model code").namespace
    result = safe_exec(ns["run"], description="model code")
    assert not result.ok
    assert 'File "model code", line 4, in forward' in result.error
    assert "return x @ w" in result.error
    assert "RuntimeError" in result.error and "2x4 and 3x5" in result.error


def test_error_inside_library_code_called_by_user_code_skips_library_frames():
    ns = safe_exec(
        "import json\ndef parse(t):\n    return json.loads(t)\n", description="c"
    ).namespace
    text = safe_exec(ns["parse"], args=("{bad",), description="c").error
    assert 'File "c", line 3, in parse' in text
    assert "JSONDecodeError" in text


def test_callable_result_and_kwargs():
    result = safe_exec(lambda a, b=0: a + b, args=(2,), kwargs={"b": 3})
    assert result.ok and result.value == 5


def test_exit_in_user_code_is_caught():
    assert "SystemExit" in safe_exec("raise SystemExit(3)").error
    assert "KeyboardInterrupt" in safe_exec("raise KeyboardInterrupt").error


def test_error_without_user_frame_still_has_the_message():
    text = safe_exec(json.loads, args=("{bad",), description="the settings").error
    assert text.startswith("Error in the settings")
    assert "JSONDecodeError" in text


def test_base_classes_define_the_interfaces():
    analyzer = Analyzer()
    analyzer.load_state_dict({"weights": [1, 2.5]})
    assert analyzer.state_dict() == {"weights": [1.0, 2.5]}
    for call in (
        lambda: Renderer().render("t", torch.zeros(1).numpy(), (10, 10)),
        lambda: Metric().compute(),
    ):
        try:
            call()
        except NotImplementedError:
            continue
        raise AssertionError("base class method should be abstract")
