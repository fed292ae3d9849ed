# kldload live: on a console login (not SSH), show how the autoinstall went and
# start the TUI when no answers were found. Leaving the TUI gives this shell;
# `kldload-tui` starts it again.
# The web UI's address and token, for this console and the TUI's welcome screen
# (kldload-webui.service writes the token once it listens: wait a little for it).
kldload_webui() {
    i=0
    while [ ! -s /run/kldload/webui-token ] && [ "$i" -lt 15 ]; do
        case "$(systemctl show -p ActiveState --value kldload-webui.service 2>/dev/null)" in
        active | activating) ;;
        *) return 0 ;;
        esac
        sleep 1
        i=$((i + 1))
    done
    [ -s /run/kldload/webui-token ] || return 0
    addr=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4; exit}')
    addr=${addr%%/*}
    if [ -z "$addr" ]; then
        echo "kldload: web UI on port 8080; this machine has no network address yet"
        return 0
    fi
    KLDLOAD_TUI_SERVE_URL="http://$addr:8080/"
    KLDLOAD_TUI_SERVE_TOKEN=$(cat /run/kldload/webui-token)
    export KLDLOAD_TUI_SERVE_URL KLDLOAD_TUI_SERVE_TOKEN
    echo "kldload: web UI ${KLDLOAD_TUI_SERVE_URL}?token=$KLDLOAD_TUI_SERVE_TOKEN"
}

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
        kldload_webui
        kldload-tui
        echo "kldload: type kldload-tui to start the installer again"
        ;;
    failed*|invalid)
        echo "kldload: the automatic install did not complete ($status)."
        if [ -s /var/log/kldload/install.log ]; then
            echo "kldload: logs: /var/log/kldload/install.log, /var/log/kldload/autoinstall.log"
        else
            echo "kldload: what the install printed: /var/log/kldload/autoinstall.log"
        fi
        echo "kldload: the answers it found: kldload-tui seed find"
        ;;
    done)
        echo "kldload: the automatic install completed."
        ;;
    esac
fi
