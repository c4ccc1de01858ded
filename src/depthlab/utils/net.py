"""Network reachability, checked before anything that would otherwise stall or retry for long offline."""

from __future__ import annotations

import socket


def reachable(host: str, port: int = 443, timeout: float = 2.0) -> bool:
    """True when host:port accepts a TCP connection within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
