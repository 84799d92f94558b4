"""`papers bench startup`: its arguments are checked before anything runs (the benchmark itself is
run by hand and its numbers go in CONTRIBUTING.md; speed is never a timed test)."""

import pytest
from papers_cli.startup import run_startup


@pytest.mark.parametrize("args, named", [(["--steps", "1"], "--steps"), (["99"], "99")])
def test_bad_arguments_are_one_line_errors(capsys, args, named):
    with pytest.raises(SystemExit) as info:
        run_startup(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and named in err[-1], err
