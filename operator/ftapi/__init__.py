"""The FineTuneCampaign API and the contracts between the operator and its pods.

Pure pydantic models with no heavy dependencies: the operator, the CLI and every worker
image (agent, trainer, evaluator) import this package, and nothing else of each other.
"""

API_GROUP = "ftagent.dev"
API_VERSION = "v1alpha1"
KIND = "FineTuneCampaign"
PLURAL = "finetunecampaigns"
SINGULAR = "finetunecampaign"
SHORT_NAMES = ("ftc",)
CATEGORIES = ("ftagent",)
