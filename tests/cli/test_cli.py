import json
import subprocess
import sys

from multianswer.cli import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_console_script_help_is_light():
    # `--help` must not import torch: it answers at once
    code = "import sys; from multianswer.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_score_one_completion(capsys):
    text = "<think>t</think><answer1>Paris</answer1><confidence1>0.6</confidence1><answer2>Lyon</answer2><confidence2>0.3</confidence2>"
    assert main(["score", "--k", "2", "--completion", text, "--answers", "paris"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["correct"] == [True, False] and row["rewards"]["format"] == 1.0
    # brier: 1 − ((0.6−1)² + 0.3²)/2 = 1 − 0.25/2
    assert abs(row["rewards"]["brier"] - (1 - 0.25 / 2)) < 1e-12
    assert abs(row["total"] - (0.5 + 0.5 + 0.5 * (1 - 0.125))) < 1e-12


def test_score_file_errors_name_the_line(tmp_path, capsys):
    f = tmp_path / "c.jsonl"
    f.write_text('{"completion": "x", "answers": ["a"]}\n{not json\n')
    assert main(["score", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}, line 2: not valid JSON" in err and "Traceback" not in err
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_unknown_verifier_in_user_data_is_one_line(tmp_path, capsys):
    f = tmp_path / "c.jsonl"
    f.write_text('{"completion": "<think>t</think><answer1>a</answer1><confidence1>0.5</confidence1>", "answers": ["a"], "verifier": "nope"}\n')
    assert main(["score", "--k", "1", str(f)]) == 2
    err = capsys.readouterr().err
    assert "unknown verifier 'nope'" in err and "Traceback" not in err
