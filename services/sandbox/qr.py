"""A small QR code encoder for the sandbox wallets' pages, drawn as inline SVG.

Alipay and WeChat Pay show the customer a QR code to scan; the sandbox does too, without a
dependency for it. Only what the pages need (ISO/IEC 18004): byte mode, error correction
level M, versions 1 to 10 (up to 213 bytes), the mask with the lowest penalty. The payload
is also printed under the code, so the page works without scanning.
"""

from __future__ import annotations

from collections.abc import Callable

# Per version, level M: (EC codewords per block, [(blocks, data codewords per block), ...]).
BLOCKS_M: dict[int, tuple[int, list[tuple[int, int]]]] = {
    1: (10, [(1, 16)]), 2: (16, [(1, 28)]), 3: (26, [(1, 44)]), 4: (18, [(2, 32)]), 5: (24, [(2, 43)]),
    6: (16, [(4, 27)]), 7: (18, [(4, 31)]), 8: (22, [(2, 38), (2, 39)]), 9: (22, [(3, 36), (2, 37)]),
    10: (26, [(4, 43), (1, 44)]),
}
ALIGNMENT = {1: [], 2: [6, 18], 3: [6, 22], 4: [6, 26], 5: [6, 30], 6: [6, 34], 7: [6, 22, 38], 8: [6, 24, 42],
             9: [6, 26, 46], 10: [6, 28, 50]}
LEVEL_M = 0b00
MASKS: list[Callable[[int, int], bool]] = [
    lambda r, c: (r + c) % 2 == 0, lambda r, c: r % 2 == 0, lambda r, c: c % 3 == 0,
    lambda r, c: (r + c) % 3 == 0, lambda r, c: (r // 2 + c // 3) % 2 == 0,
    lambda r, c: (r * c) % 2 + (r * c) % 3 == 0, lambda r, c: ((r * c) % 2 + (r * c) % 3) % 2 == 0,
    lambda r, c: ((r + c) % 2 + (r * c) % 3) % 2 == 0,
]

# GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
EXP, LOG = [0] * 512, [0] * 256
_value = 1
for _i in range(255):
    EXP[_i], LOG[_value] = _value, _i
    _value = (_value << 1) ^ (0x11D if _value & 0x80 else 0)
for _i in range(255, 512):
    EXP[_i] = EXP[_i - 255]


def gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else EXP[LOG[a] + LOG[b]]


def ec_codewords(data: list[int], count: int) -> list[int]:
    """Reed-Solomon: the remainder of data(x) * x^count divided by the generator polynomial."""
    generator = [1]
    for i in range(count):
        generator = [a ^ gf_mul(b, EXP[i]) for a, b in zip([*generator, 0], [0, *generator], strict=True)]
    remainder = [*data, *([0] * count)]
    for i in range(len(data)):
        factor = remainder[i]
        if factor:
            for j, coefficient in enumerate(generator):
                remainder[i + j] ^= gf_mul(coefficient, factor)
    return remainder[len(data):]


def bch(value: int, generator: int, bits: int) -> int:
    remainder = value << bits
    for shift in range(remainder.bit_length() - generator.bit_length(), -1, -1):
        if remainder >> (shift + generator.bit_length() - 1) & 1:
            remainder ^= generator << shift
    return (value << bits) | remainder


def format_bits(mask: int) -> int:
    return bch(LEVEL_M << 3 | mask, 0b10100110111, 10) ^ 0b101010000010010


def version_bits(version: int) -> int:
    return bch(version, 0b1111100100101, 12)


def capacity(version: int) -> int:
    return sum(n * size for n, size in BLOCKS_M[version][1])


def count_bits(version: int) -> int:
    return 8 if version < 10 else 16


def fitting_version(length: int) -> int:
    for version in BLOCKS_M:
        if 4 + count_bits(version) + 8 * length <= 8 * capacity(version):
            return version
    raise ValueError(f"{length} bytes do not fit a version 10 QR code at level M")


def codewords(payload: bytes) -> tuple[int, list[int]]:
    """The smallest version that holds the payload, and its interleaved codewords."""
    version = fitting_version(len(payload))
    ec_count, groups = BLOCKS_M[version]
    bits = f"0100{len(payload):0{count_bits(version)}b}" + "".join(f"{b:08b}" for b in payload)
    total = capacity(version)
    bits += "0" * min(4, 8 * total - len(bits))
    bits += "0" * (-len(bits) % 8)
    data = [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]
    data += [(0xEC, 0x11)[i % 2] for i in range(total - len(data))]
    blocks, start = [], 0
    for n, size in groups:
        for _ in range(n):
            blocks.append(data[start:start + size])
            start += size
    ecs = [ec_codewords(block, ec_count) for block in blocks]
    out = [block[i] for i in range(max(map(len, blocks))) for block in blocks if i < len(block)]
    return version, out + [ec[i] for i in range(ec_count) for ec in ecs]


class Symbol:
    def __init__(self, version: int) -> None:
        self.version, self.size = version, 17 + 4 * version
        self.dark = [[False] * self.size for _ in range(self.size)]
        self.reserved = [[False] * self.size for _ in range(self.size)]

    def put(self, row: int, col: int, dark: bool) -> None:
        self.dark[row][col], self.reserved[row][col] = dark, True

    def draw_function_patterns(self) -> None:
        size = self.size
        for i in range(size):
            self.put(6, i, i % 2 == 0)
            self.put(i, 6, i % 2 == 0)
        for row, col in ((3, 3), (3, size - 4), (size - 4, 3)):
            for dr in range(-4, 5):
                for dc in range(-4, 5):
                    r, c = row + dr, col + dc
                    if 0 <= r < size and 0 <= c < size:
                        ring = max(abs(dr), abs(dc))
                        self.put(r, c, ring in (0, 1, 3))
        centres = ALIGNMENT[self.version]
        for row in centres:
            for col in centres:
                if (row, col) in ((6, 6), (6, centres[-1]), (centres[-1], 6)):
                    continue
                for dr in range(-2, 3):
                    for dc in range(-2, 3):
                        self.put(row + dr, col + dc, max(abs(dr), abs(dc)) != 1)
        self.draw_format(0)  # reserves the areas; drawn for real after masking
        if self.version >= 7:
            bits = version_bits(self.version)
            for i in range(18):
                dark, a, b = bool(bits >> i & 1), size - 11 + i % 3, i // 3
                self.put(b, a, dark)
                self.put(a, b, dark)

    def draw_format(self, mask: int) -> None:
        size, bits = self.size, format_bits(mask)

        def bit(i: int) -> bool:
            return bool(bits >> i & 1)

        for i in range(6):
            self.put(i, 8, bit(i))
        self.put(7, 8, bit(6))
        self.put(8, 8, bit(7))
        self.put(8, 7, bit(8))
        for i in range(9, 15):
            self.put(8, 14 - i, bit(i))
        for i in range(8):
            self.put(8, size - 1 - i, bit(i))
        for i in range(8, 15):
            self.put(size - 15 + i, 8, bit(i))
        self.put(size - 8, 8, True)

    def draw_data(self, data: list[int]) -> None:
        bits = [bool(byte >> (7 - k) & 1) for byte in data for k in range(8)]
        index, right = 0, self.size - 1
        while right >= 1:
            if right == 6:
                right = 5
            upward = (right + 1) & 2 == 0
            for vertical in range(self.size):
                row = self.size - 1 - vertical if upward else vertical
                for col in (right, right - 1):
                    if not self.reserved[row][col]:
                        self.dark[row][col] = index < len(bits) and bits[index]
                        index += 1
            right -= 2

    def masked(self, mask: int) -> list[list[bool]]:
        test = MASKS[mask]
        return [[dark != (not self.reserved[r][c] and test(r, c)) for c, dark in enumerate(row)]
                for r, row in enumerate(self.dark)]


def penalty(grid: list[list[bool]]) -> int:
    size, score = len(grid), 0
    lines = [*grid, *([grid[r][c] for r in range(size)] for c in range(size))]
    finder = ([True, False, True, True, True, False, True] + [False] * 4)
    for line in lines:
        run = 1
        for i in range(1, size + 1):
            if i < size and line[i] == line[i - 1]:
                run += 1
                continue
            score += 3 + run - 5 if run >= 5 else 0
            run = 1
        for i in range(size - 10):
            window = line[i:i + 11]
            if window in (finder, finder[::-1]):
                score += 40
    for r in range(size - 1):
        for c in range(size - 1):
            if grid[r][c] == grid[r][c + 1] == grid[r + 1][c] == grid[r + 1][c + 1]:
                score += 3
    dark = sum(map(sum, grid))
    return score + 10 * (abs(dark * 20 - size * size * 10) // (size * size))


def matrix(payload: str) -> list[list[bool]]:
    """The QR code of `payload` (UTF-8), as rows of modules (True: dark), no quiet zone."""
    version, data = codewords(payload.encode("utf-8"))
    symbol = Symbol(version)
    symbol.draw_function_patterns()
    symbol.draw_data(data)

    def score(mask: int) -> int:
        symbol.draw_format(mask)
        return penalty(symbol.masked(mask))

    best = min(range(8), key=score)
    symbol.draw_format(best)
    return symbol.masked(best)


def svg(payload: str, quiet: int = 4) -> str:
    grid = matrix(payload)
    side = len(grid) + 2 * quiet
    path = "".join(f"M{c + quiet},{r + quiet}h1v1h-1z" for r, row in enumerate(grid) for c, dark in enumerate(row)
                   if dark)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" shape-rendering="crispEdges" '
            f'role="img"><rect width="{side}" height="{side}" fill="#fff"/><path d="{path}" fill="#000"/></svg>')
