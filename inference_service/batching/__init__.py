"""Queues and batches: one dynamic batcher per model, in this process or across the shared-memory
link to the model process."""
