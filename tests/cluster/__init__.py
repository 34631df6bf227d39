"""Tests that need the real kube-apiserver started by the session fixture ``cluster``."""
