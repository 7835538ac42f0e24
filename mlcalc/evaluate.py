"""Energies, forces and stress of a batch: the one place where autograd is taken.

For ``B`` structures with energies ``E_b = sum_{i in b} E_i``:

- forces ``F_i = -dE/dr_i`` (eV/A);
- stress ``sigma_b = (1/V_b) dE_b/d(epsilon_b)`` (eV/A^3), the derivative with respect to
  a symmetric homogeneous strain ``epsilon`` applied to positions and cell at zero
  strain. That is ASE's sign: positive when the energy rises on stretching, exactly what
  ``ase.calculators.fd.calculate_numerical_stress`` measures.

The calculator and the trainer both call :func:`evaluate`; training passes
``create_graph=True`` so that force and stress losses can be differentiated again.
"""

from __future__ import annotations

import dataclasses

import torch

from mlcalc.graph import Graph
from mlcalc.models.base import Model


def evaluate(
    model: Model,
    graph: Graph,
    *,
    forces: bool = True,
    stress: bool = True,
    create_graph: bool = False,
) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``graph`` and differentiate.

    Returns a dict with ``energies`` [N], ``energy`` [B], and as asked ``forces`` [N, 3]
    and ``stress`` [B, 3, 3] (full tensor; zero-volume cells give NaN there, so ask for
    stress only for periodic structures). Extra model outputs are passed through.

    A committee (:mod:`mlcalc.uncertainty.committee`) returns energies ``[K, N]``, one row
    per member (mapped with ``vmap``); then every result gains that leading ``K`` axis and
    each member's forces and stress come from one batched (``vmap``-ed) backward pass.
    """
    if model.computes_derivatives:
        return _precomputed(model, graph, forces=forces, stress=stress)
    positions = graph.positions
    if forces:
        positions = positions.detach().requires_grad_(True)
    strain = None
    graph = dataclasses.replace(graph, positions=positions, vectors=None)
    if stress:
        strain = torch.zeros_like(graph.cell).requires_grad_(True)
        graph = graph.strained(strain)

    with torch.set_grad_enabled(forces or stress or torch.is_grad_enabled()):
        graph = graph.with_geometry()  # the edge vectors, once, for every consumer in the model
        output = model(graph)
        if not isinstance(output, dict):
            output = {"energies": output}
        energies = output["energies"]
        members = energies.dim() == 2
        energy = graph.per_structure(energies.T).T if members else graph.per_structure(energies)
        results = {**output, "energies": energies, "energy": energy}
        inputs = [tensor for tensor in (positions if forces else None, strain) if tensor is not None]
        if inputs:
            total = energy.sum(dim=-1)
            rows = torch.eye(len(total), dtype=total.dtype, device=total.device) if members else None
            gradients = torch.autograd.grad(
                total, inputs, rows, create_graph=create_graph, allow_unused=True, is_grads_batched=members
            )
            gradients = [
                g if g is not None else x.new_zeros((*total.shape, *x.shape))
                for g, x in zip(gradients, inputs, strict=True)
            ]
            if forces:
                results["forces"] = -gradients[0]
            if stress:
                results["stress"] = gradients[-1] / graph.volumes()[:, None, None]
    return results


def _precomputed(model: Model, graph: Graph, *, forces: bool, stress: bool) -> dict[str, torch.Tensor]:
    """For models that return their own ``forces`` and ``stress`` (compiled peer models, e.g.
    :class:`mlcalc.io.nequip.NequIPCompiledModel`); they cannot be differentiated again."""
    output = dict(model(graph))
    if not forces:
        output.pop("forces", None)
    if not stress:
        output.pop("stress", None)
    return {**output, "energy": graph.per_structure(output["energies"])}
