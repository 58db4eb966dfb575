# fish completion for tendctl: verbs, options, signal names, and the names of
# the services the running tendd has (asked through the socket given by -s or
# --socket, or TEND_SOCKET=PATH, earlier on the line; nothing when tendd does
# not answer within 2 s).

# One line per verb: name:description:options (a trailing '=' marks one that
# takes a value):operands ('services', or '-' for none).
set -l tendctl_verbs \
    'status:Show services:--json --no-legend --help -h:services' \
    'show:Show every property of services:--property= -p= -P= --value --json --help -h:services' \
    'cat:Show the files of services\' configuration:--json --help -h:services' \
    'is-active:Tell whether services are running:--quiet -q --help -h:services' \
    'is-failed:Tell whether services have failed:--quiet -q --help -h:services' \
    'list-dependencies:Show the dependency tree of a service:--reverse --json --no-legend --help -h:services' \
    'start:Start services and wait until they are up:--no-block --all --help -h:services' \
    'stop:Stop services and wait until they are stopped:--no-block --all --help -h:services' \
    'restart:Restart services and wait:--no-block --all --help -h:services' \
    'enable:Start services with tendd (a drop-in):--help -h:services' \
    'disable:Do not start services with tendd (a drop-in):--help -h:services' \
    'kill:Send a signal to services:--signal= -s= --help -h:services' \
    'reload:Reload the configuration, or services themselves:--help -h:services' \
    'reexec:Re-execute tendd in place:--help -h:-' \
    'logs:Show a service\'s output:--lines= -n= --follow -f --json --help -h:services' \
    'events:Follow every change of state:--json --help -h:-' \
    'metrics:Print metrics in the Prometheus text format:--help -h:-'

# The words of the line before the cursor from the command on: the
# TEND_SOCKET=PATH assignment in front of it, the socket options and the verb
# as "socket ARG" and "verb NAME" lines.
function __tendctl_parse
    set -l w (commandline -opc)
    set -l i 1
    while test $i -le (count $w); and string match -qr '^[A-Za-z_][A-Za-z0-9_]*=' -- $w[$i]
        string match -q 'TEND_SOCKET=*' -- $w[$i]; and echo socket $w[$i]
        set i (math $i + 1)
    end
    set i (math $i + 1)
    while test $i -le (count $w)
        switch $w[$i]
            case -s --socket
                set i (math $i + 1)
                test $i -le (count $w); and echo socket --socket=$w[$i]
            case '--socket=*'
                echo socket $w[$i]
            case '-s?*'
                echo socket --socket=(string sub -s 3 -- $w[$i])
            case '-*'
            case '*'
                echo verb $w[$i]
                return
        end
        set i (math $i + 1)
    end
end

function __tendctl_verb
    __tendctl_parse | string replace -rf '^verb ' ''
end

# The names of tendd's services: the first column of "tendctl status" (less
# its header).
function __tendctl_services
    set -l env
    set -l opts
    for s in (__tendctl_parse | string replace -rf '^socket ' '')
        if string match -q 'TEND_SOCKET=*' -- $s
            set env $s
        else
            set opts $opts $s
        end
    end
    env $env timeout 2 tendctl $opts status 2>/dev/null |
        string match -v -r '^NAME +STATE ' | string replace -r ' .*' ''
end

function __tendctl_signals
    for s in (kill -l 2>/dev/null | string split -n ' ')
        string replace -r '^SIG' '' -- $s
    end
end

complete -c tendctl -f
complete -c tendctl -n 'not __tendctl_verb' -s s -l socket -r -F -d 'Control socket'
complete -c tendctl -n 'not __tendctl_verb' -s h -l help -d 'Show the help'
complete -c tendctl -n 'not __tendctl_verb' -l version -d 'Show the version'
for line in $tendctl_verbs
    set -l f (string split ':' -- $line)
    set -l verb $f[1]
    set -l cond "string match -q -- $verb (__tendctl_verb)"
    complete -c tendctl -n 'not __tendctl_verb' -a $verb -d $f[2]
    for o in (string split ' ' -- $f[3])
        set -l args
        if string match -q -- '--*' $o
            set args -l (string trim -l -c - -- (string trim -r -c = -- $o))
        else
            set args -s (string sub -s 2 -l 1 -- $o)
        end
        if string match -q -- '*=' $o
            set args $args -x
            if contains -- $o -s= --signal=
                set args $args -a '(__tendctl_signals)'
            end
        end
        complete -c tendctl -n $cond $args
    end
    if test $f[4] = services
        complete -c tendctl -n $cond -a '(__tendctl_services)'
    end
end
