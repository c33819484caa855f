"""Pure decisions about the artifact store's lifecycle: retention of the records a
deployment's servers append, and garbage collection of what no live object references.
The I/O is in artifacts/lifecycle (worker threads), the glue in handlers/storage.py; the
reasons of their conditions and Events are in reconcile/reasons.py."""
