"""README's extension examples are run as written: its own training step, model, loss,
metric and data source. Each `# NAME.py` Python block of those sections is written to a
folder as that file, and each `tftrain ...` command of the sections' shell blocks trains
there (a debug=smoke run: seconds). An example that stops working fails here, not in the
hands of the user who copied it."""

from __future__ import annotations

import re
import shlex

import pytest

from conftest import REPO, in_process

SECTIONS = ("### Your own training step", "### Your own model, loss and metrics",
            "### Your own data source")


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = re.search(r"^#{2,3} ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + (end.start() if end else len(text))]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def examples() -> list[tuple[str, dict[str, str], list[str]]]:
    """(section, the files its Python blocks define, its commands), per section."""
    readme = (REPO / "README.md").read_text()
    found = []
    for heading in SECTIONS:
        text = section(readme, heading)
        files = {block.split("\n", 1)[0].removeprefix("# ").strip(): block
                 for block in blocks(text, "python") if re.match(r"# \w+\.py\n", block)}
        shell = "\n".join(blocks(text, "bash")).replace("\\\n", " ")
        # a one-line file given in a comment: `# mylosses.py: def scaled_mse(...): return ...`
        for name, body in re.findall(r"^# (\w+\.py): (.*)$", shell, re.M):
            files[name] = f"import keras\n\n{body}\n"
        commands = [line for line in shell.splitlines() if line.startswith("tftrain ")]
        found.append((heading.removeprefix("### "), files, commands))
    return found


@pytest.mark.parametrize("heading, files, commands", examples(), ids=[e[0] for e in examples()])
def test_readme_extension_examples_train_as_written(tmp_path, heading, files, commands):
    assert commands, f"README's '{heading}' shows no command"
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for number, line in enumerate(commands):
        args = shlex.split(line)[1:]
        result = in_process(*args, "debug=smoke", f"hydra.run.dir=run{number}", cwd=tmp_path)
        assert result.returncode == 0, f"{line}\n{result.output}"
        assert (tmp_path / f"run{number}" / "model.keras").is_file(), line
