"""Workspaces: project definitions (repos, setup, dev commands, secrets) and their sandboxes.

The subsystem is wired by `atelier.core.workspaces.install.install_workspaces`.
"""

from atelier.core.workspaces.model import DefinitionInvalid, Problem, WorkspaceSpec
from atelier.core.workspaces.validate import parse_definition, problems_of

__all__ = ["DefinitionInvalid", "Problem", "WorkspaceSpec", "parse_definition", "problems_of"]
