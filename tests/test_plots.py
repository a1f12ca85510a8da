"""metricsplot and parametersplot: images, series and axes, and both workers over real sockets."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from torchstudio.app.runtime.manager import WorkerError, WorkerManager
from torchstudio.metricsplot import PlotError, plot_metrics
from torchstudio.parametersplot import build_axes, model_colours, plot_parameters


def history(name, epochs, best=None, scale=1.0, metric=True):
    rows = [
        {
            "epoch": e,
            "train_loss": scale / e,
            "valid_loss": scale * 1.3 / e + 0.05,
            "train_metric": 1 - 1 / (e + 1) if metric else None,
            "valid_metric": 1 - 1.2 / (e + 2) if metric else None,
        }
        for e in range(1, epochs + 1)
    ]
    return {"name": name, "epochs": rows, "best_epoch": best}


def drawn_pixels(image):
    """How many pixels differ from the background (the top-left pixel)."""
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return int((np.abs(pixels - pixels[0, 0]).sum(axis=-1) > 30).sum())


def json_safe(value):
    json.dumps(value, allow_nan=False)
    return True


# ---------------------------------------------------------------------------- metricsplot


@pytest.mark.parametrize("size", [(640, 300), (333, 411), (120, 80)])
def test_metrics_image_has_the_exact_size_and_is_drawn(size):
    result = plot_metrics({"models": [history("a", 10, 7)], "size": list(size)})
    assert isinstance(result["image"], Image.Image) and result["image"].size == size
    assert drawn_pixels(result["image"]) > 0.01 * size[0] * size[1]


def test_metrics_series_for_echarts():
    models = [history("resnet", 12, 9), history("mlp", 5, None, metric=False)]
    series = plot_metrics({"models": models, "size": [400, 200], "which": "both"})["series"]
    assert set(series) == {"loss", "metric"}
    loss = series["loss"]
    assert [s["name"] for s in loss["series"]] == [
        "resnet train",
        "resnet valid",
        "mlp train",
        "mlp valid",
    ]
    assert loss["yAxis"]["type"] == "value" and loss["xAxis"]["name"] == "epoch"
    train, valid = loss["series"][:2]
    assert train["color"] == valid["color"] != loss["series"][2]["color"]
    assert (train["lineStyle"]["type"], valid["lineStyle"]["type"]) == ("solid", "dashed")
    assert train["data"][0] == [1, 1.0] and len(valid["data"]) == 12
    assert valid["markPoint"]["data"][0]["coord"] == [9, pytest.approx(1.3 / 9 + 0.05)]
    assert "markPoint" not in loss["series"][3]  # no best epoch for mlp
    # mlp has no metric at all: only resnet's curves on the metric chart.
    assert [s["name"] for s in series["metric"]["series"]] == ["resnet train", "resnet valid"]
    only = plot_metrics({"models": models, "size": [300, 200], "which": "metric"})["series"]
    assert list(only) == ["metric"]
    assert json_safe(series)


def test_metrics_log_scale_skips_non_positive_values():
    model = history("a", 6, 3)
    model["epochs"][1]["train_loss"] = 0.0
    model["epochs"][2]["train_loss"] = -1.0
    linear = plot_metrics({"models": [model], "size": [300, 200], "which": "loss"})
    log = plot_metrics({"models": [model], "size": [300, 200], "which": "loss", "log_scale": True})
    train = log["series"]["loss"]["series"][0]
    assert log["series"]["loss"]["yAxis"]["type"] == "log"
    assert [value for _, value in train["data"]][1:3] == [None, None]
    assert linear["series"]["loss"]["series"][0]["data"][2] == [3, -1.0]
    assert drawn_pixels(log["image"]) > 1000
    assert np.asarray(log["image"]).tolist() != np.asarray(linear["image"]).tolist()
    # Nothing positive at all on a log axis: a message on the axes, not an error.
    for row in model["epochs"]:
        row["train_loss"] = row["valid_loss"] = 0.0
    result = plot_metrics({"models": [model], "size": [300, 200], "log_scale": True})
    assert result["image"].size == (300, 200)


def test_metrics_nan_values_leave_gaps():
    model = history("a", 8, 4)
    model["epochs"][2]["valid_loss"] = math.nan
    model["epochs"][3]["train_metric"] = math.inf
    model["epochs"][5]["valid_metric"] = None
    result = plot_metrics({"models": [model], "size": [400, 300]})
    assert result["series"]["loss"]["series"][1]["data"][2] == [3, None]
    assert result["series"]["metric"]["series"][0]["data"][3] == [4, None]
    assert json_safe(result["series"])
    assert drawn_pixels(result["image"]) > 1000
    every_nan = history("b", 3)
    for row in every_nan["epochs"]:
        row.update({key: math.nan for key in row if key != "epoch"})
    assert plot_metrics({"models": [every_nan], "size": [200, 100]})["image"].size == (200, 100)


def test_metrics_without_epochs_say_so():
    for models in ([], [{"name": "new", "epochs": [], "best_epoch": None}]):
        result = plot_metrics({"models": models, "size": [320, 180]})
        assert result["image"].size == (320, 180)
        assert drawn_pixels(result["image"]) > 50  # the text
        assert all(not chart["series"] for chart in result["series"].values())


def test_metrics_single_epoch_and_bad_requests():
    result = plot_metrics({"models": [history("a", 1, 1)], "size": [200, 150], "dpi": 72})
    assert result["image"].size == (200, 150) and drawn_pixels(result["image"]) > 100
    with pytest.raises(PlotError, match="which"):
        plot_metrics({"models": [], "size": [10, 10], "which": "accuracy"})
    with pytest.raises(PlotError, match="size"):
        plot_metrics({"models": [], "size": [0, 10]})
    with pytest.raises(PlotError, match="epochs"):
        plot_metrics({"models": [{"name": "a", "epochs": [{"loss": 1}]}], "size": [10, 10]})


# ---------------------------------------------------------------------------- parametersplot


MODELS = [
    {
        "name": "resnet",
        "parameters": {"lr": 0.1, "optimizer": "SGD", "batch_size": 64, "augment": True},
        "metrics": {"best valid_metric": 0.93, "best valid_loss": 0.21},
    },
    {
        "name": "mlp",
        "parameters": {"lr": 1e-4, "optimizer": "Adam", "batch_size": 32},
        "metrics": {"best valid_metric": 0.81, "best valid_loss": 0.5},
    },
    {
        "name": "cnn",
        "parameters": {"lr": 1e-3, "optimizer": "Adam", "batch_size": 128, "augment": False},
        "metrics": {"best valid_metric": math.nan, "best valid_loss": 0.3},
    },
]


def test_parameter_axes_mix_numbers_categories_log_and_missing_values():
    axes = {axis.name: axis.as_dict() for axis in build_axes(MODELS)}
    assert list(axes) == [
        "lr",
        "optimizer",
        "batch_size",
        "augment",
        "best valid_metric",
        "best valid_loss",
    ]
    assert axes["lr"]["type"] == "log" and axes["lr"]["positions"] == pytest.approx([1, 0, 1 / 3])
    assert axes["batch_size"]["type"] == "value" and axes["batch_size"]["values"] == [64, 32, 128]
    assert axes["batch_size"]["positions"] == pytest.approx([1 / 3, 0, 1])
    assert axes["optimizer"]["type"] == "category"
    assert axes["optimizer"]["categories"] == ["SGD", "Adam"]
    assert axes["optimizer"]["positions"] == [0, 1, 1]
    assert axes["augment"]["values"] == [True, None, False]  # mlp lacks it
    assert axes["augment"]["positions"] == [0, None, 1]
    assert axes["best valid_metric"]["values"] == [0.93, 0.81, None]  # NaN is missing
    assert {a["group"] for a in axes.values()} == {"parameter", "metric"}
    assert json_safe(list(axes.values()))


def test_parameter_colours_follow_the_first_metric():
    colours = model_colours(MODELS, build_axes(MODELS))
    assert colours[0] != colours[1] and colours[2] == "#9a9a9a"  # cnn has no first metric


def test_without_image_the_same_series_and_axes_come_alone():
    request = {"models": [history("resnet", 12, 9)], "size": [400, 200]}
    full, bare = plot_metrics(request), plot_metrics({**request, "image": False})
    assert set(bare) == {"series"} and bare["series"] == full["series"]
    request = {"models": MODELS, "size": [700, 320]}
    full, bare = plot_parameters(request), plot_parameters({**request, "image": False})
    assert "image" not in bare and bare == {k: v for k, v in full.items() if k != "image"}


def test_parallel_coordinates_image():
    result = plot_parameters({"models": MODELS, "size": [700, 320]})
    assert result["image"].size == (700, 320) and result["models"] == ["resnet", "mlp", "cnn"]
    assert len(result["axes"]) == 6
    assert drawn_pixels(result["image"]) > 5000


@pytest.mark.parametrize(
    "models",
    [
        [MODELS[0]],  # one model
        [{"name": "a", "parameters": {"lr": 0.01}}, {"name": "b", "parameters": {"lr": 0.02}}],
        [{"name": "a", "parameters": {"lr": 0.01}}],  # one model, one parameter
        [{"name": "a", "metrics": {"acc": 0.5}}, {"name": "b", "parameters": {"x": "y"}}],
    ],
)
def test_parallel_coordinates_small_cases_still_plot(models):
    result = plot_parameters({"models": models, "size": [333, 222], "dpi": 80})
    assert result["image"].size == (333, 222)
    assert drawn_pixels(result["image"]) > 200


def test_parallel_coordinates_with_nothing_to_compare():
    for models in ([], [{"name": "bare"}]):
        result = plot_parameters({"models": models, "size": [300, 150]})
        assert result["image"].size == (300, 150) and result["axes"] == []
        assert drawn_pixels(result["image"]) > 50
    with pytest.raises(PlotError, match="models"):
        plot_parameters({"models": "resnet", "size": [300, 150]})


# ---------------------------------------------------------------------------- workers


async def test_plot_workers():
    async with WorkerManager() as manager:
        metrics = await manager.start_worker("metricsplot")
        parameters = await manager.start_worker("parametersplot")
        result = await metrics.request(
            "plot", {"models": [history("a", 5, 2)], "size": [320, 200], "log_scale": True}
        )
        assert isinstance(result["image"], Image.Image) and result["image"].size == (320, 200)
        assert result["series"]["loss"]["yAxis"]["type"] == "log"
        with pytest.raises(WorkerError, match="which"):
            await metrics.request("plot", {"models": [], "size": [10, 10], "which": "x"})
        result = await parameters.request("plot", {"models": MODELS, "size": [500, 250]})
        assert result["image"].size == (500, 250) and len(result["axes"]) == 6


def test_charts_read_well_and_an_empty_one_says_so():
    series = plot_metrics({"models": [history("a", 4, 2)], "size": [300, 200]})["series"]
    loss = series["loss"]
    # Tooltips round to 4 significant digits (a function the browser runs).
    assert "toPrecision(4)" in loss["tooltip"][":valueFormatter"]
    features = loss["toolbox"]["feature"]
    assert {"dataZoom", "restore", "saveAsImage"} <= set(features)
    assert loss["dataZoom"][0]["type"] == "inside" and "graphic" not in loss
    assert loss["xAxis"]["minInterval"] == 1  # integer epochs
    empty = plot_metrics({"models": [{"name": "new", "epochs": []}], "size": [300, 200]})
    for option in empty["series"].values():
        assert option["series"] == [] and option["graphic"][0]["style"]["text"] == "no epochs yet"
