from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ci_test_command():
    lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    cmds = [l for l in lines if l.startswith("python3 -m pip install -e") and "pytest" in l]
    assert len(cmds) == 1
    return cmds[0]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert _ci_test_command() in readme.splitlines()


def test_readme_quick_start_runs_the_demo():
    readme = (ROOT / "README.md").read_text()
    assert "python3 -m pip install -e . && tweakgui --demo" in readme.splitlines()


def test_readme_images_and_links_exist():
    import re

    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#:]+)\)", readme)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert missing == []
