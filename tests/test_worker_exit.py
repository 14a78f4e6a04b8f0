"""How a recipe process ends: normally alone, with os._exit (flushed) as one of several ranks."""

import os
import subprocess
import sys
import textwrap

import pytest

from custom_modules.training.worker_exit import exit_status, in_multiprocess_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def raise_(error):
    raise error


@pytest.mark.parametrize(
    "main, status",
    [
        (lambda argv: None, 0),
        (lambda argv: raise_(SystemExit()), 0),
        (lambda argv: raise_(SystemExit(0)), 0),
        (lambda argv: raise_(SystemExit(2)), 2),
        (lambda argv: raise_(SystemExit("error: no such file x.csv")), 1),
        (lambda argv: raise_(RuntimeError("boom")), 1),
        (lambda argv: raise_(KeyboardInterrupt()), 1),
    ],
)
def test_exit_status_is_the_one_python_gives(main, status):
    assert exit_status(main, ["a"]) == status


def test_exit_status_prints_the_message_and_the_traceback(capsys):
    exit_status(lambda argv: raise_(SystemExit("error: no such file x.csv")), [])
    assert capsys.readouterr().err == "error: no such file x.csv\n"
    exit_status(lambda argv: raise_(RuntimeError("boom")), [])
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.endswith("RuntimeError: boom\n")


@pytest.mark.parametrize("value, expected", [(None, False), ("1", False), ("2", True), ("x", False)])
def test_in_multiprocess_run_reads_world_size(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", value)
    assert in_multiprocess_run() is expected


SCRIPT = textwrap.dedent(
    """
    import atexit, logging, sys
    from custom_modules.training.worker_exit import run_recipe
    logging.basicConfig(stream=sys.stderr, format="%(message)s", level=logging.INFO)
    atexit.register(lambda: print("interpreter shutdown ran"))

    def main(argv):
        print("trained on", argv)  # block-buffered on a pipe: lost unless flushed
        logging.getLogger("recipe").info("logged")
        if argv[0] == "fail":
            raise SystemExit("error: bad value")

    run_recipe(main, sys.argv[1:])
    """
)


@pytest.mark.parametrize("world_size", ["1", "2"])
@pytest.mark.parametrize("outcome", ["ok", "fail"])
def test_a_rank_of_several_skips_interpreter_shutdown_yet_keeps_output_and_status(world_size, outcome):
    env = dict(os.environ, WORLD_SIZE=world_size, PYTHONPATH=ROOT)
    env.pop("PYTHONUNBUFFERED", None)  # stdout block-buffered, as on a pipe by default
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, outcome], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert run.stdout.startswith(f"trained on ['{outcome}']\n")
    assert "logged" in run.stderr
    assert run.returncode == (1 if outcome == "fail" else 0)
    assert ("error: bad value" in run.stderr) is (outcome == "fail")
    # alone the interpreter shuts down as usual; as one rank of several it is skipped
    assert ("interpreter shutdown ran" in run.stdout) is (world_size == "1")
