"""Hyperparameter sweeps (Optuna) over a model's training settings, on the studio's trainers."""
