"""Pure decisions about the artifact store's lifecycle: retention of the records a
deployment's servers append, and garbage collection of what no live object references.
The I/O is in artifacts/lifecycle (worker threads), the glue in handlers/storage.py."""

# Condition reasons and Event reasons of the store's lifecycle (the rest: reconcile/reasons.py).
WINDOW_BEYOND_RETENTION = "WindowBeyondRetention"
WINDOW_WITHIN_RETENTION = "WindowWithinRetention"
RETENTION_APPLIED = "RetentionApplied"
GARBAGE_COLLECTED = "GarbageCollected"
GARBAGE_FOUND = "GarbageFound"  # dry run: what a sweep would remove
STORE_UNAVAILABLE = "StoreUnavailable"
