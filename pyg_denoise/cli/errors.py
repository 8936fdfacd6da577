r"""How a refused command ends: one line on stderr, exit code 2.
"""
import logging
import sys

logger = logging.getLogger('pyg_denoise')


class CommandError(SystemExit):
    r"""A refused command: :obj:`pyg-denoise: <message>` on stderr and exit code 2. Its
    :func:`str` is the message (so tests can match it)."""
    def __init__(self, message: str) -> None:
        message = message if message.startswith('pyg-denoise: ') else \
            f'pyg-denoise: {message}'
        print(message, file=sys.stderr)
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _one_line(error: BaseException) -> str:
    text = ' '.join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f'{error.filename}: {text}'
    return text
