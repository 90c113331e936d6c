# Atelier dev-base: per-user tool directories on PATH (npm --global, bun, uv tools, pip --user).
for dir in "$HOME/.npm-global/bin" "$HOME/.bun/bin" "$HOME/.local/bin"; do
    case ":$PATH:" in
        *":$dir:"*) ;;
        *) PATH="$dir:$PATH" ;;
    esac
done
export PATH
