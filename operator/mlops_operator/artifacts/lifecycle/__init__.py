"""The store's lifecycle: time-partitioned records read by window, compaction, retention,
the inventory garbage collection and store health read. Blocking I/O: the operator runs it
in worker threads (handlers/storage.py)."""
