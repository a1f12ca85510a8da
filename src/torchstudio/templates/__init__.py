"""Starting points for new custom modules, one runnable file per kind.

The Models and Dataset tabs' "new module" copies one of these into the project; each ends
with the variable its kind defines. `optim.py` and `schedulers.py` use the `model` and
`optimizer` that the studio defines before it runs them.
"""
