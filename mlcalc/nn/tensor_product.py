"""Channel-wise Clebsch-Gordan tensor product of O(3) irreducible representations.

An irrep is ``(l, p)``: angular momentum ``l`` and parity ``p = +1`` (even) or ``-1`` (odd);
it has ``2l + 1`` components. A feature ``[..., C, dim]`` holds ``C`` channels, each the
concatenation of a list of irreps. The product of ``a`` (irreps ``I_1``) and ``b`` (irreps
``I_2``), taken channel by channel, is, for every allowed path
``(l_1, p_1) x (l_2, p_2) -> (l_o, p_1 p_2)`` with ``|l_1 - l_2| <= l_o <= l_1 + l_2``::

    c^{path}_{n, m_o} = sqrt(2 l_o + 1) sum_{m_1, m_2} C^{l_1 l_2 l_o}_{m_1 m_2 m_o} a_{n, l_1 m_1} b_{n, l_2 m_2}

with ``C`` the real Wigner 3j symbols of e3nn (whose spherical-harmonic basis the inputs
must use). All paths are fused into one matrix over the component pairs ``(i, j)`` that
couple at all (``C`` is sparse: 10 of the 16 pairs of ``l <= 1`` inputs, ``i = j`` only for
the scalar outputs of two equal irreps lists), so the whole product is two gathers, one
elementwise product ``a_i b_j`` and one matrix multiplication; the gathers are skipped when
the pairs are ``(i, i)`` for every ``i``. Outputs are grouped by output irrep in the order of
``allowed``, paths of the same output irrep side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

Irrep = tuple[int, int]


def irreps_dim(irreps: Sequence[Irrep]) -> int:
    return sum(2 * ell + 1 for ell, _ in irreps)


def couples(irrep_1: Irrep, irrep_2: Irrep, irrep_out: Irrep) -> bool:
    """Whether ``irrep_1 x irrep_2`` contains ``irrep_out`` (triangle rule and parity)."""
    (l_1, p_1), (l_2, p_2), (l_out, p_out) = irrep_1, irrep_2, irrep_out
    return p_1 * p_2 == p_out and abs(l_1 - l_2) <= l_out <= l_1 + l_2


def spherical_harmonic_irreps(l_max: int) -> list[Irrep]:
    """``Y_l`` for ``l = 0..l_max``: irreps ``(l, (-1)^l)``."""
    return [(ell, (-1) ** ell) for ell in range(l_max + 1)]


class ChannelwiseTensorProduct(torch.nn.Module):
    """Args:
    irreps_1, irreps_2: irreps of the two inputs (each irrep once per channel).
    allowed: output irreps to keep, in output order; paths to any other are dropped.
    """

    def __init__(self, irreps_1: Sequence[Irrep], irreps_2: Sequence[Irrep], allowed: Sequence[Irrep]) -> None:
        super().__init__()
        self.irreps_1, self.irreps_2 = list(irreps_1), list(irreps_2)
        offsets_1, offsets_2 = _offsets(self.irreps_1), _offsets(self.irreps_2)
        dim_1, dim_2 = irreps_dim(self.irreps_1), irreps_dim(self.irreps_2)
        from e3nn import o3  # here, not at import: e3nn loads torch._dynamo (seconds)

        blocks, self.output = [], []  # output: (irrep, number of paths) per output irrep
        for l_out, p_out in allowed:
            paths = [
                (l_1, l_2, offsets_1[k_1], offsets_2[k_2])
                for k_1, (l_1, p_1) in enumerate(self.irreps_1)
                for k_2, (l_2, p_2) in enumerate(self.irreps_2)
                if couples((l_1, p_1), (l_2, p_2), (l_out, p_out))
            ]
            if not paths:
                continue
            self.output.append(((l_out, p_out), len(paths)))
            for l_1, l_2, start_1, start_2 in paths:
                block = torch.zeros(dim_1, dim_2, 2 * l_out + 1, dtype=torch.float64)
                cg = o3.wigner_3j(l_1, l_2, l_out, dtype=torch.float64) * math.sqrt(2 * l_out + 1)
                block[start_1 : start_1 + 2 * l_1 + 1, start_2 : start_2 + 2 * l_2 + 1] = cg
                blocks.append(block.reshape(dim_1 * dim_2, -1))
        if not blocks:
            raise ValueError(f"no allowed path from {self.irreps_1} x {self.irreps_2} into {list(allowed)}")
        # kept in float64 outside the module's buffers, so that casting the model to float32
        # and back never rounds the coefficients; one copy per (device, dtype) is cached
        square = torch.cat(blocks, dim=1).reshape(dim_1, dim_2, -1)
        pairs = square.abs().sum(-1).nonzero()  # the (i, j) that couple, row-major
        self.coupling_float64 = square[pairs[:, 0], pairs[:, 1]]  # [pairs, dim_out]
        self.select_1_float64, self.select_2_float64 = selection(pairs[:, 0], dim_1), selection(pairs[:, 1], dim_2)
        #: only "diagonal" pairs a_i b_i couple, each i once: no gathers needed
        self.diagonal = dim_1 == dim_2 == len(pairs) and bool((pairs[:, 0] == pairs[:, 1]).all())
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @property
    def output_irreps(self) -> list[Irrep]:
        """The output irreps that have at least one path, in output order."""
        return [irrep for irrep, _ in self.output]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a [..., C, dim_1]``, ``b [..., C, dim_2]`` -> ``[..., C, dim_out]``."""
        select_1, select_2, coupling = self.matrices(a.device, a.dtype)
        return pair_product(a, b, select_1, select_2, coupling, not self.diagonal)

    def matrices(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The one-hot selections ``[dim_1, pairs]``, ``[dim_2, pairs]`` of the components ``(i, j)`` that
        couple and the fused Clebsch-Gordan matrix ``[pairs, dim_out]`` over them."""
        key = (device, dtype)
        if key not in self._cache:
            matrices = (self.select_1_float64, self.select_2_float64, self.coupling_float64)
            self._cache[key] = tuple(m.to(device=device, dtype=dtype) for m in matrices)
        return self._cache[key]

    def split(self, product: torch.Tensor) -> list[torch.Tensor]:
        """Cut ``[..., C, dim_out]`` into one ``[..., C, n_paths, 2l + 1]`` per output irrep."""
        sizes = [n_paths * (2 * ell + 1) for (ell, _), n_paths in self.output]
        parts = torch.split(product, sizes, dim=-1)
        return [
            part.unflatten(-1, (n_paths, 2 * ell + 1))
            for part, ((ell, _), n_paths) in zip(parts, self.output, strict=True)
        ]


def pair_product(
    a: torch.Tensor,
    b: torch.Tensor,
    select_1: torch.Tensor,
    select_2: torch.Tensor,
    coupling: torch.Tensor,
    gather: bool,
) -> torch.Tensor:
    """``sum_p a_{index_1[p]} b_{index_2[p]} coupling[p]`` over the last dimension (TorchScript-compatible).

    The gathers are products with the one-hot ``select = selection(index, dim)``: exact, and on a
    CPU several times faster than ``index_select`` along so short a last axis, whose backward is a
    scatter (``bench/results/allegro.md``)."""
    if gather:
        a, b = a @ select_1, b @ select_2
    return (a * b) @ coupling


def selection(index: torch.Tensor, dim: int) -> torch.Tensor:
    """One-hot ``[dim, len(index)]`` (float64): ``x @ selection(index, dim) == x[..., index]``."""
    return torch.nn.functional.one_hot(index, dim).T.to(torch.float64).contiguous()


def _offsets(irreps: Sequence[Irrep]) -> list[int]:
    offsets, start = [], 0
    for ell, _ in irreps:
        offsets.append(start)
        start += 2 * ell + 1
    return offsets
