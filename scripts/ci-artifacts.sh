#!/usr/bin/env bash
# Builds (or reuses from the cache, keyed by their inputs) the guest kernels and images the
# tests boot. Cached under /var/cache/atelier; a warm cache makes this a few seconds.
set -euo pipefail
atelier images kernel build
atelier images kernel build --flavour cloud
atelier images build minimal
# The default sandbox image and its cloud variant (tests marked slow boot them). The first
# build takes 15-20 minutes on a 2-core host; later runs reuse it while the recipe is unchanged.
atelier images build dev-base
atelier images build dev-cloud
