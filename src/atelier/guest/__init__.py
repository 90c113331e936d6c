"""The in-guest side of Atelier: PID-1 init, the agent and the wire protocol.

Standard library only, and nothing from Atelier outside `atelier.guest`: this package is copied
into every VM's boot bundle and runs under the guest's `python3 -I -S`. The host imports only
`atelier.guest.protocol` (and through it `atelier.guest.codec`), so the wire format is defined once.
Modules keep their start-up imports lean (no typing, enum, socket, json or dataclasses on the hot
path) because every import costs ~15x more under QEMU TCG.
"""
