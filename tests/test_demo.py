import filecmp

import pytest

from mlcalc.demo import demo_calculator, run_demo


def test_shipped_model_is_the_mlearn_cu_nnp_with_its_licence(shared_dir):
    from importlib.resources import files

    shipped = files("mlcalc") / "data" / "cu_nnp"
    for name in ("input.nn", "scaling.data", "weights.029.data"):
        assert filecmp.cmp(str(shipped / name), shared_dir / "data/mlearn/Cu/nnp" / name, shallow=False)
    assert filecmp.cmp(str(shipped / "LICENSE"), shared_dir / "data/mlearn/LICENSE", shallow=False)


def test_demo_calculator_gives_the_published_lattice_energy():
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.637)
    atoms.calc = demo_calculator()
    assert atoms.get_potential_energy() == pytest.approx(-4.101, abs=2e-3)  # eV/atom at the NNP's a
    assert abs(atoms.get_stress()).max() < 1e-3  # eV/A^3: 3.637 A is (close to) its equilibrium


@pytest.mark.slow
def test_full_demo_reproduces_the_published_nnp_numbers(tmp_path):
    results = run_demo(md_steps=10, output=tmp_path, progress=False)
    assert results["lattice constant a (A)"] == pytest.approx(3.637, abs=0.002)
    assert results["C44 (GPa)"] == pytest.approx(76, rel=0.05)
    assert (tmp_path / "demo_eos.png").exists() and (tmp_path / "demo_neb.png").exists()
