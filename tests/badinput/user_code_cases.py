"""Broken user code for each part of the studio: a syntax error and a runtime error each.

Every case names the chunk (`File "<part> code"`), the line and the error the user must
read; the tests run them through the services and check that a correct request follows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BrokenCode:
    part: str  # dataset, model, loss, metric, optimizer, scheduler, renderer, analyzer
    kind: str  # syntax or runtime
    code: str
    line: int  # the line of `code` the message must name
    error: str  # the exception name the message must contain

    @property
    def id(self) -> str:
        return f"{self.part}-{self.kind}"


def _syntax(part: str, variable: str) -> BrokenCode:
    code = f"import torch\n\n{variable} = torch.nn.Identity(\n"
    return BrokenCode(part, "syntax", code, 3, "SyntaxError")


CASES = [
    _syntax("dataset", "train"),
    BrokenCode(
        "dataset",
        "runtime",
        "import torch\n\n\nclass Broken(torch.utils.data.Dataset):\n"
        "    def __len__(self):\n        return 4\n\n"
        "    def __getitem__(self, index):\n        return 1 / 0\n\n\ntrain = Broken()\n",
        9,
        "ZeroDivisionError",
    ),
    _syntax("model", "model"),
    BrokenCode(
        "model",
        "runtime",
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n"
        "        return x.flatten(1) @ undefined_weights\n\n\nmodel = Net()\n",
        6,
        "NameError",
    ),
    _syntax("loss", "loss"),
    BrokenCode(
        "loss",
        "runtime",
        "import torch\n\n\nclass Loss(torch.nn.Module):\n    def forward(self, output, target):\n"
        "        return output.sum() / undefined_scale\n\n\nloss = Loss()\n",
        6,
        "NameError",
    ),
    _syntax("metric", "metric"),
    BrokenCode(
        "metric",
        "runtime",
        "from torchstudio.metrics.accuracy import Accuracy\n\nmetric = Accuracy(task='nonsense')\n",
        3,
        "ValueError",
    ),
    _syntax("optimizer", "optimizer"),
    BrokenCode(
        "optimizer",
        "runtime",
        "import torch\n\noptimizer = torch.optim.SGD(model.parameters(), lr=-1.0)\n",
        3,
        "ValueError",
    ),
    _syntax("scheduler", "scheduler"),
    BrokenCode(
        "scheduler",
        "runtime",
        "import torch\n\nscheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1 / 0)\n",
        3,
        "ZeroDivisionError",
    ),
    _syntax("renderer", "renderer"),
    BrokenCode(
        "renderer",
        "runtime",
        "from torchstudio.modules import Renderer\n\n\nclass Broken(Renderer):\n"
        "    def render(self, title, tensor, size, **kwargs):\n"
        "        return tensor.no_such_attribute\n\n\nrenderer = Broken()\n",
        6,
        "AttributeError",
    ),
    _syntax("analyzer", "analyzer"),
    BrokenCode(
        "analyzer",
        "runtime",
        "from torchstudio.analyzers.multiclass import Multiclass\n\n\nclass Broken(Multiclass):\n"
        "    def analyze_sample(self, sample, training_sample):\n"
        "        raise ValueError('this analyzer cannot read the sample')\n\n\n"
        "analyzer = Broken()\n",
        6,
        "ValueError",
    ),
]
