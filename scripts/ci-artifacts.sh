#!/usr/bin/env bash
# Builds (or reuses from the cache, keyed by their inputs) the guest kernels and images the
# tests boot. Cached under /var/cache/atelier; a warm cache makes this a few seconds.
set -euo pipefail
atelier images kernel build
atelier images kernel build --flavour cloud
atelier images build minimal
