"""W&B mode resolution: online only with credentials and a reachable server; WANDB_MODE wins."""

from __future__ import annotations

import pytest

from depthlab.utils import wandb as wb
from depthlab.utils.errors import DepthlabError


@pytest.mark.parametrize(
    ("creds", "net", "expected"), [(True, True, "online"), (True, False, "offline"), (False, True, "offline")]
)
def test_auto_mode(monkeypatch, creds, net, expected):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wb, "has_credentials", lambda: creds)
    monkeypatch.setattr(wb, "server_reachable", lambda *a, **k: net)
    assert wb.resolve_mode("auto") == expected


def test_env_and_explicit_modes(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wb.resolve_mode("online") == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    assert wb.resolve_mode("offline") == "offline"
    with pytest.raises(DepthlabError, match="logger.wandb.mode='cloud' is unknown"):
        wb.resolve_mode("cloud")


def test_credentials_from_env_or_netrc(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not wb.has_credentials()
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert wb.has_credentials()
    monkeypatch.setenv("HOME", str(tmp_path / "none"))
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wb.has_credentials()


def test_unreachable_host_answers_quickly():
    from depthlab.utils.net import reachable

    assert reachable("127.0.0.1.invalid", timeout=0.5) is False
