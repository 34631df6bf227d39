"""Job manifests built by the operator: images, security, mounts, GPUs, secrets, Kueue."""

from __future__ import annotations

import json

import pytest

from ftapi.campaign import FineTuneCampaign
from ftapi.steps import StepKind, StepRequest
from ftoperator.builders import build_job
from ftoperator.config import OperatorConfig
from ftoperator.lifecycle import CreateJob


def campaign(**spec) -> FineTuneCampaign:
    return FineTuneCampaign.model_validate(
        {
            "apiVersion": "ftagent.dev/v1alpha1",
            "kind": "FineTuneCampaign",
            "metadata": {"name": "demo", "namespace": "ns", "uid": "u-1", "generation": 1},
            "spec": {"baseModel": "Qwen/Qwen2.5-7B-Instruct", "benchmark": "aime25", **spec},
        }
    )


def job_for(
    ftc: FineTuneCampaign, step: StepKind, config: OperatorConfig | None = None, **req
) -> dict:
    request = StepRequest(step=step, namespace="ns", campaign="demo", spec=ftc.spec, **req)
    return build_job(ftc, CreateJob(f"demo-{step}-0", request), config or OperatorConfig())


def container(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["containers"][0]


def env(job: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(job)["env"]}


def test_every_job_is_locked_down():
    for step in StepKind:
        job = job_for(campaign(), step, iteration=0)
        pod = job["spec"]["template"]["spec"]
        assert job["spec"]["backoffLimit"] == 0
        assert job["spec"]["activeDeadlineSeconds"] > 0
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
        assert pod["automountServiceAccountToken"] is False
        assert pod["restartPolicy"] == "Never"
        assert pod["securityContext"]["runAsNonRoot"] is True
        sc = container(job)["securityContext"]
        assert sc == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert container(job)["terminationMessagePolicy"] == "File"


def test_images_and_commands_come_from_the_operator_config():
    config = OperatorConfig(
        images={
            "agent": "reg/agent:1",
            "trainer": "reg/trainer:1",
            "eval": "reg/eval:1",
            "operator": "reg/op:1",
        }
    )
    expected = {
        StepKind.PREPARE: ("reg/op:1", "ftoperator.prepare"),
        StepKind.AGENT: ("reg/agent:1", "ftagent"),
        StepKind.SMOKE: ("reg/trainer:1", "fttrainer"),
        StepKind.TRAIN: ("reg/trainer:1", "fttrainer"),
        StepKind.EVAL: ("reg/eval:1", "fteval"),
        StepKind.BASELINE: ("reg/eval:1", "fteval"),
        StepKind.FINAL: ("reg/eval:1", "fteval"),
    }
    for step, (image, module) in expected.items():
        c = container(job_for(campaign(), step, config, iteration=0))
        assert c["image"] == image
        assert c["command"] == ["python", "-m", module]


def test_caches_are_read_only_except_for_prepare():
    def mounts(step):
        return {
            m["name"]: m.get("readOnly", False)
            for m in container(job_for(campaign(), step, iteration=0))["volumeMounts"]
        }

    assert mounts(StepKind.PREPARE) == {
        "model-cache": False,
        "dataset-cache": False,
        "tmp": False,
    }
    train = mounts(StepKind.TRAIN)
    assert train["model-cache"] is True and "dataset-cache" not in train
    assert train["workspace"] is False
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in job_for(
            campaign(storage={"workspace": {"claimName": "ws"}}), StepKind.AGENT, iteration=0
        )["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {
        "model-cache": "ft-model-cache",
        "dataset-cache": "ft-dataset-cache",
        "workspace": "ws",
    }


def test_gpu_steps_request_gpus_and_follow_scheduling_settings():
    ftc = campaign(
        training={
            "gpus": 4,
            "queueName": "gpu-q",
            "nodeSelector": {"gpu": "h100"},
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
            "resources": {"limits": {"memory": "200Gi"}},
        },
        evaluation={"gpus": 2},
    )
    train = job_for(ftc, StepKind.TRAIN, iteration=0)
    res = container(train)["resources"]
    assert res["limits"]["nvidia.com/gpu"] == 4 and res["requests"]["nvidia.com/gpu"] == 4
    assert res["limits"]["memory"] == "200Gi" and res["requests"]["cpu"]
    assert train["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-q"
    pod = train["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "h100"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert any(v["name"] == "dshm" for v in pod["volumes"])
    evaluation = container(job_for(ftc, StepKind.EVAL, iteration=0))["resources"]
    assert evaluation["limits"]["nvidia.com/gpu"] == 2
    agent = job_for(ftc, StepKind.AGENT, iteration=0)
    assert "nvidia.com/gpu" not in container(agent)["resources"]["limits"]
    assert "kueue.x-k8s.io/queue-name" not in agent["metadata"]["labels"]


def test_secrets_are_referenced_only_where_needed():
    ftc = campaign(
        planner={
            "type": "llm",
            "llm": {
                "strongModels": ["openai/gpt-4o"],
                "apiKeySecretRef": {"name": "llm", "key": "api-key"},
            },
        },
        hfTokenSecretRef={"name": "hf", "key": "token"},
    )
    prepare = env(job_for(ftc, StepKind.PREPARE))
    assert prepare["HF_TOKEN"] == {"secretKeyRef": {"name": "hf", "key": "token"}}
    assert "FT_LLM_API_KEY" not in prepare
    agent = env(job_for(ftc, StepKind.AGENT, iteration=0))
    assert agent["FT_LLM_API_KEY"] == {"secretKeyRef": {"name": "llm", "key": "api-key"}}
    assert "HF_TOKEN" not in agent and agent["HF_HUB_OFFLINE"] == "1"
    train = env(job_for(ftc, StepKind.TRAIN, iteration=0))
    assert "FT_LLM_API_KEY" not in train and "HF_TOKEN" not in train
    # The request in the env names the Secret but carries no value.
    request = json.loads(agent["FT_STEP_REQUEST"])
    assert request["spec"]["planner"]["llm"]["apiKeySecretRef"]["name"] == "llm"


def test_labels_identify_the_step():
    labels = job_for(campaign(), StepKind.SMOKE, iteration=3, repair_round=1, attempt=2)["spec"][
        "template"
    ]["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/managed-by": "ft-agent-operator",
        "ftagent.dev/campaign": "demo",
        "ftagent.dev/campaign-uid": "u-1",
        "ftagent.dev/step": "smoke",
        "ftagent.dev/attempt": "2",
        "ftagent.dev/iteration": "3",
        "ftagent.dev/repair-round": "1",
    }


def test_search_planner_pods_never_get_the_llm_key():
    ftc = campaign(
        planner={
            "type": "search",
            "llm": {"strongModels": ["m"], "apiKeySecretRef": {"name": "llm", "key": "k"}},
        }
    )
    for step in (StepKind.AGENT, StepKind.EVAL):
        assert "FT_LLM_API_KEY" not in env(job_for(ftc, step, iteration=0))


def test_evaluation_deadlines_grow_with_samples_per_item():
    config = OperatorConfig()
    sampled = campaign(evaluation={"samplesPerItem": 4})
    for step in (StepKind.BASELINE, StepKind.EVAL, StepKind.FINAL):
        job = job_for(sampled, step, config, iteration=0)
        assert job["spec"]["activeDeadlineSeconds"] == 4 * config.active_deadline_seconds[step]
    train = job_for(sampled, StepKind.TRAIN, config, iteration=0)
    assert train["spec"]["activeDeadlineSeconds"] == config.active_deadline_seconds[StepKind.TRAIN]


def test_oracles_reach_prepare_from_the_operator_config_and_evaluation_pods_from_the_cache():
    config = OperatorConfig(oracle_base_url="https://mirror.example/oracles")
    ftc = campaign(benchmark="chemcotbench_mol_opt")
    prepare = env(job_for(ftc, StepKind.PREPARE, config=config))
    assert prepare["FT_ORACLE_BASE_URL"] == "https://mirror.example/oracles"
    assert "FT_ORACLE_BASE_URL" not in env(job_for(ftc, StepKind.PREPARE))
    models = OperatorConfig().mount_paths.models
    for step in (StepKind.BASELINE, StepKind.EVAL, StepKind.FINAL):
        assert env(job_for(ftc, step, iteration=0))["FT_ORACLE_DIR"] == f"{models}/oracles"
    for step in (StepKind.AGENT, StepKind.TRAIN):
        assert "FT_ORACLE_DIR" not in env(job_for(ftc, step, iteration=0))


def test_the_judge_key_reaches_evaluation_pods_only_and_the_planner_key_never_does():
    ftc = campaign(
        benchmark="aime25",
        planner={
            "type": "llm",
            "llm": {"strongModels": ["m"], "apiKeySecretRef": {"name": "planner", "key": "k"}},
        },
        evaluation={
            "judge": {"model": "openai/judge", "apiKeySecretRef": {"name": "judge", "key": "j"}}
        },
    )
    for step in (StepKind.BASELINE, StepKind.EVAL, StepKind.FINAL):
        got = env(job_for(ftc, step, iteration=0))["FT_LLM_API_KEY"]
        assert got == {"secretKeyRef": {"name": "judge", "key": "j"}}
    agent = env(job_for(ftc, StepKind.AGENT, iteration=0))["FT_LLM_API_KEY"]
    assert agent == {"secretKeyRef": {"name": "planner", "key": "k"}}
    no_judge = campaign(planner=ftc.spec.planner.model_dump(by_alias=True))
    assert "FT_LLM_API_KEY" not in env(job_for(no_judge, StepKind.EVAL, iteration=0))


def test_the_operator_limits_which_secrets_and_api_bases_llm_clients_get():
    from ftoperator.config import LlmPolicy

    policy = LlmPolicy(
        allowed_secret_names=["llm-credentials"], allowed_api_bases=["http://vllm.llm:8000/v1"]
    )

    def spec(**llm):
        return campaign(
            benchmark="aime25",
            planner={"type": "llm", "llm": {"strongModels": ["m"], **llm}},
            evaluation={"judge": {"model": "j", **llm}},
        ).spec

    good = {
        "apiBase": "http://vllm.llm:8000/v1",
        "apiKeySecretRef": {"name": "llm-credentials", "key": "k"},
    }
    assert policy.violations(spec(**good)) == []
    assert policy.violations(spec()) == []  # litellm's own provider endpoints
    stolen = policy.violations(spec(apiKeySecretRef={"name": "db-password", "key": "p"}))
    assert len(stolen) == 2 and all("'db-password'" in p for p in stolen)
    assert "spec.planner.llm.apiKeySecretRef" in stolen[0]
    assert "spec.evaluation.judge.apiKeySecretRef" in stolen[1]
    for base in ("https://attacker.example/v1", "http://vllm.llm:8000/v1.attacker.example"):
        assert any(
            "not an API base this operator allows" in p
            for p in policy.violations(spec(apiBase=base))
        )
    assert policy.violations(spec(apiBase="http://vllm.llm:8000/v1/")) == []
    assert LlmPolicy(allowed_api_bases=[]).violations(spec(apiBase="http://x/v1"))
    assert (
        LlmPolicy().violations(
            spec(apiBase="http://x/v1", apiKeySecretRef={"name": "a", "key": "b"})
        )
        == []
    )


def test_each_pod_mounts_only_its_campaigns_folder_and_only_evaluation_sees_the_answers():
    ftc = campaign()
    paths = OperatorConfig().mount_paths

    def mounts(step):
        return container(job_for(ftc, step, iteration=0))["volumeMounts"]

    for step in (StepKind.AGENT, StepKind.SMOKE, StepKind.TRAIN, StepKind.EVAL, StepKind.FINAL):
        (workspace,) = [m for m in mounts(step) if m["name"] == "workspace"]
        # <namespace>/<name>-<uid>: another campaign's folder, or a deleted campaign's of the
        # same name, is not in the pod at all.
        assert workspace["subPath"] == "ns/demo-u-1"
        assert workspace["mountPath"] == f"{paths.workspace}/ns/demo-u-1"
    agent = [m for m in mounts(StepKind.AGENT) if m["name"] == "dataset-cache"]
    assert {(m["subPath"], m["mountPath"], m["readOnly"]) for m in agent} == {
        ("raw", f"{paths.datasets}/raw", True),
        ("exclude", f"{paths.datasets}/exclude", True),
    }  # never bench/, where the evaluation sets and their answers are
    for step in (StepKind.SMOKE, StepKind.TRAIN):
        assert not [m for m in mounts(step) if m["name"] == "dataset-cache"]
    (evaluation,) = [m for m in mounts(StepKind.EVAL) if m["name"] == "dataset-cache"]
    assert evaluation == {"name": "dataset-cache", "mountPath": paths.datasets, "readOnly": True}


def test_scratch_space_is_bounded():
    for step in (StepKind.AGENT, StepKind.TRAIN, StepKind.EVAL):
        volumes = {
            v["name"]: v
            for v in job_for(campaign(), step, iteration=0)["spec"]["template"]["spec"]["volumes"]
        }
        assert volumes["tmp"]["emptyDir"]["sizeLimit"] == OperatorConfig().tmp_size_limit
    train = job_for(campaign(), StepKind.TRAIN, iteration=0)["spec"]["template"]["spec"]["volumes"]
    (shm,) = [v for v in train if v["name"] == "dshm"]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}


def test_agent_pods_can_run_under_a_sandboxing_runtime():
    config = OperatorConfig(agent_runtime_class_name="gvisor")
    agent = job_for(campaign(), StepKind.AGENT, config, iteration=0)
    assert agent["spec"]["template"]["spec"]["runtimeClassName"] == "gvisor"
    train = job_for(campaign(), StepKind.TRAIN, config, iteration=0)
    assert "runtimeClassName" not in train["spec"]["template"]["spec"]
    assert (
        "runtimeClassName"
        not in job_for(campaign(), StepKind.AGENT, iteration=0)["spec"]["template"]["spec"]
    )


LLM_PLANNER = {
    "type": "llm",
    "llm": {
        "strongModels": ["openai/gpt-4o"],
        "apiKeySecretRef": {"name": "llm", "key": "api-key"},
    },
}


def test_llm_written_scripts_run_in_a_container_of_their_own():
    config = OperatorConfig(run_as_user=10001)
    raw = f"{config.mount_paths.datasets}/raw"
    pod = job_for(campaign(planner=LLM_PLANNER), StepKind.AGENT, config, iteration=0)["spec"][
        "template"
    ]["spec"]
    agent, scripts = pod["containers"]
    assert (agent["name"], scripts["name"]) == ("agent", "scripts")
    assert scripts["image"] == agent["image"]
    assert scripts["command"] == ["python", "-m", "ftagent.script_runner"]
    # No Secret, no service-account token, no shared PID namespace, another user.
    assert all("valueFrom" not in e for e in scripts["env"]) and "envFrom" not in scripts
    assert "FT_LLM_API_KEY" not in {e["name"] for e in scripts["env"]}
    assert pod["automountServiceAccountToken"] is False
    assert not pod.get("shareProcessNamespace")
    context = scripts["securityContext"]
    assert (
        context["runAsUser"]
        == context["runAsGroup"]
        == 10002
        != pod["securityContext"]["runAsUser"]
    )
    assert context["readOnlyRootFilesystem"] and context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] and not context["allowPrivilegeEscalation"]
    # Only the shared sandbox folder, its own /tmp and the raw datasets (read-only).
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in scripts["volumeMounts"]}
    assert set(mounts) == {"/sandbox", "/tmp", raw}
    assert mounts[raw]["readOnly"] and mounts[raw]["subPath"] == "raw"
    assert not mounts["/sandbox"].get("readOnly") and not mounts["/tmp"].get("readOnly")
    for mount in mounts.values():
        assert "emptyDir" in volumes[mount["name"]] or mount["readOnly"]
    assert volumes[mounts["/tmp"]["name"]] is not volumes["tmp"]  # not the agent's /tmp
    assert volumes["sandbox"]["emptyDir"]["sizeLimit"] == config.sandbox_size_limit
    # The agent finds its script container through the shared folder.
    agent_env = {e["name"]: e.get("value") for e in agent["env"]}
    assert agent_env["FT_SCRIPT_RUNNER_DIR"] == "/sandbox"
    assert {"name": "sandbox", "mountPath": "/sandbox"} in agent["volumeMounts"]
    assert scripts["resources"]["limits"]["cpu"] and scripts["resources"]["limits"]["memory"]


def test_search_planner_agents_and_other_steps_have_one_container():
    for ftc, step in [
        (campaign(), StepKind.AGENT),
        (campaign(planner=LLM_PLANNER), StepKind.TRAIN),
        (campaign(planner=LLM_PLANNER), StepKind.EVAL),
    ]:
        pod = job_for(ftc, step, iteration=0)["spec"]["template"]["spec"]
        assert len(pod["containers"]) == 1
        assert "FT_SCRIPT_RUNNER_DIR" not in {e["name"] for e in pod["containers"][0]["env"]}


def test_scripts_never_run_as_the_agents_user():
    with pytest.raises(ValueError, match="must differ"):
        OperatorConfig(run_as_user=1000, script_run_as_user=1000)


def test_every_container_has_disk_limits_and_code_runners_cpu_limits():
    ftc = campaign(planner=LLM_PLANNER)
    for step in StepKind:
        for c in job_for(ftc, step, iteration=0)["spec"]["template"]["spec"]["containers"]:
            assert c["resources"]["limits"]["ephemeral-storage"], (step, c["name"])
            assert c["resources"]["requests"]["ephemeral-storage"], (step, c["name"])
            if step in (StepKind.PREPARE, StepKind.AGENT):
                assert c["resources"]["limits"]["cpu"], (step, c["name"])
