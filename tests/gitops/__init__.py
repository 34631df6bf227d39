"""Tests of the GitOps pieces: ``ftctl batch``, the Argo CD health check and the examples."""
