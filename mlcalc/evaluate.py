"""Energies, forces and stress of a batch: the one place where autograd is taken.

For ``B`` structures with energies ``E_b = sum_{i in b} E_i``:

- forces ``F_i = -dE/dr_i`` (eV/A);
- stress ``sigma_b = (1/V_b) dE_b/d(epsilon_b)`` (eV/A^3), the derivative with respect to
  a symmetric homogeneous strain ``epsilon`` applied to positions and cell at zero
  strain. That is ASE's sign: positive when the energy rises on stretching, exactly what
  ``ase.calculators.fd.calculate_numerical_stress`` measures.

The calculator and the trainer both call :func:`evaluate`; training passes
``create_graph=True`` so that force and stress losses can be differentiated again.

A model with ``shares_descriptors`` (a committee of members reading one weight-free
descriptor ``G``, :mod:`mlcalc.uncertainty.committee`) is differentiated in two stages by
the chain rule ``dE_k/dr = (dE_k/dG) (dG/dr)``: the cotangents ``dE_k/dG`` of all ``K``
members through their networks, then the descriptor's vector-Jacobian products: all ``K`` at
once by the model's ``descriptor_vjp(graph, cotangents)`` where it has one (``[K, E, 3]``, the
derivatives along the edge vectors, which autograd carries on to positions and strain), else
one per member through the descriptor's graph, built once and kept (``retain_graph``). Where
each member reads its own row of the descriptor (``descriptors_per_member``: stacked Allegro
members, each with its own copy of the edge vectors) one backward pass gives all ``dE_k/dG``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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
    each member's forces and stress come from one batched (``vmap``-ed) backward pass, or,
    for a model that ``shares_descriptors``, from the two stages of the module docstring.
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
        staged = getattr(model, "shares_descriptors", False) and (forces or stress) and not create_graph
        if staged:
            vjp = getattr(model, "descriptor_vjp", None)
            with torch.set_grad_enabled(vjp is None):  # with a vjp of its own the descriptor needs no graph
                descriptors = model.descriptors(graph)
            leaf = descriptors.detach().requires_grad_(True)
            output = model.from_descriptors(leaf, graph)
        else:
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
            if staged:
                separate = getattr(model, "descriptors_per_member", False)
                gradients = _through_descriptors(total, rows, leaf, descriptors, inputs, graph, vjp, separate)
            else:
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


def _through_descriptors(
    total: torch.Tensor,
    rows: torch.Tensor | None,
    leaf: torch.Tensor,
    descriptors: torch.Tensor,
    inputs: list[torch.Tensor],
    graph: Graph,
    vjp: Callable[[Graph, torch.Tensor], torch.Tensor] | None,
    separate: bool,
) -> list[torch.Tensor | None]:
    """Gradients of ``total`` (``[K]`` with ``rows`` the identity, else a scalar) with respect to
    ``inputs``, by way of the descriptors: ``dE_k/dG`` at ``leaf`` (a detached copy of
    ``descriptors`` that the networks read), then the ``K`` vector-Jacobian products, by ``vjp``
    onto the edge vectors and autograd from there, or through ``descriptors``' graph one by one
    (``[K, ...]`` results; one, unstacked, without ``rows``)."""
    batched = rows is not None
    if vjp is not None:
        cotangents = _network_cotangents(total, leaf, separate)
        per_edge = vjp(graph, cotangents if batched else cotangents[None])
        return list(
            torch.autograd.grad(
                graph.vectors, inputs, per_edge if batched else per_edge[0], allow_unused=True, is_grads_batched=batched
            )
        )
    if not descriptors.requires_grad:  # no pair in range: the descriptors are constants
        return [None] * len(inputs)
    cotangents = _network_cotangents(total, leaf, separate)
    if not batched:
        return list(torch.autograd.grad(descriptors, inputs, cotangents, allow_unused=True))
    last = len(cotangents) - 1
    per_member = [
        torch.autograd.grad(descriptors, inputs, c, retain_graph=k < last, allow_unused=True)
        for k, c in enumerate(cotangents)
    ]
    return [None if parts[0] is None else torch.stack(parts) for parts in zip(*per_member, strict=True)]


def _network_cotangents(total: torch.Tensor, leaf: torch.Tensor, separate: bool) -> torch.Tensor:
    """``d total / d leaf``, for a ``[K]`` total one row per member (``[K, ...]``): one backward pass per
    member through its own networks, retained between them (on a CPU, from about a thousand atoms,
    cheaper than one ``vmap``-batched pass over the members); one pass for all if each member reads
    its own row of ``leaf`` (``separate``)."""
    if total.dim() == 0 or separate:
        return torch.autograd.grad(total.sum(), leaf)[0]
    last = len(total) - 1
    return torch.stack([torch.autograd.grad(e, leaf, retain_graph=k < last)[0] for k, e in enumerate(total)])


def _precomputed(model: Model, graph: Graph, *, forces: bool, stress: bool) -> dict[str, torch.Tensor]:
    """For models that return their own ``forces`` and ``stress`` (compiled peer models, e.g.
    :class:`mlcalc.io.nequip.NequIPCompiledModel`); they cannot be differentiated again."""
    output = dict(model(graph))
    if not forces:
        output.pop("forces", None)
    if not stress:
        output.pop("stress", None)
    return {**output, "energy": graph.per_structure(output["energies"])}
