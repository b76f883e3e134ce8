"""One module per command (`litwatch COMMAND`); loaded only when that command runs."""
