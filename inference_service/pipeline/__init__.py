"""A request's way to the model and back: its photo (decoded or cached), its mask, its model input,
the answer ranked."""
