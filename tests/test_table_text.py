"""The Table and TextClassification datasets, their renderers and models, trained through
`torchstudio new --dataset ... --model ...` and `torchstudio run` (issue 20)."""

import csv
import json

import numpy as np
import pytest
from tests.helpers.server import run_torchstudio

from torchstudio.app.store.project import Project
from torchstudio.datasets import Table, TextClassification
from torchstudio.renderers import TableRow, TokenText


def write_rows(path, count=400):
    """Numeric and categorical columns (a missing value too); the class follows size and colour."""
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["size", "weight", "colour", "kind"])
        for index in range(count):
            colour = str(rng.choice(["red", "green", "blue"]))
            size, weight = rng.normal(10, 3), rng.normal(50, 10)
            score = (size - 10) / 3 + (1.5 if colour == "red" else -0.5)
            missing = index % 37 == 0
            writer.writerow([f"{size:.3f}", "" if missing else f"{weight:.2f}", colour,
                             "big" if score > 0 else "small"])  # fmt: skip


def write_texts(root, count=120):
    rng = np.random.default_rng(0)
    words = {"pos": ["good", "great", "fine", "nice"], "neg": ["bad", "awful", "sad", "poor"]}
    filler = ["the", "a", "movie", "was", "it", "and", "plot"]
    for klass, marks in words.items():
        (root / klass).mkdir(parents=True)
        for index in range(count):
            tokens = list(rng.choice(filler, rng.integers(3, 15))) + list(rng.choice(marks, 2))
            rng.shuffle(tokens)
            (root / klass / f"{index}.txt").write_text(" ".join(tokens))


def test_table_encodes_from_training_rows_and_renders(tmp_path):
    write_rows(tmp_path / "rows.csv")
    train = Table(str(tmp_path / "rows.csv"), target="kind")
    valid = Table(str(tmp_path / "rows.csv"), target="kind", train=False)
    assert (len(train), len(valid)) == (320, 80) and train.task == "classification"
    assert train.feature_names == ["size", "weight", "colour=blue", "colour=green", "colour=red"]
    assert train.classes == valid.classes == ["big", "small"]
    numeric = train.features[:, :2].numpy()
    assert np.allclose(numeric.mean(axis=0), 0, atol=1e-5)  # standardised on these rows
    assert not np.allclose(valid.features[:, :2].numpy().mean(axis=0), 0, atol=1e-5)
    assert set(train.features[:, 2:].sum(dim=1).tolist()) == {1.0}  # one-hot colours
    regression = Table(str(tmp_path / "rows.csv"), target="size", features=["weight"])
    assert regression.task == "regression" and regression[0][1].dtype.is_floating_point
    with pytest.raises(ValueError, match="has no column 'price'; its columns: size, weight"):
        Table(str(tmp_path / "rows.csv"), target="price")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match="bad.csv, line 3: 1 values, but the header names 2"):
        Table(str(tmp_path / "bad.csv"))
    image = TableRow(names=train.feature_names).render("", train[0][0].numpy(), (200, 160))
    assert (
        image.size == (200, 160)
        and len(np.unique(np.asarray(image).reshape(-1, len(image.getbands())), axis=0)) > 1
    )


def test_text_vocabulary_from_training_texts_and_decoding(tmp_path):
    write_texts(tmp_path / "texts", count=20)
    train = TextClassification(str(tmp_path / "texts"))
    assert train.classes == ["neg", "pos"] and train.vocabulary[:2] == ["<pad>", "<unk>"]
    lengths = {len(train[i][0]) for i in range(len(train))}
    assert len(lengths) > 3  # variable-length token tensors
    tokens, _ = train[0]
    assert "<unk>" not in TokenText(train.vocabulary).decode(tokens.numpy())
    assert TokenText(["<pad>", "<unk>", "hello"]).decode(np.asarray([2, 1, 0, 0])) == "hello <unk>"
    image = TokenText(train.vocabulary).render("", tokens.numpy(), (240, 120))
    assert image.size == (240, 120)
    (tmp_path / "table.csv").write_text("text,label\ngood movie,pos\nbad plot,neg\nfine,pos\n")
    table = TextClassification(str(tmp_path / "table.csv"), split=1.0)
    assert len(table) == 3 and table.classes == ["neg", "pos"]


def trains(tmp_path, dataset_code, model_code):
    """`torchstudio new` + `run` for 5 epochs; the epochs and the stored project."""
    (tmp_path / "data.py").write_text(dataset_code)
    (tmp_path / "net.py").write_text(model_code)
    home, project = tmp_path / "home", tmp_path / "p.tsproj"
    made = run_torchstudio(
        "new", str(project), "--dataset", str(tmp_path / "data.py"),
        "--model", str(tmp_path / "net.py"), home=home,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = run_torchstudio("run", str(project), "--epochs", "5", home=home, timeout=200)
    assert done.returncode == 0, done.stderr
    epochs = [json.loads(line) for line in done.stdout.splitlines()[:-1]]
    assert len(epochs) == 5 and epochs[-1]["valid_loss"] < epochs[0]["valid_loss"]
    stored = Project.open(project)
    try:
        return epochs, stored.document("dataset")
    finally:
        stored.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_generated_csv_trains_through_torchstudio_run(tmp_path):
    write_rows(tmp_path / "rows.csv")
    code = (
        "from torchstudio.datasets import Table\n"
        f"train = Table({str(tmp_path / 'rows.csv')!r}, target='kind')\n"
        f"valid = Table({str(tmp_path / 'rows.csv')!r}, target='kind', train=False)\n"
    )
    model = "from torchstudio.models import TabularMLP\nmodel = TabularMLP(inputs=5, outputs=2)\n"
    epochs, dataset = trains(tmp_path, code, model)
    assert epochs[-1]["valid_metric"] > 0.8
    assert "TableRow(names=['size', 'weight'" in dataset["renderers"][0]["code"]
    assert dataset["report"]["suggestions"]["model"] == {
        "name": "TabularMLP",
        "values": {"inputs": "5", "outputs": "2"},
    }


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_generated_text_folders_train_through_torchstudio_run(tmp_path):
    write_texts(tmp_path / "texts")
    code = (
        "from torchstudio.datasets import TextClassification\n"
        f"train = TextClassification({str(tmp_path / 'texts')!r})\n"
        f"valid = TextClassification({str(tmp_path / 'texts')!r}, train=False)\n"
    )
    model = (
        "from torchstudio.models import TextBag\nmodel = TextBag(vocabulary=20, num_classes=2)\n"
    )
    epochs, dataset = trains(tmp_path, code, model)
    # The tokens vary in length: padded as suggested, their lengths a second input.
    assert dataset["settings"]["padding"] == {"tensor": 0, "dim": 0, "extra": "lengths"}
    assert dataset["roles"] == ["input", "input", "output"]
    assert "TokenText(vocabulary=['<pad>', '<unk>'" in dataset["renderers"][0]["code"]
    suggested = dataset["report"]["suggestions"]["model"]
    assert suggested["name"] == "TextBag" and suggested["values"]["num_classes"] == "2"
