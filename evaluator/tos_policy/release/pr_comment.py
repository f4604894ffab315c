"""The impact report as ONE pull-request comment, found again by a marker and updated
in place, kept within GitHub's comment size limit.

Only a comment that carries the marker and was written by the same account is
edited: another bot's last comment is never overwritten. Posting goes through
the `gh` command line (`gh api`), whose own error is what a failure reports."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from tos_policy import jsonio

MARKER = "<!-- tos-policy impact report -->"
GITHUB_LIMIT = 65_536  # characters in an issue or pull-request comment


def sticky_body(report: str, *, artifact_url: str | None, summary_url: str | None, limit: int = GITHUB_LIMIT) -> str:
    """The comment: marker + report, cut at a line boundary with links to the full report when too long."""
    body = f"{MARKER}\n{report}"
    if len(body) <= limit:
        return body
    links = [f"[the impact-report artifact]({artifact_url})"] if artifact_url else []
    if summary_url:
        links.append(f"[the job summary]({summary_url})")
    where = " and ".join(links) if links else "the job log"
    tail = f"\n\n**The report is cut here: it is longer than a comment may be.** The whole report is in {where}.\n"
    room = limit - len(tail)
    cut = body[:room]
    if "\n" in cut:
        cut = cut[: cut.rfind("\n")]
    return cut + tail


@dataclass
class Posted:
    ok: bool
    action: str  # "updated", "created" or "failed"
    detail: str  # the comment's URL, or GitHub's reason


def _gh(*args: str, body: str | None = None) -> tuple[int, str, str]:
    try:
        done = subprocess.run(["gh", *args], input=body, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return 127, "", "the GitHub command line (gh) is not installed"
    return done.returncode, done.stdout, done.stderr.strip()


def post(repo: str, number: int, body: str) -> Posted:
    """Update this account's comment carrying MARKER on pull request `number`, else create one."""
    code, out, err = _gh("api", "user", "--jq", ".login")
    me = out.strip() if code == 0 else "github-actions[bot]"  # an Actions token cannot read /user
    code, out, err = _gh("api", "--paginate", f"repos/{repo}/issues/{number}/comments", "--jq", ".[]|@json")
    if code != 0:
        return Posted(False, "failed", f"could not list the pull request's comments: {err}")
    mine = None
    for line in out.splitlines():
        comment = jsonio.loads(line)
        if MARKER in (comment.get("body") or "") and (comment.get("user") or {}).get("login") == me:
            mine = comment
    payload = json.dumps({"body": body})
    if mine is not None:
        code, out, err = _gh(
            "api", "--method", "PATCH", f"repos/{repo}/issues/comments/{mine['id']}", "--input", "-", body=payload
        )
        action = "updated"
    else:
        code, out, err = _gh(
            "api", "--method", "POST", f"repos/{repo}/issues/{number}/comments", "--input", "-", body=payload
        )
        action = "created"
    if code != 0:
        return Posted(False, "failed", f"GitHub refused to post the comment: {err}")
    return Posted(True, action, jsonio.loads(out).get("html_url", ""))
