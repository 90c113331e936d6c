"""Guest images, guest kernels and the boot bundle.

Import from the concept modules: `kernel` (resolve_kernel, build_kernel, KernelArtifact),
`bootbundle` (build_boot_bundle), `builder` (build_image), `catalog` (find_image,
list_images, remove_image), `recipe` and `steps` (the recipe API), `manifest`.
"""

__all__: list[str] = []
