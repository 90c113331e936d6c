"""The SSH gateway: `ssh <sandbox>@host` routed to the sandbox's sshd with a per-sandbox key.

`gateway.py` is the asyncssh server, `relay.py` the flow-controlled channel plumbing,
`upstream.py` the connections to guests, `keys.py` key parsing and generation, `acl.py` the
pure access decision and `base.py` the backend Protocol the core service implements.
"""

__all__: list[str] = []
