import numpy as np
import pytest

from mlcalc.workflows import delta_gauge, elastic_constants, equation_of_state, fit_eos, plot_eos
from mlcalc.workflows.eos import EOSResult


def test_bulk_modulus_agrees_with_the_elastic_constants(emt_cell):
    eos = equation_of_state(emt_cell, span=0.02, points=9)
    elastic = elastic_constants(emt_cell)
    assert eos.v0 == pytest.approx(emt_cell.get_volume() / 4, rel=1e-5)
    assert eos.e0 == pytest.approx(emt_cell.get_potential_energy() / 4, abs=1e-6)
    assert eos.b0 == pytest.approx(elastic.bulk_vrh, rel=5e-3)
    assert 3 < eos.bprime < 7


def test_fit_recovers_a_known_birch_murnaghan_curve():
    truth = EOSResult(np.array([]), np.array([]), v0=12.0, e0=-3.5, b0=140.0, bprime=4.8)
    volumes = np.linspace(11.0, 13.0, 9)
    fitted = fit_eos(volumes, truth.energy(volumes))
    assert [fitted.v0, fitted.e0, fitted.b0, fitted.bprime] == pytest.approx([12.0, -3.5, 140.0, 4.8], rel=1e-6)


def test_delta_gauge_of_a_curve_with_itself_shifted_is_zero_and_matches_a_hand_integral():
    volumes = np.linspace(10.5, 13.5, 11)
    first = EOSResult(volumes, volumes, v0=12.0, e0=-3.5, b0=140.0, bprime=4.8)
    shifted = EOSResult(volumes, volumes, v0=12.0, e0=+1.0, b0=140.0, bprime=4.8)
    assert delta_gauge(first, shifted) == pytest.approx(0.0, abs=1e-9)
    softer = EOSResult(volumes, volumes, v0=12.0, e0=0.0, b0=120.0, bprime=4.8)
    # hand integral with a plain Riemann sum over the same window
    grid = np.linspace(0.94 * 12.0, 1.06 * 12.0, 200001)
    difference = (first.energy(grid) - first.e0) - (softer.energy(grid) - softer.e0)
    expected = 1e3 * np.sqrt(np.mean(difference**2))
    assert delta_gauge(first, softer) == pytest.approx(expected, rel=1e-4)
    assert delta_gauge(first, softer) == pytest.approx(delta_gauge(softer, first))
    assert 1 < expected < 20  # meV/atom: a 20 GPa softer curve is clearly distinguishable


def test_delta_gauge_against_reference_points(emt_cell, tmp_path):
    emt = equation_of_state(emt_cell, points=7)
    reference = fit_eos(emt.volumes, emt.energies + 0.3)  # the same E(V) points, another energy zero
    assert delta_gauge(emt, reference) < 1e-6
    plot_eos({"EMT": emt, "reference": reference}, str(tmp_path / "eos.png"))
    assert (tmp_path / "eos.png").stat().st_size > 1000


def test_too_few_or_badly_centred_points_are_refused():
    with pytest.raises(ValueError, match="at least 5"):
        fit_eos([1, 2, 3], [1, 2, 3])
    volumes = np.linspace(10, 11, 6)
    with pytest.raises(ValueError, match="outside"):
        fit_eos(volumes, -volumes)
