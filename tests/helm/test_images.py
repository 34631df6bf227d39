"""Static checks of the four container images' Dockerfiles (operator, agent, trainer, eval).

Every image must exist (a missing Dockerfile fails, it is not skipped), install the project with
the extra of its folder, be multi-stage, pin its base images by tag, run as a non-root user,
and start the module the operator (or the chart) expects, which must exist in the repository.
No Docker daemon is needed or used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ftoperator.builders import WORKER_MODULES

from .chart import CHART, REPO_ROOT, render
from .dockerfile import Dockerfile, command_words, image_reference_is_pinned, parse


@dataclass(frozen=True)
class Image:
    folder: str
    """Folder of the Dockerfile and of the image's package sources."""
    extra: str
    """The pyproject extra the image installs."""
    module: str
    """The module its entrypoint runs (``python -m`` or ``kopf run -m``)."""


IMAGES = {
    "operator": Image("operator", "operator", "ftoperator.handlers"),
    # The operator's Jobs run `python -m <module>` in these images (builders.WORKER_MODULES).
    "agent": Image("agent-image", "agent", WORKER_MODULES["agent"]),
    "trainer": Image("trainer-image", "trainer", WORKER_MODULES["trainer"]),
    "eval": Image("eval-image", "eval", WORKER_MODULES["eval"]),
}
ROOT_USERS = {"root", "0", "root:root", "0:0", "root:0", "0:root"}
INSTALL = re.compile(r"\b(?:pip|pip3|uv pip)\s+install\b")
EXTRAS = re.compile(r"""(?:^|\s)['"]?(?:\.|\./|/[\w./-]+)\[([\w,\s-]+)\]['"]?""")


def load(name: str) -> tuple[Image, Dockerfile]:
    """The image's spec and parsed Dockerfile; a missing Dockerfile fails the calling test."""
    spec = IMAGES[name]
    path = REPO_ROOT / spec.folder / "Dockerfile"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(REPO_ROOT)} is missing: the {name} image is required")
    return spec, parse(path)


def _runs(dockerfile: Dockerfile) -> list[str]:
    return [i.args for i in dockerfile.all("RUN")]


def install_problem(spec: Image, dockerfile: Dockerfile) -> str | None:
    installs = [run for run in _runs(dockerfile) if INSTALL.search(run)]
    extras = {
        extra.strip()
        for run in installs
        for group in EXTRAS.findall(run)
        for extra in group.split(",")
    }
    if spec.extra not in extras:
        return (
            f"{spec.folder}/Dockerfile must `pip install .[{spec.extra}]` "
            f"(found extras {sorted(extras)} in {installs})"
        )
    copies = " ".join(i.args for i in dockerfile.all("COPY") + dockerfile.all("ADD"))
    if "pyproject.toml" not in copies and not re.search(r"(^|\s)\.\.?/?\s", copies + " "):
        return "the project (pyproject.toml) is never copied into the build"
    return None


def stages_problem(spec: Image, dockerfile: Dockerfile) -> str | None:
    if len(dockerfile.stages) < 2:
        return f"{len(dockerfile.stages)} stage(s): use a build stage and a runtime stage"
    return None


def pin_problem(spec: Image, dockerfile: Dockerfile) -> str | None:
    aliases = {s.alias for s in dockerfile.stages if s.alias}
    unpinned = [
        s.image
        for s in dockerfile.stages
        if s.image not in aliases and not image_reference_is_pinned(s.image)
    ]
    return f"unpinned base images (give a tag, not latest): {unpinned}" if unpinned else None


def user_problem(spec: Image, dockerfile: Dockerfile) -> str | None:
    user = dockerfile.last_in_final("USER")
    if user is None:
        return "the final stage sets no USER: the image would run as root"
    if user.args.strip() in ROOT_USERS:
        return f"USER {user.args} is root"
    return None


def _module_source(spec: Image, module: str) -> Path | None:
    base = REPO_ROOT / spec.folder / Path(*module.split("."))
    for candidate in (base / "__main__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def entrypoint_problem(spec: Image, dockerfile: Dockerfile) -> str | None:
    words = command_words(dockerfile.last_in_final("ENTRYPOINT")) + command_words(
        dockerfile.last_in_final("CMD")
    )
    if "-m" not in words or words.index("-m") + 1 >= len(words):
        return f"entrypoint/cmd {words} names no module (-m)"
    module = words[words.index("-m") + 1]
    if module != spec.module:
        return f"the image starts {module}, the operator expects {spec.module}"
    runner = words[: words.index("-m")]
    base = REPO_ROOT / spec.folder / Path(*module.split("."))
    if runner and Path(runner[0]).name.startswith("python"):
        # `python -m pkg` needs pkg/__main__.py (or a plain module file).
        if _module_source(spec, module) is None:
            return f"{module} has no __main__.py under {spec.folder}/"
    elif not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
        return f"module {module} does not exist under {spec.folder}/"
    return None


CHECKS = [install_problem, stages_problem, pin_problem, user_problem, entrypoint_problem]


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removesuffix("_problem"))
def test_image(name: str, check: Callable[[Image, Dockerfile], str | None]):
    spec, dockerfile = load(name)
    assert check(spec, dockerfile) is None, check(spec, dockerfile)


def test_checks_catch_a_bad_dockerfile(tmp_path: Path):
    """Negative control: a single-stage, unpinned, root image installing the wrong extra."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\n"
        "COPY . /src\n"
        "RUN pip install '/src[eval]'\n"
        'CMD ["python", "-m", "ftagent.nothing"]\n'
    )
    dockerfile = parse(bad)
    problems = [check(IMAGES["agent"], dockerfile) for check in CHECKS]
    assert all(problems), problems


def test_operator_image_matches_the_chart(tmp_path: Path):
    """The chart's Deployment runs the image's own command, user and ports."""
    dockerfile = parse(REPO_ROOT / "operator" / "Dockerfile")
    entrypoint = command_words(dockerfile.last_in_final("ENTRYPOINT"))
    assert entrypoint == ["kopf", "run", "--standalone", "-m", "ftoperator.handlers"]
    assert any("-c constraints.txt" in run for run in _runs(dockerfile))
    objects = render({}, tmp_path)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][: len(entrypoint)] == entrypoint
    user = dockerfile.last_in_final("USER")
    assert user is not None
    assert user.args.split(":")[0] == str(pod["securityContext"]["runAsUser"])
    exposed = {
        int(p)
        for i in dockerfile.final.instructions
        if i.keyword == "EXPOSE"
        for p in i.args.split()
    }
    assert {p["containerPort"] for p in container["ports"]} == exposed
    assert (CHART / "Chart.yaml").is_file()
