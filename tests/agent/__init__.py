"""Tests of the agent worker (agent-image/ftagent)."""
