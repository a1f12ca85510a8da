"""Looking at a model without changing it: interpretation of its results, learning-rate range test."""
