"""Tokenizer and parser for Entra's expression syntax.

    expression := operand [ ("=" | "<>" | "<" | "<=" | ">" | ">=") operand ]
    operand    := Name "(" [ argument { "," argument } ] ")"   function call (names case-sensitive)
                | "[" attribute "]" | "\"string\"" (\\ escapes) | number | &Hhex | Name (e.g. vbTextCompare)
    argument   := expression | nothing                           (omitted: Switch([x], , "a", "b"))

Every node keeps its position so errors can point at the character that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class ExpressionError(ValueError):
    """A bad expression; ``position`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int, text: str = ""):
        self.message, self.position, self.text = message, position, text
        super().__init__(f"at position {position + 1}: {message}")

    def pointer(self) -> str:
        """The expression with a caret under the problem, for command-line output."""
        return f"{self.text}\n{' ' * self.position}^"


@dataclass(frozen=True)
class Attr:
    name: str
    pos: int


@dataclass(frozen=True)
class Str:
    value: str
    pos: int


@dataclass(frozen=True)
class Num:
    value: int | float
    pos: int
    hex: bool = False


@dataclass(frozen=True)
class Name:
    name: str
    pos: int


@dataclass(frozen=True)
class Omitted:
    pos: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    pos: int


Node = Attr | Str | Num | Name | Omitted | Call | Compare

_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<hex>&[Hh][0-9A-Fa-f]+)|(?P<num>-?\d+(?:\.\d+)?)
    |(?P<op><>|<=|>=|=|<|>)|(?P<punct>[(),])""",
    re.VERBOSE,
)
OPERATORS = ("=", "<>", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class _Token:
    kind: str  # name, hex, num, op, punct, attr, str, end
    text: str
    pos: int
    value: object = None


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise ExpressionError("attribute reference is not closed with ']'", i, text)
            name = text[i + 1 : end].strip()
            if not name:
                raise ExpressionError("empty attribute reference '[]'", i, text)
            tokens.append(_Token("attr", text[i : end + 1], i, name))
            i = end + 1
        elif char == '"':
            value, j = [], i + 1
            while j < len(text) and text[j] != '"':
                if text[j] == "\\":
                    if j + 1 >= len(text):
                        break
                    j += 1
                value.append(text[j])
                j += 1
            if j >= len(text):
                raise ExpressionError("string constant is not closed with '\"'", i, text)
            tokens.append(_Token("str", text[i : j + 1], i, "".join(value)))
            i = j + 1
        else:
            match = _TOKEN.match(text, i)
            if not match:
                raise ExpressionError(f"unexpected character {char!r}", i, text)
            kind = match.lastgroup
            if kind != "ws":
                tokens.append(_Token(kind, match.group(), i))
            i = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, expected: str, token: _Token) -> ExpressionError:
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        return ExpressionError(f"expected {expected}, found {found}", token.pos, self.text)

    def expression(self) -> Node:
        left = self.operand()
        if self.peek().kind == "op":
            op = self.take()
            return Compare(op.text, left, self.operand(), op.pos)
        return left

    def operand(self) -> Node:
        token = self.take()
        if token.kind == "attr":
            return Attr(str(token.value), token.pos)
        if token.kind == "str":
            return Str(str(token.value), token.pos)
        if token.kind == "num":
            return Num(float(token.text) if "." in token.text else int(token.text), token.pos)
        if token.kind == "hex":
            return Num(int(token.text[2:], 16), token.pos, hex=True)
        if token.kind == "name":
            if self.peek().text == "(":
                return self.call(token)
            return Name(token.text, token.pos)
        raise self.fail('a function call, [attribute], "string" or number', token)

    def call(self, name: _Token) -> Call:
        self.take()  # "("
        args: list[Node] = []
        if self.peek().text == ")":
            self.take()
            return Call(name.text, (), name.pos)
        while True:
            token = self.peek()
            args.append(Omitted(token.pos) if token.text in (",", ")") else self.expression())
            token = self.take()
            if token.text == ")":
                return Call(name.text, tuple(args), name.pos)
            if token.text != ",":
                raise self.fail(f"',' or ')' in the arguments of {name.text}", token)


def parse(text: str) -> Node:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty", 0, text or "")
    parser = _Parser(text)
    node = parser.expression()
    if parser.peek().kind != "end":
        raise parser.fail("the end of the expression", parser.peek())
    return node


def unparse(node: Node) -> str:
    """The canonical text of a tree: ``parse(unparse(tree))`` gives the same tree shape."""
    match node:
        case Attr(name=name):
            return f"[{name}]"
        case Str(value=value):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        case Num(value=value, hex=True):
            return f"&H{value:X}"
        case Num(value=value):
            return str(value)
        case Name(name=name):
            return name
        case Omitted():
            return ""
        case Call(name=name, args=args):
            return f"{name}({', '.join(unparse(a) for a in args)})"
        case Compare(op=op, left=left, right=right):
            return f"{unparse(left)} {op} {unparse(right)}"
    raise TypeError(node)
