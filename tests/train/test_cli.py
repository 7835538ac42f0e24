from __future__ import annotations

import argparse

import pytest

from mlcalc.train.cli import add_train_parser, run_train


def test_train_subcommand_parses_into_run_train():
    parser = argparse.ArgumentParser(prog="mlcalc")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "config.yaml", "--resume", "--threads", "1"])
    assert args.run is run_train and args.config == "config.yaml" and args.resume and args.threads == 1


def test_missing_config_file_is_a_clear_error(tmp_path):
    args = argparse.Namespace(config=str(tmp_path / "absent.yaml"), resume=False, overwrite=False, threads=None)
    with pytest.raises(FileNotFoundError):
        run_train(args)
