"""The manual pages (doc/*.scd): they document every configuration key the
parser knows, every tendctl verb and option and every tendd option, and
nothing the code does not know; they render without warnings; meson installs
them.

What the code knows is asked of the code: `tendd --list-keys` prints the key
tables ("SECTION KEY [DEFAULT]"), `tendctl --help` and `tendd --help` list the
verbs and options. What the pages document is read from their scdoc source as
definition-list entries (a term line at the start of a line, its description
indented by a tab below it), never from a word that merely occurs in prose.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, REPO, TENDCTL, TENDD

DOC = REPO / "doc"
PAGES = {"tendd.8": "8", "tendctl.1": "1", "tend.ini.5": "5", "tend-notify.7": "7"}
BOLD_RE = re.compile(r"\*([^*\s][^*]*)\*")


def source(page):
    p = DOC / f"{page}.scd"
    assert p.exists(), f"{p} is missing"
    return p.read_text()


def entries(text):
    """The definition-list entries of an scdoc page, as dicts: heading (the
    '# ' section they are in), term (the term line), terms (its bold words
    before any '='), body (the indented text below), children (entries
    nested one tab deeper in the body)."""
    lines = text.split("\n")
    out = []
    heading = ""

    def parse(body_lines, depth, heading):
        """Terms at exactly depth tabs whose next line is one tab deeper."""
        found = []
        for k, line in enumerate(body_lines):
            if not line.startswith("\t" * depth) or line.startswith("\t" * (depth + 1)):
                continue
            term = line[depth:]
            if not term or term.startswith("#") or k + 1 >= len(body_lines):
                continue
            if not body_lines[k + 1].startswith("\t" * (depth + 1)):
                continue
            body, _ = block_of(body_lines, k + 1, depth + 1)
            found.append({
                "heading": heading,
                "term": term,
                "terms": BOLD_RE.findall(term.split(" = ")[0]),
                "body": "\n".join(body),
                "children": parse(body, depth + 1, heading),
            })
        return found

    def block_of(ls, start, depth):
        j = start
        while j < len(ls) and (ls[j] == "" or ls[j].startswith("\t" * depth)):
            j += 1
        while j > start and ls[j - 1] == "":
            j -= 1
        return ls[start:j], j

    # Top level: split by headings, then parse each part at depth 0.
    part = []
    for line in lines + ["# END"]:
        if line.startswith("# "):
            out += parse(part, 0, heading)
            heading, part = line[2:].strip(), []
        else:
            part.append(line)
    return out


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=30,
                          **kw)


def code_keys():
    """{(section, key): default or None} from the parser's own tables."""
    r = run(TENDD, "--list-keys")
    assert r.returncode == 0, r.stderr
    keys = {}
    for line in r.stdout.splitlines():
        f = line.split(" ", 2)
        keys[(f[0], f[1])] = f[2] if len(f) > 2 else None
    assert ("service", "exec") in keys and ("tend", "services") in keys, r.stdout
    return keys


def help_options(text):
    """Options listed in an "Options:" style block of --help: every -x and
    --long at the start of an indented line."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"\s+(-\S.*?)(\s{2,}|$)", line)
        if m:
            opts |= set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", m.group(1)))
    return opts


def tendctl_verbs():
    """{verb: set of its options} from tendctl --help's Commands: block."""
    r = run(TENDCTL, "--help")
    assert r.returncode == 0, r.stderr
    verbs = {}
    in_commands = False
    for line in r.stdout.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            in_commands = line == "Commands:"
            continue
        if not in_commands or not re.match(r"  [a-z]", line):
            continue
        words = []
        for w in line.split():
            if re.match(r"[A-Z][a-z]", w):  # the help text begins
                break
            words.append(w)
        verbs[words[0]] = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", " ".join(words[1:])))
    assert {"status", "start", "stop", "kill"} <= verbs.keys(), r.stdout
    return verbs


def tendctl_global_options():
    r = run(TENDCTL, "--help")
    block = r.stdout.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    return help_options(block)


def test_pages_exist_and_are_built():
    for page, section in PAGES.items():
        text = source(page)
        name = page.rsplit(".", 1)[0]
        first = text.split("\n", 1)[0]
        assert re.fullmatch(rf'{re.escape(name)}\({section}\) "tend @VERSION@"', first), first
        built = BUILD / "doc" / page
        assert built.exists(), f"{built} is missing: is scdoc installed (-Dman=auto)?"
        roff = built.read_text()
        version = run(TENDD, "--version").stdout.split()[-1]
        assert f'"tend {version}"' in roff, roff[:300]


def test_every_key_is_documented():
    keys = code_keys()
    documented = {}
    for e in entries(source("tend.ini.5")):
        section = ("tend" if "[tend]" in e["heading"] else
                   "service" if "[service]" in e["heading"] else None)
        if section is None:
            continue
        for t in e["terms"]:
            assert (section, t) not in documented, f"[{section}] {t} documented twice"
            documented[(section, t)] = e
    missing = sorted(f"[{s}] {k}" for s, k in keys.keys() - documented.keys())
    unknown = sorted(f"[{s}] {k}" for s, k in documented.keys() - keys.keys())
    assert not missing, f"keys the parser knows but tend.ini(5) does not document: {missing}"
    assert not unknown, f"keys tend.ini(5) documents but the parser does not know: {unknown}"
    for (s, k), default in keys.items():
        body = documented[(s, k)]["body"]
        assert "Default:" in body, f"[{s}] {k}: no 'Default:' in its entry"
        if default is not None:
            assert f"Default: *{default}*" in body, \
                f"[{s}] {k}: the code's default is {default!r}; the entry says {body!r}"


def test_every_tendctl_verb_and_option_is_documented():
    verbs = tendctl_verbs()
    es = entries(source("tendctl.1"))
    commands = {e["terms"][0]: e for e in es if e["heading"] == "COMMANDS" and e["terms"]}
    missing = sorted(verbs.keys() - commands.keys())
    unknown = sorted(commands.keys() - verbs.keys())
    assert not missing, f"verbs tendctl knows but tendctl(1) does not document: {missing}"
    assert not unknown, f"verbs tendctl(1) documents but tendctl does not know: {unknown}"
    for verb, opts in verbs.items():
        documented = {t for c in commands[verb]["children"] for t in c["terms"]}
        assert opts <= documented, \
            f"tendctl {verb}: options {sorted(opts - documented)} not documented"

    globals_documented = {t for e in es if e["heading"] == "OPTIONS" for t in e["terms"]}
    known = tendctl_global_options()
    assert known <= globals_documented, \
        f"global options not in tendctl(1): {sorted(known - globals_documented)}"
    assert globals_documented <= known, \
        f"tendctl(1) documents global options tendctl does not list: " \
        f"{sorted(globals_documented - known)}"


def test_documented_tendctl_options_are_accepted(tmp_path):
    """Each option a verb's entry documents (short and long forms alike) is
    one tendctl takes: with no daemon at the socket it gets as far as
    connecting (exit 4), not a usage error (2)."""
    sock = tmp_path / "none.sock"
    es = entries(source("tendctl.1"))
    values = {"-s": "TERM", "--signal": "HUP", "-n": "5", "--lines": "5"}
    tried = 0
    for e in es:
        if e["heading"] != "COMMANDS":
            continue
        verb = e["terms"][0]
        for c in e["children"]:
            for opt in c["terms"]:
                if not opt.startswith("-") or opt in ("-h", "--help"):
                    continue
                args = [opt] + ([values[opt]] if opt in values else [])
                # With a service name, or without for verbs that take none.
                r = run(TENDCTL, "-s", sock, verb, *args, "x")
                if r.returncode == 2:
                    r = run(TENDCTL, "-s", sock, verb, *args)
                assert r.returncode == 4, (verb, args, r.returncode, r.stderr)
                tried += 1
    assert tried >= 8


def test_every_tendd_option_is_documented():
    r = run(TENDD, "--help")
    assert r.returncode == 0, r.stderr
    known = help_options(r.stdout)
    documented = {t for e in entries(source("tendd.8")) if e["heading"] == "OPTIONS"
                  for t in e["terms"] if t.startswith("-")}
    assert known <= documented, f"tendd options not in tendd(8): {sorted(known - documented)}"
    # --list-keys is for developers, not in --help; the key test above runs it.
    unknown = documented - known - {"--list-keys"}
    assert not unknown, f"tendd(8) documents options tendd does not have: {sorted(unknown)}"


def test_pages_render_without_warnings():
    if not shutil.which("man"):
        pytest.fail("man (man-db) is missing")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    for page in PAGES:
        built = BUILD / "doc" / page
        r = run("man", "--warnings", "-l", built, env=env)
        assert r.returncode == 0 and r.stdout.strip(), (page, r.returncode, r.stderr)
        assert r.stderr == "", f"{page}: warnings from man --warnings -l:\n{r.stderr}"
        # groff itself, every warning on: catches what man's defaults let by.
        g = run("groff", "-man", "-ww", "-z", "-rLL=80n", built)
        assert g.returncode == 0 and g.stderr == "", f"{page}: groff -ww:\n{g.stderr}"


def test_render_check_fails_on_a_broken_page(tmp_path):
    """The check above can fail: a page with a bad request warns."""
    bad = tmp_path / "bad.1"
    bad.write_text('.TH "bad" "1"\n.SH NAME\nbad\n.BOGUS\n.ft Q\nword\n')
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = run("man", "--warnings", "-l", bad, env=env)
    g = run("groff", "-man", "-ww", "-z", bad)
    assert r.stderr and g.stderr, (r.stderr, g.stderr)


def test_meson_install_puts_the_pages_in_mandir(tmp_path):
    dest = tmp_path / "dest"
    r = run("meson", "install", "-C", BUILD, "--no-rebuild", "--tags", "man", "--destdir", dest)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = {p.relative_to(dest) for p in dest.rglob("*") if p.is_file()}
    for page, section in PAGES.items():
        hits = [p for p in installed
                if p.name == page and p.parent.name == f"man{section}"
                and p.parent.parent.name == "man" and p.parent.parent.parent.name == "share"]
        assert hits, f"{page} not installed under share/man/man{section}/: {sorted(installed)}"
    # Only the pages carry the man tag.
    assert all(p.parent.parent.name == "man" for p in installed), sorted(installed)


def test_readme_links_the_pages():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Manual pages", 1)
    assert len(section) == 2, "README.md has no '## Manual pages' section"
    for page, s in PAGES.items():
        name = page.rsplit(".", 1)[0]
        assert f"{name}({s})" in section[1].split("\n## ", 1)[0], name
