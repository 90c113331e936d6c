"""The host names the network drivers add to `names`: port chains and dial sockets."""

from __future__ import annotations

import pytest

from atelier.runtime.host import names


def test_port_chain_round_trip() -> None:
    assert names.port_chain("abcdefgh") == "atl-port-abcdefgh"
    assert names.parse_port_chain("atl-port-abcdefgh") == "abcdefgh"
    assert names.parse_port_chain("atl-abcdefgh") is None
    assert len(names.port_chain("abcdefgh")) <= 28  # iptables' chain-name limit


def test_dial_socket_round_trip() -> None:
    assert names.dial_socket("abcdefgh", 22) == "atl-dial-abcdefgh-22.sock"
    assert names.parse_dial_socket("atl-dial-abcdefgh-22.sock") == ("abcdefgh", 22)
    assert names.parse_dial_socket("atl-dial-abcdefgh-99999.sock") is None
    assert names.parse_dial_socket("atl-dial-abcdefgh-022.sock") is None
    with pytest.raises(ValueError):
        names.dial_socket("abcdefgh", 0)
    with pytest.raises(ValueError):
        names.port_chain("NOTANID!")


def test_tap_names_fit_the_kernel_limit_and_do_not_collide() -> None:
    ids = {names.new_id() for _ in range(500)}
    taps = {names.tap_name(i) for i in ids}
    assert len(taps) == len(ids) and all(len(t) <= names.IFNAMSIZ for t in taps)
