"""Juniper, the support assistant of Bramble & Leaf (an invented tea shop): the example agent of
pytest-flywheel. The entrypoint is :func:`support_agent.agent.answer`."""

from __future__ import annotations
