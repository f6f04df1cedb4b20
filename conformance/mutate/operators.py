"""conformance/mutate/operators.py — generated mutants of C sources.

Each mutant changes one line of one function body in one way.  Operators:

  ROR    relational operator replacement   (< <= > >= == !=)
  AOR    arithmetic operator replacement   (+ -, * /, += -=, ++ --)
  CRP    integer constant +1 / -1
  NEG    condition negation                (if (c) -> if (!(c)), also while)
  SDL    statement deletion                (a call or assignment statement)
  SWP    swapped adjacent call arguments   (kept only when the compiler sees
                                            no new type diagnostic: same type)
  MOW    memory-order weakening            (acquire/release/seq_cst -> relaxed,
                                            atomic_X(...) -> atomic_X_explicit(..., relaxed))

A mutant's key is file, function, operator, the original line and the
mutated line (whitespace-normalized) plus the occurrence number of that
same change within the function: robust against edits elsewhere in the
file (no line numbers), so the triage file stays valid while the code
around a triaged mutant moves.
"""
import hashlib
import re

OPERATORS = ("ROR", "AOR", "CRP", "NEG", "SDL", "SWP", "MOW")


class Mutant:
    __slots__ = ("file", "function", "op", "line", "orig", "mutated", "occ", "key", "id")

    def __init__(self, file, function, op, line, orig, mutated, occ):
        self.file, self.function, self.op, self.line = file, function, op, line
        self.orig, self.mutated, self.occ = orig, mutated, occ
        self.key = key_of(file, function, op, orig, mutated, occ)
        self.id = hashlib.sha1(self.key.encode()).hexdigest()[:10]

    def to_json(self):
        return {"id": self.id, "file": self.file, "function": self.function, "operator": self.op,
                "line": self.line, "original": norm(self.orig), "mutated": norm(self.mutated),
                "occurrence": self.occ}


def norm(s):
    return " ".join(s.split())


def key_of(file, function, op, orig, mutated, occ=1):
    return "\t".join([file, function, op, norm(orig), norm(mutated), str(occ)])


# ---- masking: comments and literals become blanks of the same length --------------
def mask_lines(text):
    """Returns the lines with comments, string and char literals blanked, so
    operators are only ever found in code."""
    out, i, n = [], 0, len(text)
    buf = []
    state = None  # None, 'block', 'line', '"', "'"
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if state is None:
            if c == "/" and nxt == "*":
                state = "block"; buf.append("  "); i += 2; continue
            if c == "/" and nxt == "/":
                state = "line"; buf.append("  "); i += 2; continue
            if c in "\"'":
                state = c; buf.append(c); i += 1; continue
            buf.append(c); i += 1; continue
        if state == "block":
            if c == "*" and nxt == "/":
                state = None; buf.append("  "); i += 2; continue
            buf.append("\n" if c == "\n" else " "); i += 1; continue
        if state == "line":
            if c == "\n":
                state = None; buf.append(c)
            else:
                buf.append(" ")
            i += 1; continue
        # inside a literal
        if c == "\\" and i + 1 < n:
            buf.append("  "); i += 2; continue
        if c == state:
            state = None; buf.append(c); i += 1; continue
        buf.append("\n" if c == "\n" else " "); i += 1
    out = "".join(buf).split("\n")
    return out


HEADER = re.compile(r"^(?!typedef\b|struct\b[^(]*\{|#|\}|\s)[A-Za-z_][\w\s\*,]*?\b([A-Za-z_]\w*)\s*\(")
DECL = re.compile(r"^\s*(?:(?:const|static|volatile|struct|unsigned|signed|enum|_Atomic)\s+)*[A-Za-z_]\w*"
                  r"(?:\s*\*+\s*|\s+)(?:const\s+)?\**\s*[A-Za-z_]\w*\s*(?:=|;|\[|,)")
KEYWORD_START = re.compile(r"^\s*(return|break|continue|goto|case|default|else|do|for|if|while|switch)\b")


def function_lines(masked):
    """Yields (index, function name) for every line inside a function body
    (brace depth >= 1 at the start of the line)."""
    depth, pending, func = 0, None, None
    for i, m in enumerate(masked):
        if depth == 0:
            mh = HEADER.match(m)
            if mh and "=" not in m.split("(")[0]:
                pending = mh.group(1)
            elif m.strip().endswith(";"):
                pending = None
        start_depth = depth
        if start_depth >= 1 and func:
            yield i, func
        for ch in m:
            if ch == "{":
                if depth == 0:
                    func = pending
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    func, pending = None, None


# ---- per-operator site finders: (start, end, replacement) on one masked line ----------
ROR_RE = re.compile(r"(?<![<>=!\-])(<=|>=|==|!=|<|>)(?![<>=])")
ROR_MAP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}


def sites_ror(m):
    for x in ROR_RE.finditer(m):
        op = x.group(1)
        # '->' is excluded by the look-behind; skip template-ish '<' in casts never occurs in C
        yield x.start(1), x.end(1), ROR_MAP[op]


AOR_RE = re.compile(r"(\+\+|--|\+=|-=|(?<=\s)[+\-*/](?=\s))")
AOR_MAP = {"++": "--", "--": "++", "+=": "-=", "-=": "+=", "+": "-", "-": "+", "*": "/", "/": "*"}


def sites_aor(m):
    for x in AOR_RE.finditer(m):
        op = x.group(1)
        if op in ("-", "+") and x.start(1) > 0:
            # a binary operator: something that ends an operand before it
            before = m[:x.start(1)].rstrip()
            if not before or before[-1] in "=(,?:&|!<>+-*/%^~[{;":
                continue
        if op == "*":
            before = m[:x.start(1)].rstrip()
            if not before or not (before[-1].isalnum() or before[-1] in ")]_"):
                continue
        yield x.start(1), x.end(1), AOR_MAP[op]


CRP_RE = re.compile(r"(?<![\w.])(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)(?![\w.])")


def sites_crp(m):
    if re.match(r"^\s*case\b", m):
        return
    for x in CRP_RE.finditer(m):
        lit, suf = x.group(1), x.group(2)
        v = int(lit, 16) if lit.lower().startswith("0x") else int(lit, 10)
        fmt = (lambda k: hex(k)) if lit.lower().startswith("0x") else str
        yield x.start(), x.end(), fmt(v + 1) + suf
        if v > 0:
            yield x.start(), x.end(), fmt(v - 1) + suf


def match_paren(m, i):
    """Index of the ')' matching '(' at i on this line, or -1."""
    d = 0
    for k in range(i, len(m)):
        if m[k] == "(":
            d += 1
        elif m[k] == ")":
            d -= 1
            if d == 0:
                return k
    return -1


NEG_RE = re.compile(r"\b(if|while)\s*\(")


def sites_neg(m, line):
    for x in NEG_RE.finditer(m):
        o = x.end() - 1
        c = match_paren(m, o)
        if c < 0:
            continue
        inner = line[o + 1:c]
        yield o + 1, c, "!(" + inner + ")"


SDL_OK = re.compile(r"^\s*[^;{}]*[(=][^;{}]*;\s*$")


def sites_sdl(m, prev):
    s = m.strip()
    if not SDL_OK.match(m) or KEYWORD_START.match(m) or DECL.match(m):
        return
    if s.count("(") != s.count(")"):
        return
    if prev is not None and not (prev.rstrip().endswith((";", "{", "}", ")", ":")) or prev.strip() == ""):
        return  # the tail of a multi-line statement
    start = len(m) - len(m.lstrip())
    end = len(m.rstrip())
    yield start, end, ";"


CALL_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
SIMPLE_ARG = re.compile(r"^\s*&?[A-Za-z_][\w]*(?:(?:->|\.)[A-Za-z_]\w*)*\s*$")
C_KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "defined", "__attribute__"}


def split_args(s):
    parts, d, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            d += 1
        elif ch in ")]}":
            d -= 1
        if ch == "," and d == 0:
            parts.append(cur); cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def sites_swp(m, line):
    for x in CALL_RE.finditer(m):
        if x.group(1) in C_KEYWORDS:
            continue
        o = x.end() - 1
        c = match_paren(m, o)
        if c < 0:
            continue
        args_m = split_args(m[o + 1:c])
        if len(args_m) < 2:
            continue
        pos = o + 1
        spans = []
        for a in args_m:
            spans.append((pos, pos + len(a)))
            pos += len(a) + 1
        for k in range(len(spans) - 1):
            (a0, a1), (b0, b1) = spans[k], spans[k + 1]
            ta, tb = line[a0:a1], line[b0:b1]
            if not (SIMPLE_ARG.match(m[a0:a1]) and SIMPLE_ARG.match(m[b0:b1])) or ta.strip() == tb.strip():
                continue
            lead_a = ta[:len(ta) - len(ta.lstrip())]
            lead_b = tb[:len(tb) - len(tb.lstrip())]
            yield a0, b1, lead_a + tb.strip() + "," + lead_b + ta.strip()


MOW_TOK = re.compile(r"\b(__ATOMIC_(?:SEQ_CST|ACQ_REL|ACQUIRE|RELEASE|CONSUME)|"
                     r"memory_order_(?:seq_cst|acq_rel|acquire|release|consume))\b")
MOW_CALL = re.compile(r"\batomic_(load|store|exchange|fetch_add|fetch_sub|fetch_or|fetch_and|"
                      r"compare_exchange_strong|compare_exchange_weak)\s*\(")


def sites_mow(m, line):
    for x in MOW_TOK.finditer(m):
        t = x.group(1)
        yield x.start(1), x.end(1), "__ATOMIC_RELAXED" if t.startswith("__") else "memory_order_relaxed"
    for x in MOW_CALL.finditer(m):
        o = x.end() - 1
        c = match_paren(m, o)
        if c < 0:
            continue
        name = x.group(1)
        orders = ", memory_order_relaxed, memory_order_relaxed" if name.startswith("compare") else \
            ", memory_order_relaxed"
        yield x.start(), c + 1, "atomic_" + name + "_explicit(" + line[o + 1:c] + orders + ")"


def mutants_of(path, text, ops=OPERATORS):
    lines = text.split("\n")
    masked = mask_lines(text)
    seen = {}
    out = []
    prev_sig = None
    fl = dict(function_lines(masked))
    for i, line in enumerate(lines):
        m = masked[i] if i < len(masked) else ""
        func = fl.get(i)
        if func is None or m.lstrip().startswith("#"):
            if m.strip():
                prev_sig = m
            continue
        cands = []
        if "ROR" in ops:
            cands += [("ROR", s) for s in sites_ror(m)]
        if "AOR" in ops:
            cands += [("AOR", s) for s in sites_aor(m)]
        if "CRP" in ops:
            cands += [("CRP", s) for s in sites_crp(m)]
        if "NEG" in ops:
            cands += [("NEG", s) for s in sites_neg(m, line)]
        if "SDL" in ops:
            cands += [("SDL", s) for s in sites_sdl(m, prev_sig)]
        if "SWP" in ops:
            cands += [("SWP", s) for s in sites_swp(m, line)]
        if "MOW" in ops:
            cands += [("MOW", s) for s in sites_mow(m, line)]
        for op, (a, b, rep) in cands:
            new = line[:a] + rep + line[b:]
            if new == line:
                continue
            k = (func, op, norm(line), norm(new))
            seen[k] = seen.get(k, 0) + 1
            out.append(Mutant(path, func, op, i + 1, line, new, seen[k]))
        if m.strip():
            prev_sig = m
    return out


def apply(text, mu):
    lines = text.split("\n")
    assert lines[mu.line - 1] == mu.orig, "source changed under mutant %s" % mu.id
    lines[mu.line - 1] = mu.mutated
    return "\n".join(lines)
