"""Training data for the router: the generator and its hand-written sources.

Run ``python -m routing.data.make_data`` to regenerate ``train.jsonl`` and ``test.jsonl``.
``independent.jsonl`` is hand-written separately and is never produced by the generator.
"""
