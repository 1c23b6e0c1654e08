"""The package as a user installs it: a wheel built from the checkout, in a fresh venv, run from elsewhere.

The wheel is built without build isolation (nothing is downloaded) from a
copy of the package's sources, and installed without dependencies into a
venv of its own, whose other packages come from this interpreter's
site-packages (a ``.pth`` file: nothing is installed twice). The console
script then runs from a directory outside the checkout, with nothing of the
checkout on its path, so the commands see exactly what the wheel holds:
``terraform`` used to find no module there (it lived in
``feature_repo_example/terraform``, outside the package).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_repo import ExampleRepo, example_repo
from tests.servers import REPO_ROOT, Endpoint
from tests.terraform_config import TERRAFORM_DIR, parse

WORKLOAD = ("--qps", "2000", "--entities-per-query", "10", "--persist-fraction", "0.1")
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``bin`` directory of a fresh venv holding the wheel."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("setup.py", "setup.cfg", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "feast_chalk_dynamo",
        source / "feast_chalk_dynamo",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(work / "dist"),
            str(source),
        ]
    )
    (wheel,) = (work / "dist").glob("feast_chalk_dynamo-*.whl")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)])
    target = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    )
    (target / "dependencies.pth").write_text("\n".join(dependency_dirs()) + "\n")
    yield venv / "bin"


def dependency_dirs() -> list[str]:
    """This interpreter's site-packages, where the project's dependencies are installed."""
    dirs = [sysconfig.get_paths()[kind] for kind in ("purelib", "platlib")]
    dirs += [entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")]
    return list(dict.fromkeys(dirs))


def environment() -> dict[str, str]:
    """This process's environment (the tests' fake AWS credentials) with nothing of the checkout on the
    path: the commands must run on what the wheel installed."""
    return {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}


def run(argv: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"{argv}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: Endpoint) -> ExampleRepo:
    return example_repo(tmp_path_factory.mktemp("wheel-repo"), moto_endpoint.url)


def test_the_installed_wheel_runs_config_terraform_and_capacity(
    installed: Path, repo: ExampleRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.export(monkeypatch)  # what the repo's yaml reads, for the commands below
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = "import feast_chalk_dynamo; print(feast_chalk_dynamo.__file__)"
    package = run([str(installed / "python"), "-c", where], cwd=elsewhere)
    assert Path(package.strip()).is_relative_to(installed.parent)  # the wheel's, not the checkout's
    script = str(installed / "feast-chalk-dynamo")

    assert run([script, "config", "--help"], cwd=elsewhere).startswith("usage: feast-chalk-dynamo config")
    assert run([script, "capacity", "--help"], cwd=elsewhere).startswith("usage: feast-chalk-dynamo capacity")
    out = run([script, "terraform", "--repo", str(repo.path), *WORKLOAD, "--out", "infra"], cwd=elsewhere)

    modules = sorted(path.name for path in TERRAFORM_DIR.glob("*.tf"))
    assert f"wrote {len(modules)} .tf files and terraform.tfvars to infra" in out
    written = elsewhere / "infra"
    assert sorted(path.name for path in written.glob("*.tf")) == modules
    for name in modules:
        assert (written / name).read_bytes() == (TERRAFORM_DIR / name).read_bytes()
    assert parse(written / "terraform.tfvars")["table_name"] == repo.table
