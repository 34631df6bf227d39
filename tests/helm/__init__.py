"""Tests of the Helm chart (helm/ft-operator) and the container images' Dockerfiles."""
