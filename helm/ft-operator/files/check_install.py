"""`helm test` check: the FineTuneCampaign API is served and the operator is up.

Runs in the test hook Pod (the operator image's python, standard library only) and, in the
repository's tests, as a local process against the test API server. It needs no RBAC:
API discovery is open to every authenticated user (system:discovery), and the operator's
kopf liveness endpoint and Prometheus metrics are plain HTTP behind the chart's Service.

Environment (in-cluster defaults):
  FT_CHECK_API            API server URL (from KUBERNETES_SERVICE_HOST/PORT)
  FT_CHECK_TOKEN_FILE     bearer token (the Pod's ServiceAccount token)
  FT_CHECK_CA_FILE        CA bundle of the API server (the Pod's ServiceAccount CA)
  FT_CHECK_GROUP_VERSION  ftagent.dev/v1alpha1
  FT_CHECK_HEALTH_URL     the operator's kopf /healthz (required)
  FT_CHECK_METRICS_URL    the operator's /metrics (optional)
  FT_CHECK_TIMEOUT        seconds to wait for the operator (default 120)
Exit status 0 when every check passes, 1 otherwise.
"""

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def api_url():
    url = os.environ.get("FT_CHECK_API")
    if url:
        return url.rstrip("/")
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = "[" + host + "]"
    return "https://" + host + ":" + port


def fetch(url, token=None, context=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    with opener.open(request, timeout=10) as response:
        return response.status, response.read().decode("utf-8", "replace")


def check_crd():
    group_version = os.environ.get("FT_CHECK_GROUP_VERSION", "ftagent.dev/v1alpha1")
    token_file = os.environ.get("FT_CHECK_TOKEN_FILE", SA_DIR + "/token")
    ca_file = os.environ.get("FT_CHECK_CA_FILE", SA_DIR + "/ca.crt")
    with open(token_file) as fh:
        token = fh.read().strip()
    context = ssl.create_default_context(cafile=ca_file)
    _, body = fetch(api_url() + "/apis/" + group_version, token, context)
    served = {r["name"]: r for r in json.loads(body).get("resources", [])}
    campaign = served.get("finetunecampaigns")
    if campaign is None or campaign.get("kind") != "FineTuneCampaign":
        raise RuntimeError(group_version + " does not serve finetunecampaigns: " + str(served))
    if "finetunecampaigns/status" not in served:
        raise RuntimeError("finetunecampaigns has no status subresource")
    short_names = ",".join(campaign.get("shortNames", []))
    return ["CRD: " + group_version + " serves finetunecampaigns (short names " + short_names + ")"]


def check_operator():
    health_url = os.environ["FT_CHECK_HEALTH_URL"]
    deadline = time.monotonic() + float(os.environ.get("FT_CHECK_TIMEOUT", "120"))
    last = ""
    while True:
        try:
            status, body = fetch(health_url)
            if status == 200:
                break
            last = "HTTP " + str(status)
        except (OSError, urllib.error.URLError) as exc:
            last = repr(exc)
        if time.monotonic() > deadline:
            raise RuntimeError("operator not healthy at " + health_url + ": " + last)
        time.sleep(2)
    lines = ["operator: " + health_url + " answers 200 " + body.strip()[:200]]
    metrics_url = os.environ.get("FT_CHECK_METRICS_URL")
    if metrics_url:
        _, text = fetch(metrics_url)
        if "ftagent_" not in text:
            raise RuntimeError("no ftagent_ metrics at " + metrics_url)
        lines.append("metrics: " + metrics_url + " exports ftagent_* series")
    return lines


def main():
    failed = False
    for check in (check_crd, check_operator):
        try:
            for line in check():
                print("ok   " + line)
        except Exception as exc:
            failed = True
            print("FAIL " + check.__name__ + ": " + str(exc))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
