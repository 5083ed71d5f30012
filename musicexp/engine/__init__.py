"""The engine: it runs registered steps and knows none of them by name.

registry (what a step declares), graph (order from deps), runner (resume / skip / force,
on_error, records), cache (where artifacts live), hashing, results, fsutil, faults, config
(the schema assembled from the registered steps, and its checks).
"""
