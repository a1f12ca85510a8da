"""The `torchstudio` command: help, new projects, headless training, bad files refused."""

import sys
from pathlib import Path

import pytest

from torchstudio.app.store.project import Project
from torchstudio.cli import main

TORCHSTUDIO = str(Path(sys.executable).with_name("torchstudio"))


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in ("--host", "--port", "--no-browser", "new PATH", "run PROJECT", "token"):
        assert option in text
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for option in ("--epochs", "--set", "--config", "--resume", "--run-name", "exit codes"):
        assert option in text


def test_new_demo_and_new_from_files(tmp_path, capsys):
    assert main(["new", "--demo", str(tmp_path / "demo")]) == 0
    demo = Project.open(tmp_path / "demo.tsproj")
    assert demo.model_names() == ["MNISTClassifier"]
    assert "Digits(train=True)" in demo.document("dataset")["code"]
    demo.close()
    assert main(["new", "--demo", str(tmp_path / "demo.tsproj")]) == 2  # never overwrites

    (tmp_path / "data.py").write_text("train = [(1.0, 0)] * 10\n")
    (tmp_path / "net.py").write_text("import torch\nmodel = torch.nn.Linear(1, 2)\n")
    args = ["new", str(tmp_path / "mine.tsproj"), "--dataset", str(tmp_path / "data.py")]
    assert main([*args, "--model", str(tmp_path / "net.py")]) == 0
    mine = Project.open(tmp_path / "mine.tsproj")
    assert mine.document("dataset")["code"] == "train = [(1.0, 0)] * 10\n"
    assert mine.document("dataset")["workdir"] == str(tmp_path)
    assert mine.model("net")["code"].endswith("Linear(1, 2)\n")
    mine.close()


def test_app_refuses_a_damaged_project(tmp_path, capsys):
    bad = tmp_path / "bad.tsproj"
    bad.write_bytes(b"not a project" * 20)
    assert main([str(bad), "--no-browser"]) == 2
    assert "not a TorchStudio project" in capsys.readouterr().err
