"""Runtime drivers: VMM, storage, network, proxy, SSH, registry, agent client, images."""

__all__: list[str] = []
