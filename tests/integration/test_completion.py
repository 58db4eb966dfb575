"""Shell completion (shell-completion/): bash, zsh and fish, each driven for
real against a running tendd: bash through its programmable completion
(COMP_WORDS, COMP_CWORD, the function the script registered), fish through
`complete -C`, zsh through its completion system in an interactive shell on a
pty (compinit, the #compdef file, a real TAB) with compadd wrapped to record
what was offered.

Every verb and option that `tendctl --help` (and each `tendctl VERB --help`)
lists must be completed by each shell, so a verb added to tendctl without its
completion line fails here."""

import os
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, TENDCTL, wait_for

COMPLETION = REPO / "shell-completion"
SHELLS = ["bash", "zsh", "fish"]


def _help(*args):
    r = subprocess.run([str(TENDCTL), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"tendctl {' '.join(args)}: {r.returncode}\n{r.stderr}"
    return r.stdout


OPTION_RE = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def _option_words(text):
    """The options named in option-list lines ("  -s, --socket PATH  text":
    the part before the description) of a help text, up to a section about
    global options."""
    found = []
    for line in text.splitlines():
        if re.match(r"^\S.*global", line, re.I):
            break
        m = re.match(r"^\s+(-\S.*?)(\s{2,}|$)", line)
        if m:
            found += OPTION_RE.findall(m.group(1))
    return found


def help_surface():
    """(verbs, global options, {verb: options}) as tendctl's help lists them."""
    text = _help("--help")
    verbs, per_verb = [], {}
    section = None
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line.rstrip(":").lower()
            continue
        if section == "commands":
            # "  SYNOPSIS  text": the synopsis is the words up to two spaces.
            m = re.match(r"^  (\w[\w-]*)((?: \S+)*)", line)
            if m:
                current = m.group(1)
                verbs.append(current)
                per_verb[current] = OPTION_RE.findall(m.group(2))
    options_part = text[text.index("\nOptions:"):]
    global_opts = _option_words(options_part)
    for v in verbs:
        own = _help(v, "--help")
        if own != text:
            # A help of the verb's own: its usage line and option list.
            # The usage line after the verb: before it are the global options,
            # which go before the verb.
            per_verb[v] += [o for l in own.splitlines() if l.lower().startswith("usage")
                            for o in OPTION_RE.findall(l.split(f" {v}", 1)[-1])]
            per_verb[v] += _option_words(own)
        per_verb[v] += ["--help", "-h"]
    assert {"status", "start", "stop", "logs"} <= set(verbs), text
    assert {"--socket", "--help", "--version"} <= set(global_opts), text
    return verbs, sorted(set(global_opts)), {v: sorted(set(o)) for v, o in per_verb.items()}


@pytest.fixture
def shell_env(tmp_path):
    """PATH with the built tendctl first; HOME in the test's directory."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tendctl").symlink_to(TENDCTL)
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home),
            "LANG": "C.UTF-8", "TERM": "dumb",
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "")}


def _need(shell):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed (tests/run installs it)")


def bash_words(line):
    """COMP_WORDS as bash makes them: the words of the command (assignments
    in front of it left out), split again at '=' (COMP_WORDBREAKS)."""
    words = line.split()
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        words.pop(0)
    out = []
    for w in words:
        out += [p for p in re.split(r"(=)", w) if p]
    if line.endswith(" "):
        out.append("")
    return out


def bash_complete(env, line):
    """What bash's completion of tendctl offers for LINE (completing its last
    word, empty after a trailing space)."""
    _need("bash")
    words = bash_words(line)
    script = (f"source {shlex.quote(str(COMPLETION / 'tendctl.bash'))}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n"
              'COMP_LINE=$LINE; COMP_POINT=${#LINE}\n'
              '_tendctl tendctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    t0 = time.monotonic()
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, timeout=30, env=dict(env, LINE=line))
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    return [w for w in r.stdout.splitlines() if w], time.monotonic() - t0


def fish_complete(env, line):
    _need("fish")
    t0 = time.monotonic()
    r = subprocess.run(["fish", "--no-config", "-c",
                        f"source {COMPLETION / 'tendctl.fish'}; complete -C $argv[1]", line],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    return [l.split("\t")[0] for l in r.stdout.splitlines() if l], time.monotonic() - t0


class Zsh:
    """An interactive zsh on a pty with compinit and tendctl's #compdef file
    on its fpath; compadd is wrapped to write the words it was given to a log."""

    def __init__(self, tmp_path, env):
        _need("zsh")
        self.log = tmp_path / "compadd.log"
        zdot = tmp_path / "zdot"
        zdot.mkdir()
        fpath = tmp_path / "fpath"
        fpath.mkdir()
        shutil.copy(COMPLETION / "_tendctl", fpath / "_tendctl")
        (zdot / ".zshrc").write_text(
            f"fpath=({fpath} $fpath)\n"
            f"autoload -Uz compinit && compinit -u -d {tmp_path}/zcompdump\n"
            "PROMPT='> '\n"
            "compadd() {\n"
            "  local -a w=(\"$@\")\n"
            f"  print -rl -- \"${{(@)w[${{w[(i)--]}}+1,-1]}}\" >> {self.log}\n"
            "  builtin compadd \"$@\"\n"
            "}\n"
            f"print -r -- @@ready >> {self.log}\n")
        self.n = 0
        self.out = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve("/usr/bin/env", ["env", "zsh", "-i"],
                      dict(env, ZDOTDIR=str(zdot), TERM="xterm"))
        self._wait_mark("@@ready")

    def _drain(self):
        while select.select([self.fd], [], [], 0)[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.out += data

    def _wait_mark(self, mark):
        def seen():
            self._drain()
            return self.log.exists() and mark in self.log.read_text().splitlines()
        wait_for(seen, timeout=20, what=f"zsh to log {mark}")

    def complete(self, line):
        start = len(self.log.read_text().splitlines())
        self.n += 1
        mark = f"@@done {self.n}"
        self._drain()
        self.out = b""
        t0 = time.monotonic()
        # TAB completes; Ctrl-U empties the line; then a command marks the end.
        os.write(self.fd, line.encode() + b"\t")
        os.write(self.fd, b"\x15" + f"print -r -- '{mark}' >> {self.log}\r".encode())
        self._wait_mark(mark)
        # Nothing but the line and the listing: no error of the function, of
        # tendctl or of the shell.
        shown = self.out.decode(errors="replace")
        assert not re.search(r"_tendctl\w*:\d+:|tendctl: |command not found", shown), shown
        lines = self.log.read_text().splitlines()[start:]
        return [l for l in lines if not l.startswith("@@")], time.monotonic() - t0

    def close(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def completer(request, tmp_path, shell_env):
    """A function LINE -> (words offered, seconds) for the shell in the
    test's parameter."""
    shell = request.param
    if shell == "zsh":
        z = Zsh(tmp_path, shell_env)
        yield lambda line, env=None: z.complete(line)
        z.close()
    elif shell == "bash":
        yield lambda line, env=None: bash_complete(dict(shell_env, **(env or {})), line)
    else:
        yield lambda line, env=None: fish_complete(dict(shell_env, **(env or {})), line)


def _offered(words):
    # fish offers "--signal" for a long option; bash and zsh the same word.
    return set(words)


@pytest.mark.parametrize("completer", SHELLS, indirect=True)
def test_every_verb_and_option_of_the_help_is_completed(completer):
    verbs, global_opts, per_verb = help_surface()
    offered, _ = completer("tendctl ")
    assert set(verbs) <= _offered(offered), f"verbs not completed: {set(verbs) - set(offered)}"
    offered, _ = completer("tendctl -")
    missing = set(global_opts) - _offered(offered)
    assert not missing, f"global options not completed: {missing} (offered: {offered})"
    for v in verbs:
        offered, _ = completer(f"tendctl {v} -")
        missing = set(per_verb[v]) - _offered(offered)
        assert not missing, f"tendctl {v}: options not completed: {missing} (offered: {offered})"


def _services(tend):
    tend.service("web", exec="sleep infinity")
    tend.service("worker.1", exec="sleep infinity")
    tend.service("db@main", exec="sleep infinity", enabled="no")
    # Named like the table's header column.
    tend.service("NAME", exec="sleep infinity", enabled="no")
    tend.start()
    tend.wait_running("web")
    return {"web", "worker.1", "db@main", "NAME"}


@pytest.mark.parametrize("completer", SHELLS, indirect=True)
def test_live_service_names(tend, completer):
    names = _services(tend)
    sock = tend.socket
    # Every verb that takes services, the socket given each way.
    for line in (f"tendctl -s {sock} start ", f"tendctl --socket {sock} stop ",
                 f"tendctl --socket={sock} restart --no-block ", f"tendctl -s{sock} logs ",
                 f"tendctl -s {sock} kill -s HUP ", f"tendctl -s {sock} status web "):
        offered, _ = completer(line)
        assert set(offered) == names, f"{line!r}: {offered}"
    offered, _ = completer(f"tendctl -s {sock} start w")
    assert {"web", "worker.1"} <= set(offered), offered
    # TEND_SOCKET typed on the line.
    offered, _ = completer(f"TEND_SOCKET={sock} tendctl restart ")
    assert set(offered) == names, offered
    # Verbs without operands offer no names.
    offered, _ = completer(f"tendctl -s {sock} reexec ")
    assert not names & set(offered), offered


@pytest.mark.parametrize("completer", SHELLS, indirect=True)
def test_signal_names_after_kill_s(tend, completer):
    names = _services(tend)
    offered, _ = completer(f"tendctl -s {tend.socket} kill -s ")
    assert {"HUP", "TERM", "USR1"} <= set(offered), offered
    assert not names & set(offered), offered


@pytest.mark.parametrize("completer", SHELLS, indirect=True)
def test_no_tendd_completes_nothing_quickly_and_silently(tmp_path, completer):
    # A socket path with nothing behind it, one nobody listens on, and one
    # that accepts connections but never answers.
    import socket
    refused = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    refused.bind(str(tmp_path / "refused.sock"))
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deaf.bind(str(tmp_path / "deaf.sock"))
    deaf.listen(16)
    with refused, deaf:
        for name in ("absent.sock", "refused.sock", "deaf.sock"):
            offered, took = completer(f"tendctl -s {tmp_path / name} start ")
            assert offered == [], offered
            assert took < 5, f"completion took {took:.1f}s with {name}"
