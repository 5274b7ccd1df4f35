"""Pushflow's composition root: the ``pushflow`` command (``cli``) and ``pushflow up`` (``up``).

The only package that imports the API (``producer``), the workers and the sandbox together.
"""
