"""AI task dispatch: tasks run by OpenCode in sandboxes, tracked by the manager.

`atelier.core.tasks.system.install_tasks(manager)` wires it in and `tasks_of(manager)`
returns the installed `TaskSystem` (task service, templates, OpenCode config, auth sync,
attention feed). This package module stays light (the services import its parts).
"""

from atelier.core.tasks.states import TaskStatus
from atelier.core.tasks.views import ReviewRequest, SandboxAction, TaskCreate, TaskView
from atelier.core.tasks.workspaces import NoWorkspaces, TaskRepo, TaskWorkspace, WorkspaceLookup

__all__ = [
    "NoWorkspaces",
    "ReviewRequest",
    "SandboxAction",
    "TaskCreate",
    "TaskRepo",
    "TaskStatus",
    "TaskView",
    "TaskWorkspace",
    "WorkspaceLookup",
]
