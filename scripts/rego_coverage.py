"""Read `opa test --coverage --format json` on stdin; print each file's coverage
and fail if any rule file is below --min percent."""

from __future__ import annotations

import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--min", type=float, default=100.0)
    args = parser.parse_args()
    report = json.load(sys.stdin)
    failing = []
    for name, entry in sorted(report.get("files", {}).items()):
        if name.endswith("_test.rego"):
            continue
        coverage = float(entry.get("coverage", 0.0))
        print(f"rego coverage {coverage:6.2f}%  {name}")
        if coverage < args.min:
            failing.append(name)
    print(f"rego coverage {float(report.get('coverage', 0.0)):6.2f}%  (all rule files)")
    if failing:
        print(f"below {args.min}%: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
