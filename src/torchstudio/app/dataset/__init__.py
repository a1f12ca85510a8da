"""The Dataset tab's state: the pure definition functions and the one service that runs them."""
