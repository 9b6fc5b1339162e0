"""A stateful local Kasha v2 simulator (work in progress)."""
