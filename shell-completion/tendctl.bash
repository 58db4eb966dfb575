# bash completion for tendctl: verbs, options, signal names, and the names of
# the services the running tendd has (asked through the socket given by -s or
# --socket, or TEND_SOCKET=PATH, earlier on the line; nothing when tendd does
# not answer within 2 s).

# One line per verb: its name, its options (a trailing '=' marks one that takes
# a value), and what its operands are: 'services', or '-' for none.
_tendctl_verbs='
status             --json --no-legend --help -h                     services
show               --property= -p= -P= --value --json --help -h     services
cat                --json --help -h                                 services
is-active          --quiet -q --help -h                             services
is-failed          --quiet -q --help -h                             services
list-dependencies  --reverse --json --no-legend --help -h           services
start              --no-block --all --help -h                       services
stop               --no-block --all --help -h                       services
restart            --no-block --all --help -h                       services
enable             --help -h                                        services
disable            --help -h                                        services
kill               --signal= -s= --help -h                          services
reload             --help -h                                        services
reexec             --help -h                                        -
logs               --lines= -n= --follow -f --json --help -h        services
events             --json --help -h                                 -
metrics            --help -h                                        -
'
_tendctl_global_options='--socket= -s= --help -h --version'

# The names of tendd's services: the first column of "tendctl status" (less
# its header). $@: the socket options and TEND_SOCKET assignment from the line.
_tendctl_services()
{
        local env=() opts=() a
        for a in "$@"; do
                case $a in
                TEND_SOCKET=*) env=("$a") ;;
                *) opts+=("$a") ;;
                esac
        done
        env "${env[@]}" timeout 2 tendctl "${opts[@]}" status 2>/dev/null |
                while read -r a b c; do
                        # The table's header, not a service named NAME.
                        [[ $a == NAME && $b == STATE* ]] && continue
                        printf '%s\n' "$a"
                done
}

# A word of the line as the shell would use it: a leading ~/ is $HOME.
_tendctl_path()
{
        local p=$1
        [[ $p == "~/"* ]] && p=$HOME/${p#"~/"}
        printf '%s' "$p"
}

_tendctl()
{
        local -a w=() sock=() lw=()
        local i x cur verb= line opts operands prev
        # Words up to the cursor, with what COMP_WORDBREAKS split at '='
        # (--socket=PATH) joined again.
        for ((i = 0; i <= COMP_CWORD; i++)); do
                x=${COMP_WORDS[i]}
                if ((${#w[@]})) && [[ ${w[-1]} == -* && ($x == = || ${w[-1]} == *=) ]]; then
                        w[-1]+=$x
                else
                        w+=("$x")
                fi
        done
        cur=${COMP_WORDS[COMP_CWORD]}
        [[ $cur == = ]] && cur=
        # TEND_SOCKET=PATH tendctl ...: bash leaves the assignment out of
        # COMP_WORDS; it is at the start of the line.
        read -ra lw <<<"$COMP_LINE"
        for x in "${lw[@]}"; do
                [[ $x =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || break
                [[ $x == TEND_SOCKET=* ]] && sock=("TEND_SOCKET=$(_tendctl_path "${x#*=}")")
        done
        i=1
        # Global options, then the verb.
        while ((i < ${#w[@]} - 1)); do
                x=${w[i]}
                case $x in
                -s | --socket)
                        i=$((i + 1))
                        ((i < ${#w[@]} - 1)) && sock+=(--socket="$(_tendctl_path "${w[i]}")")
                        ;;
                --socket=*) sock+=(--socket="$(_tendctl_path "${x#*=}")") ;;
                -s?*) sock+=(--socket="$(_tendctl_path "${x#-s}")") ;;
                -*) ;;
                *)
                        verb=$x
                        break
                        ;;
                esac
                i=$((i + 1))
        done
        prev=${w[-2]}
        if [[ -z $verb ]]; then
                case $prev:${w[-1]} in
                -s: | --socket: | *:--socket=*)
                        COMPREPLY=($(compgen -f -- "$cur"))
                        return
                        ;;
                esac
                if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W "${_tendctl_global_options//=/}" -- "$cur"))
                else
                        COMPREPLY=($(compgen -W "$(printf '%s\n' "$_tendctl_verbs" |
                                awk 'NF { print $1 }')" -- "$cur"))
                fi
                return
        fi
        line=$(printf '%s\n' "$_tendctl_verbs" | awk -v v="$verb" '$1 == v')
        [[ -n $line ]] || return
        read -r _ line <<<"$line"
        operands=${line##* }
        opts=${line% *}
        # The value of an option that takes one.
        if [[ $prev == -* && " $opts " == *" $prev= "* ]] || [[ ${w[-1]} == --*=* ]]; then
                case $prev:${w[-1]} in
                -s: | --signal: | *:--signal=*)
                        COMPREPLY=($(compgen -W "$(compgen -A signal | sed 's/^SIG//')" \
                                -- "${cur#SIG}"))
                        ;;
                esac
                return
        fi
        if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "${opts//=/}" -- "$cur"))
        elif [[ $operands == services ]]; then
                COMPREPLY=($(compgen -W "$(_tendctl_services "${sock[@]}")" -- "$cur"))
        fi
}
complete -F _tendctl tendctl
