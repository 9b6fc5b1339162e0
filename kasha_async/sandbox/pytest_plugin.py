"""pytest plugin exposing the sandbox fixtures (work in progress)."""
