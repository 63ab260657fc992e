"""Runnable examples: realistic async code (``<topic>.py``) beside its tests (``test_<topic>.py``).

Run them from the repository root, as you would run your own tests:

    python -W error -m unittest discover -s examples -t .

``-t .`` makes the repository root the top-level directory, so the examples
import the toolkit (``asynctestkit``) and their code (``examples.ratelimit``)
without installing anything. ``python -m pytest examples`` runs them too.
"""
