"""The impact report as one sticky pull-request comment within GitHub's size limit."""

from __future__ import annotations

from tos_policy.release.pr_comment import GITHUB_LIMIT, MARKER, sticky_body


def test_a_short_report_is_posted_whole_behind_the_marker() -> None:
    body = sticky_body("# Impact\n\nno change\n", artifact_url="https://a", summary_url="https://s")
    assert body == f"{MARKER}\n# Impact\n\nno change\n"


def test_a_long_report_is_cut_at_a_line_within_the_limit_and_links_the_whole_one() -> None:
    report = "".join(f"| entity-{n} | allow -> deny |\n" for n in range(10_000))
    assert len(report) > GITHUB_LIMIT
    body = sticky_body(report, artifact_url="https://example.com/artifact", summary_url="https://example.com/run")
    assert len(body) <= GITHUB_LIMIT
    assert body.startswith(MARKER)
    kept, _, tail = body.partition("\n\n**The report is cut here")
    assert kept.endswith("|")  # whole table rows only
    assert "[the impact-report artifact](https://example.com/artifact)" in tail
    assert "[the job summary](https://example.com/run)" in tail


def test_without_links_the_cut_report_points_at_the_job_log() -> None:
    body = sticky_body("x\n" * 40_000, artifact_url=None, summary_url=None, limit=1_000)
    assert len(body) <= 1_000
    assert body.endswith("The whole report is in the job log.\n")
