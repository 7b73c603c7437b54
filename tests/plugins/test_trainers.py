"""`linksim train <type>` runs the trainer a codec declares: built-in or plugin, one mechanism."""

from __future__ import annotations

import pytest

from linksim.cli import main
from linksim.codecs import CODECS


@pytest.mark.parametrize("codec, prog", [("hsc", "linksim train hsc"), ("bridge", "linksim train bridge"),
                                         ("tiny-ae", "python -m linksim_example_codec.train")])
def test_train_dispatches_to_the_codecs_trainer(codec, prog, capsys):
    assert codec in CODECS, "the example plugin is not installed: pip install -e examples/plugin_codec"
    with pytest.raises(SystemExit) as e:
        main(["train", codec, "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {prog}")


def test_a_codec_without_trainer_or_an_unknown_one_is_one_line(capsys):
    assert main(["train", "raw"]) == 2
    assert capsys.readouterr().err.strip() == "codec: 'raw' has nothing to train (its class declares no trainer)"
    assert main(["train", "telepathy"]) == 2
    assert capsys.readouterr().err.startswith("codec: unknown codec type 'telepathy' (known: ")
