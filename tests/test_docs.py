"""The documentation stays inside the repository and stays short where a newcomer starts."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _markdown_files():
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    return [ROOT / p for p in listed] or sorted(p for p in ROOT.rglob("*.md") if ".venv" not in p.parts)


def test_every_relative_link_in_the_docs_points_to_a_file_of_the_repository():
    files = _markdown_files()
    assert files
    for md in files:
        for target in LINK.findall(md.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            path = (md.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(ROOT), f"{md.relative_to(ROOT)} links outside the repository: {target}"
            assert path.exists(), f"{md.relative_to(ROOT)} links to a missing file: {target}"


def test_the_pages_a_newcomer_reads_first_stay_short():
    assert len((ROOT / "README.md").read_bytes()) <= 8 * 1024
    assert len((ROOT / "src/dsdn/default_model/MODEL_CARD.md").read_bytes()) <= 10 * 1024
