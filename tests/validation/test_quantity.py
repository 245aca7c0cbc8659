"""quantity: Kubernetes quantities as apimachinery v0.34.0 parses them and writes them back (MarshalJSON)."""

from __future__ import annotations

import pytest

from katib_gitops.spec.quantity import canonical_text, value_of


@pytest.mark.parametrize("text,written", [
    ("1024Mi", "1Gi"), ("0.5Gi", "512Mi"), ("1536Mi", "1536Mi"), ("8Gi", "8Gi"), ("1Ki", "1Ki"),
    ("0.5Ki", "512"),  # under 1024: written as a decimal
    ("1.5Ki", "1536"),
    ("500m", "500m"), ("1000m", "1"), ("2000", "2k"), ("1.5", "1500m"), ("0.5", "500m"), ("1.5G", "1500M"),
    ("0.1m", "100u"), ("0.5n", "1n"),  # rounded up to nano
    ("1e3", "1e3"), ("12e6", "12e6"), ("0", "0"), ("0Gi", "0"),
    ("0001Gi", "0001Gi"), ("1.", "1."),  # Go keeps a string its fast path finds canonical, verbatim
])
def test_written_back_as_go_does(text: str, written: str) -> None:
    assert canonical_text(text) == written


@pytest.mark.parametrize("text", ["64G1", "8 GiB", "test-value", "", "1.5.5", "1Gb"])
def test_not_a_quantity(text: str) -> None:
    assert canonical_text(text) is None


def test_value() -> None:
    assert value_of("1Gi") == 2 ** 30 and value_of("500m") * 2 == 1
