"""FormatDateTime: parse and print dates with .NET custom date and time format strings."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

# Longest first, so "yyyy" wins over "yy" and "MMMM" over "MM".
_TOKEN = re.compile(
    r"'[^']*'|\"[^\"]*\"|\\.|yyyy|yy|MMMM|MMM|MM|M|dddd|ddd|dd|d|HH|H|hh|h|mm|m|ss|s|f{1,7}|F{1,7}|tt|t|zzz|zz|z|K|."
)
_PARSE = {
    "yyyy": "%Y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%m",
    "dddd": "%A",
    "ddd": "%a",
    "dd": "%d",
    "d": "%d",
    "HH": "%H",
    "H": "%H",
    "hh": "%I",
    "h": "%I",
    "mm": "%M",
    "m": "%M",
    "ss": "%S",
    "s": "%S",
    "tt": "%p",
    "zzz": "%z",
    "zz": "%z",
    "z": "%z",
    "K": "%z",
}


def _literal(token: str) -> str | None:
    if token[0] in "'\"" and len(token) > 1:
        return token[1:-1]
    if token[0] == "\\" and len(token) == 2:
        return token[1]
    return None


def parse(value: str, fmt: str) -> datetime:
    pattern = []
    for token in _TOKEN.findall(fmt):
        literal = _literal(token)
        if literal is not None:
            pattern.append(literal.replace("%", "%%"))
        elif token[0] in "fF":
            pattern.append("%f")
        else:
            pattern.append(_PARSE.get(token, token.replace("%", "%%")))
    text = value.strip()
    fraction = re.search(r"\.(\d{7,})", text)  # .NET allows 7 fraction digits, Python 6
    if fraction:
        text = text.replace(fraction[0], "." + fraction[1][:6])
    return datetime.strptime(text, "".join(pattern))


def render(moment: datetime, fmt: str) -> str:
    out = []
    for token in _TOKEN.findall(fmt):
        literal = _literal(token)
        if literal is not None:
            out.append(literal)
            continue
        hour12 = moment.hour % 12 or 12
        values = {
            "yyyy": f"{moment.year:04}",
            "yy": f"{moment.year % 100:02}",
            "MMMM": moment.strftime("%B"),
            "MMM": moment.strftime("%b"),
            "MM": f"{moment.month:02}",
            "M": str(moment.month),
            "dddd": moment.strftime("%A"),
            "ddd": moment.strftime("%a"),
            "dd": f"{moment.day:02}",
            "d": str(moment.day),
            "HH": f"{moment.hour:02}",
            "H": str(moment.hour),
            "hh": f"{hour12:02}",
            "h": str(hour12),
            "mm": f"{moment.minute:02}",
            "m": str(moment.minute),
            "ss": f"{moment.second:02}",
            "s": str(moment.second),
            "tt": "AM" if moment.hour < 12 else "PM",
            "t": "A" if moment.hour < 12 else "P",
        }
        if token in values:
            out.append(values[token])
        elif token[0] == "f":
            out.append(f"{moment.microsecond:06}0"[: len(token)])
        elif token[0] == "F":
            out.append(f"{moment.microsecond:06}0"[: len(token)].rstrip("0"))
        elif token in ("zzz", "zz", "z", "K"):
            offset = moment.utcoffset()
            if offset is None:
                continue
            minutes = int(offset.total_seconds() // 60)
            sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
            out.append(
                {
                    "zzz": f"{sign}{minutes // 60:02}:{minutes % 60:02}",
                    "zz": f"{sign}{minutes // 60:02}",
                    "z": f"{sign}{minutes // 60}",
                }.get(token, "Z" if minutes == 0 else f"{sign}{minutes // 60:02}:{minutes % 60:02}")
            )
        else:
            out.append(token)
    return "".join(out)


def format_date_time(source: Any, *args: Any) -> str | None:
    """FormatDateTime(source, [dateTimeStyles,] inputFormat, outputFormat)."""
    input_format, output_format = args[-2], args[-1]
    if source is None:
        return None
    if isinstance(source, datetime):
        return render(source, str(output_format))
    try:
        moment = parse(str(source), str(input_format))
    except ValueError:
        raise ValueError(f"{source!r} does not have the format {input_format!r}") from None
    return render(moment, str(output_format))
