# kldload live: on a console login (not SSH), show how the autoinstall went and
# start the TUI when no answers were found. Leaving the TUI gives this shell;
# `kldload-tui` starts it again.
if [ -z "${SSH_CONNECTION:-}" ] && [ -z "${KLDLOAD_LIVE_SHOWN:-}" ]; then
    export KLDLOAD_LIVE_SHOWN=1
    if [ -r /run/kldload/ssh-password ]; then
        echo "SSH: root, one-time password $(cat /run/kldload/ssh-password)"
    fi
    status=$(cat /run/kldload/autoinstall 2>/dev/null || echo off)
    case "$status" in
    none)
        case "$(tty)" in
        /dev/ttyS*) export TERM=vt100 ;;
        esac
        kldload-tui
        echo "kldload: type kldload-tui to start the installer again"
        ;;
    failed*|invalid)
        echo "kldload: the automatic install did not complete ($status)."
        echo "kldload: log: /var/log/kldload/install.log; answers: kldload-tui seed find"
        ;;
    done)
        echo "kldload: the automatic install completed."
        ;;
    esac
fi
