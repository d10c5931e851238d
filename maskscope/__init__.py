"""Maskscope's shared pieces: the generated gRPC contract (`maskscope.v1`) and flag helpers."""
