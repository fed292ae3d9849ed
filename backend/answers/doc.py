"""docs/answers.md, generated from the model so the reference cannot drift.

Regenerate with `python -m kldload_tui.backend.answers.doc > docs/answers.md`; a test fails
when the committed file differs.
"""

from __future__ import annotations

from pydantic import SecretStr

from kldload_tui.backend.answers.file import env_text
from kldload_tui.backend.answers.model import REQUIRED_KEYS, Answers, env_key, group_of

_INTRO = """\
# answers.env reference

An answers file is `KEY=value` lines, read and never executed: blank lines, `#`
comments, an optional `export `, unquoted, 'single' or "double" quoted values and
a trailing ` # comment` are accepted; `$`, backquotes and the like are kept as
text. An empty value means the default. Lists take spaces or commas. Switches
take `1`/`0` (also yes/no, true/false, on/off). Files are UTF-8 (a byte-order
mark and CRLF line ends are fine), at most 1 MiB.

Required: {required}. Everything else has the default shown.
Secrets (marked *secret*) never appear in logs, events, the install manifest or
the copy of the answers kept in the installed system. They reach commands only
on standard input (`chpasswd`) or as the answer to a prompt (`zfs`, `scp`), never
on a command line, so the plan and the log show every command as it is; only
what those few commands print is masked (`********`). A password that happens to
be an ordinary word (`debian`, `rpool`) therefore hides nothing else.

A `KLDLOAD_PASSWORD` shorter than 8 characters is accepted with a warning, not
refused: nothing in the install depends on its length, the default (`admin`) is
expired at first login, and password rules belong to the installed system's PAM
policy. Prefer `KLDLOAD_SSH_PUBKEY` for logins.

Additions to the seed guide's reference: `KLDLOAD_ZFS_PASSPHRASE`,
`KLDLOAD_INITRAMFS_MODULES`, `KLDLOAD_FINISH_ACTION` and
`KLDLOAD_EXPORT_SCP_HOST_KEY` (the image server's host key: uploads go only to
the host that holds it, and a password upload is refused without it). `KLDLOAD_SSH_PUBKEY`
is authorised for the admin user, `KLDLOAD_ADMIN_SSH_PUBKEY` for root.
`KLDLOAD_DEBIAN_MIRROR` defaults to the darksite when one is present, else to
the live system's own apt sources.
"""


def render_reference() -> str:
    """The whole reference as Markdown."""
    out = [_INTRO.format(required=", ".join(f"`{k}`" for k in REQUIRED_KEYS))]
    group = None
    for name, field in Answers.model_fields.items():
        if group_of(name) != group:
            group = group_of(name)
            out.append(f"\n## {group}\n\n| key | default | meaning |\n|---|---|---|")
        key = env_key(name)
        if key in REQUIRED_KEYS:
            default = "*required*"
        else:
            text = env_text(field.default)
            default = f"`{text}`" if text else "(empty)"
            if isinstance(field.default, SecretStr):
                default += " *secret*"
        out.append(f"| `{key}` | {default} | {field.description} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")
