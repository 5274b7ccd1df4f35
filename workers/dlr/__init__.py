"""The DLR worker: records send outcomes and device receipts (``workers.dlr.tasks``)."""
