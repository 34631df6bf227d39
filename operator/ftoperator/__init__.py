"""The FT-Agent operator: the campaign state machine, its executors (Kubernetes Jobs or local
processes), the kopf handlers, metrics and the ``ftctl`` CLI. Workers never import this."""
