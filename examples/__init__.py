"""Runnable examples of kasha-async: a Starlette checkout and a payout run from a CSV file."""
