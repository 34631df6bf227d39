"""Test harness: a throwaway local Kubernetes control plane for the real-cluster tests."""
