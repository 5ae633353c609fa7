"""diffusers checks its dependencies' versions from their installed metadata when it is imported (and fails
with PackageNotFoundError without it), and resolves its pipelines lazily by name."""

from importlib.metadata import PackageNotFoundError, requires

from PyInstaller.utils.hooks import copy_metadata
from packaging.requirements import Requirement

datas = copy_metadata("diffusers")
for line in requires("diffusers") or []:
    requirement = Requirement(line)
    if requirement.marker is None:  # the core dependencies, not the extras
        try:
            datas += copy_metadata(requirement.name)
        except PackageNotFoundError:
            pass
