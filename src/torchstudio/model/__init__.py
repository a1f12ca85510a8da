"""Model building blocks shared by the modelbuild and modeltrain workers.

- `graph`: the model graph at every depth level (torch.fx, or forward hooks as a fallback);
- `package`: the built model in its four transport formats, and `load_built_model`;
- `suggest`: suggested loss, metric, optimizer, scheduler and hyperparameters;
- `describe`: shapes, dtypes, parameter counts and layer summaries as short texts.
"""

from torchstudio.model.graph import build_graph
from torchstudio.model.package import MODES, BuildError, load_built_model, package_model
from torchstudio.model.suggest import suggest_training

__all__ = [
    "MODES",
    "BuildError",
    "build_graph",
    "load_built_model",
    "package_model",
    "suggest_training",
]
