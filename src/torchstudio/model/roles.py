"""Tensor roles from the model: how many inputs its `forward` takes, how many outputs it returns.

A dataset's suggested roles make its last tensor the target and every other one an input.
A model `forward(image, scalar)` returning `(logits, value)` on samples of
`(image, scalar, class, value)` wants two inputs and two targets instead: when the roles
are still the suggested ones, the build follows the model. When the user chose the roles,
a mismatch is explained in their terms.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from torch import nn

from torchstudio.model.package import BuildError


def forward_inputs(model: nn.Module) -> int | None:
    """How many tensors `model.forward` needs: its positional parameters without defaults.

    None when it takes any number (`*args`) or has no readable signature.
    """
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = 0
    for parameter in signature.parameters.values():
        if parameter.kind == inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in positional and parameter.default is inspect.Parameter.empty:
            required += 1
    return required


def roles_for_inputs(count: int, inputs: int) -> list[str]:
    """The first `inputs` tensors are inputs, the rest targets (a lone tensor is both)."""
    if count == 1:
        return ["both"]
    return ["input"] * inputs + ["output"] * (count - inputs)


def roles_for_outputs(roles: Sequence[str], outputs: int) -> list[str]:
    """Targets past the model's `outputs` ones get no role (nothing to compare them to)."""
    adapted, targets = [], 0
    for role in roles:
        if role == "output":
            targets += 1
            adapted.append("output" if targets <= outputs else "none")
        else:
            adapted.append(role)
    return adapted


def _ids(roles: Sequence[str], kinds: tuple[str, ...]) -> list[int]:
    return [index for index, role in enumerate(roles) if role in kinds]


def check_inputs(roles: Sequence[str], wanted: int | None) -> None:
    """A BuildError in terms of roles when the model takes another number of inputs."""
    inputs = _ids(roles, ("input", "both"))
    if wanted is None or wanted == len(inputs):
        return
    named = ", ".join(str(i) for i in inputs) or "none"
    raise BuildError(
        f"the model takes {wanted} input{'s' if wanted != 1 else ''} (its forward's "
        f"parameters without defaults); the dataset's roles give it {len(inputs)} "
        f"(tensor{'s' if len(inputs) != 1 else ''} {named}): set the roles in the Dataset "
        f"tab so that {wanted} tensor{'s are inputs' if wanted != 1 else ' is the input'}"
    )


def model_roles(roles: Sequence[str], wanted: int | None, adapt: bool) -> list[str]:
    """The roles to build with: the model's split when `adapt` (the roles are the suggested
    ones) and the dataset has enough tensors; else `roles`, checked against the model."""
    count = len(roles)
    if adapt and wanted is not None and 0 < wanted < count:
        return roles_for_inputs(count, wanted)
    check_inputs(roles, wanted)
    return list(roles)
