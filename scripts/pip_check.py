"""`pip check`, failing on every conflict except the overrides scripts/lock.py makes on purpose.

rasa 3.6.21 pins matplotlib <3.6, which has no wheel for Python 3.11; the lock raises it to 3.7
(rasa only uses matplotlib to draw evaluation plots). Any other conflict fails the install.
"""

from __future__ import annotations

import re
import subprocess
import sys

ACCEPTED = [re.compile(r"^rasa 3\.6\.21 has requirement matplotlib<3\.6,>=3\.1, but you have matplotlib 3\.7\.\d+\.$")]


def main() -> int:
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    clean = "No broken requirements found."
    lines = [line for line in result.stdout.splitlines() if line.strip() and line.strip() != clean]
    unexpected = [line for line in lines if not any(pattern.match(line) for pattern in ACCEPTED)]
    for line in lines:
        print(("accepted (see scripts/pip_check.py): " if line not in unexpected else "CONFLICT: ") + line)
    if unexpected or (result.returncode != 0 and not lines):
        print(result.stderr, file=sys.stderr)
        return 1
    print("pip check: no conflicts beyond the documented matplotlib override")
    return 0


if __name__ == "__main__":
    sys.exit(main())
