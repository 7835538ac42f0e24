"""``UserError``: a mistake in what the user asked for, with the problem and the fix.

Raise it anywhere a user's input (a path, an option, a structure, a configuration key) is
wrong and the remedy is known::

    raise UserError("the model knows Si only; the structure holds Cu", fix="give a structure of Si")

It is a ``ValueError``, so code that catches ``ValueError`` keeps working. The ``mlcalc``
command prints it as one line, ``mlcalc: error: <problem>; <fix>``, and exits with code 2
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations


class UserError(ValueError):
    """``problem``: what is wrong, naming the offending input; ``fix``: what to do instead."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(f"{problem}; {fix}" if fix else problem)
        self.problem, self.fix = problem, fix
