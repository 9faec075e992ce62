"""The sandbox's QR codes, checked against the standard's published values and structure.
(The encoder was also checked once against a real decoder; the project carries none.)"""

from __future__ import annotations

import pytest

from services.sandbox import qr


def test_reed_solomon_matches_the_standards_worked_example() -> None:
    data = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]  # "HELLO WORLD", 1-M
    assert qr.ec_codewords(data, 10) == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23]


@pytest.mark.parametrize(("mask", "bits"), [(0, "101010000010010"), (1, "101000100100101"), (5, "100000011001110"),
                                          (7, "100101010100000")])
def test_format_information_for_level_m(mask: int, bits: str) -> None:
    assert f"{qr.format_bits(mask):015b}" == bits


def test_version_information() -> None:
    assert f"{qr.version_bits(7):018b}" == "000111110010010100"
    assert f"{qr.version_bits(10):018b}" == "001010010011010011"


@pytest.mark.parametrize(("length", "version"), [(1, 1), (14, 1), (15, 2), (80, 5), (213, 10)])
def test_the_smallest_version_that_holds_the_payload(length: int, version: int) -> None:
    grid = qr.matrix("x" * length)
    assert len(grid) == 17 + 4 * version and all(len(row) == len(grid) for row in grid)


def test_too_long_a_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        qr.matrix("x" * 214)


def test_finder_timing_and_dark_module_are_in_place() -> None:
    grid = qr.matrix("http://127.0.0.1:8002/sandbox/alipay/qr/2026112422001123456789012345")
    size = len(grid)
    for top, left in ((0, 0), (0, size - 7), (size - 7, 0)):
        ring = [grid[top][left + i] for i in range(7)] + [grid[top + 6][left + i] for i in range(7)]
        assert all(ring) and grid[top + 3][left + 3] and not grid[top + 1][left + 1]
    assert [grid[6][c] for c in range(8, size - 8)] == [c % 2 == 0 for c in range(8, size - 8)]
    assert [grid[r][6] for r in range(8, size - 8)] == [r % 2 == 0 for r in range(8, size - 8)]
    assert grid[size - 8][8], "the dark module"


def test_the_svg_draws_every_dark_module_with_a_quiet_zone() -> None:
    payload = "weixin://wxpay/bizpayurl?pr=abc"
    grid, drawing = qr.matrix(payload), qr.svg(payload)
    assert drawing.startswith("<svg") and f'viewBox="0 0 {len(grid) + 8} {len(grid) + 8}"' in drawing
    assert drawing.count("h1v1h-1z") == sum(map(sum, grid))
