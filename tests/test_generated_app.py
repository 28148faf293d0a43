"""The app rendered with every default answer passes its own test suite."""

from __future__ import annotations

import pytest
from app_suite import run_own_test_suite
from conftest import Renderer


@pytest.mark.slow
def test_default_app_passes_its_own_tests(render: Renderer) -> None:
    run_own_test_suite(render.project())
