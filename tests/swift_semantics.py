"""A semantic check of the generated Swift, over tree-sitter-swift's parse (no Swift compiler runs
here): the class of error "type 'ElementType' has no member 'float16'" that a parser accepts.

From every ``.swift`` file of a project it collects the types the project declares (enums with
their cases, structs, classes, their nested types, stored/computed/static members, methods,
initializers and parameter types; extensions merge into their type).  Then it resolves, with a
small local type inference (``self``, parameters, typed and constructed locals, members, array
subscripts, ``try``), and fails when a member does not exist:

* implicit member expressions ``.name``: in ``switch`` cases and ``if case`` patterns over a value
  of a project type, in call arguments whose parameter type is a project type (memberwise and
  declared initializers, methods, static functions), in typed property initializers (also inside
  tuple/array literals of a typed property), on either side of ``==``/``!=``, in ``return`` of a
  function or computed property typed with a project type (also an element of a returned tuple,
  and in a trailing closure passed to a project function whose parameter says the closure's result
  type, e.g. ``perform { runner in return (.similarity(...), micros) }``), and on the right of an
  assignment;
* explicit members ``Type.name`` (e.g. ``ModelInfo.imageWidth`` from another file) and
  ``value.name`` where the value's type is a project type.

``check(project)`` returns ``(problems, stats)``: ``stats`` counts what was resolved and checked,
so a test can require that the check really covered the switches it exists for.  Its problems also
hold ``wordpiece_problems``: the app's WordPiece (Tokenizer.swift) against mobilepack.data.wordpiece,
table by table and step by step (see the end of this module), and ``image_input_problems``: the app's
image preprocessing against mobilepack's reader, with no interpolating resize (tests/swift_image_input.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Members a declared type gets from the protocols or raw types it adopts (not written in the source).
_PROTOCOL_MEMBERS = {
    "CaseIterable": ({"allCases"}, set()),
    "Identifiable": (set(), {"id"}),
    "Error": (set(), {"localizedDescription"}),
    "LocalizedError": (set(), {"localizedDescription", "errorDescription"}),
    "ObservableObject": (set(), {"objectWillChange"}),
    "Hashable": (set(), {"hashValue"}),
    "View": (set(), {"body"}),
    "NSObject": (set(), {"description", "hash"}),
}
_RAW_TYPES = {"String", "Int", "Int32", "UInt8", "Double", "Float"}
# Adopting these adds no member beyond _PROTOCOL_MEMBERS: a type that inherits anything else (a
# SwiftUI View, an NSObject subclass, a UIKit protocol) or is an extension of an SDK type is "open":
# its members are not all written in the project, so a missing one is not reported.
_CLOSED = {"CaseIterable", "Identifiable", "Error", "LocalizedError", "ObservableObject", "Hashable", "Equatable",
           "Sendable", "Codable"} | _RAW_TYPES


@dataclass
class Function:
    params: list[tuple[str, str | None]]      # (external label or "_", type text)
    returns: str | None
    static: bool


@dataclass
class TypeDecl:
    name: str                      # qualified: "DemoModel.DelegateStatus"
    kind: str                      # enum, struct, class, protocol
    cases: dict[str, int] = field(default_factory=dict)            # case -> payload arity
    members: dict[str, str | None] = field(default_factory=dict)   # instance properties -> type
    statics: dict[str, str | None] = field(default_factory=dict)   # static properties -> type
    methods: dict[str, list[Function]] = field(default_factory=dict)
    inits: list[Function] = field(default_factory=list)
    stored: list[tuple[str, str | None, bool]] = field(default_factory=list)  # (name, type, has default)
    inherits: set[str] = field(default_factory=set)
    nested: set[str] = field(default_factory=set)
    where: str = ""


def _text(node) -> str:
    return node.text.decode("utf-8")


def _named(node, type_: str):
    return [c for c in node.named_children if c.type == type_]


def _field(node, name: str):
    return node.child_by_field_name(name)


def _type_text(node) -> str | None:
    """A type annotation's text, normalized ("ElementType", "[TensorInfo]", "(Accelerator, Int)")."""
    if node is None:
        return None
    if node.type == "type_annotation":
        node = _field(node, "name") or (node.named_children[0] if node.named_children else None)
        if node is None:
            return None
    return re.sub(r"\s+", " ", _text(node)).strip()


def _strip_optional(t: str | None) -> str | None:
    if t is None:
        return None
    t = t.strip()
    while t.endswith(("?", "!")):
        t = t[:-1]
    return t


def _is_static(node) -> bool:
    mods = _named(node, "modifiers")
    return bool(mods) and re.search(r"\b(static|class)\b", _text(mods[0])) is not None


def _parameters(node) -> list[tuple[str, str | None]]:
    out = []
    for p in _named(node, "parameter"):
        name = _field(p, "name")
        external = _field(p, "external_name")
        label = _text(external) if external is not None else (_text(name) if name is not None else "_")
        types = [c for c in p.named_children if c.type.endswith("_type") or c.type == "user_type"]
        out.append((label, _type_text(types[-1]) if types else None))
    return out


def _param_names(node) -> dict[str, str | None]:
    out = {}
    for p in _named(node, "parameter"):
        name = _field(p, "name")
        types = [c for c in p.named_children if c.type.endswith("_type") or c.type == "user_type"]
        if name is not None:
            out[_text(name)] = _type_text(types[-1]) if types else None
    return out


def _return_type(fn) -> str | None:
    seen_arrow = False
    for c in fn.children:
        if c.type == "->":
            seen_arrow = True
        elif seen_arrow and c.is_named:
            return _type_text(c)
    return None


class Project:
    """The types a set of Swift files declares."""

    def __init__(self, trees: dict[str, object]):
        self.trees = trees
        self.types: dict[str, TypeDecl] = {}
        self._names: set[str] = set()
        for tree in trees.values():          # first the names, so a member may use a type declared later
            self._collect_names(tree.root_node)
        for where, tree in trees.items():
            self._collect(tree.root_node, None, where)

    def _collect_names(self, node) -> None:
        for child in node.named_children:
            if child.type in ("class_declaration", "protocol_declaration"):
                name = _field(child, "name")
                if name is not None:
                    self._names.add(_text(name))
            if child.type in ("class_declaration", "protocol_declaration", "class_body", "enum_class_body",
                              "statements"):
                self._collect_names(child)

    # -- declarations ---------------------------------------------------------------------------

    def _collect(self, node, outer: str | None, where: str) -> None:
        for child in node.named_children:
            if child.type in ("class_declaration", "protocol_declaration"):
                self._declare(child, outer, where)
            elif child.type in ("statements",):
                self._collect(child, outer, where)

    def _declare(self, node, outer: str | None, where: str) -> None:
        kind_node = _field(node, "declaration_kind")
        kind = _text(kind_node) if kind_node is not None else node.type.split("_")[0]
        name_node = _field(node, "name")
        if name_node is None:
            return
        base = _text(name_node)
        if kind == "extension":
            qualified = base
        else:
            qualified = f"{outer}.{base}" if outer else base
            if outer:
                self.types[outer].nested.add(base)
        decl = self.types.setdefault(qualified, TypeDecl(qualified, kind, where=where))
        if kind != "extension":
            decl.kind = kind
        for spec in _named(node, "inheritance_specifier"):
            decl.inherits.add(_text(spec).split(".")[-1])
        body = _field(node, "body")
        if body is None:
            return
        for member in body.named_children:
            t = member.type
            if t == "enum_entry":
                names = [c for c in member.children if c.type == "simple_identifier"]
                payloads = _named(member, "enum_type_parameters")
                for n in names:
                    decl.cases[_text(n)] = 0
                if payloads and names:
                    decl.cases[_text(names[-1])] = max(1, _text(payloads[0]).count(",") + 1)
            elif t == "property_declaration":
                static = _is_static(member)
                ptype = _type_text(next(iter(_named(member, "type_annotation")), None))
                value = _field(member, "value")
                if ptype is None and value is not None:
                    ptype = self._literal_type(value, qualified)
                for pattern in [c for c in member.children if c.type == "pattern"]:
                    ident = _field(pattern, "bound_identifier")
                    if ident is None:
                        continue
                    (decl.statics if static else decl.members)[_text(ident)] = ptype
                    if not static and not _named(member, "computed_property"):
                        decl.stored.append((_text(ident), ptype, value is not None))
            elif t == "function_declaration":
                name = _field(member, "name")
                if name is not None:
                    decl.methods.setdefault(_text(name), []).append(
                        Function(_parameters(member), _return_type(member), _is_static(member)))
            elif t == "init_declaration":
                decl.inits.append(Function(_parameters(member), qualified, True))
            elif t in ("class_declaration", "protocol_declaration"):
                self._declare(member, qualified, where)

    def _literal_type(self, value, owner: str) -> str | None:
        """The type of an initializer without annotation: `T(...)` or `T.member`."""
        if value.type == "call_expression":
            callee = value.named_children[0]
            if callee.type == "simple_identifier" and _text(callee) in self._names:
                return _text(callee)
        return None

    def lookup_type(self, name: str | None, scope: str | None) -> str | None:
        """The qualified project type ``name`` refers to from inside ``scope`` (nested first)."""
        name = _strip_optional(name)
        if not name:
            return None
        if name in self.types and "." in name:
            return name
        parts = scope.split(".") if scope else []
        while parts:
            candidate = ".".join(parts + [name])
            if candidate in self.types:
                return candidate
            parts.pop()
        return name if name in self.types else None

    # -- members ------------------------------------------------------------------------------

    def _extra(self, decl: TypeDecl) -> tuple[set[str], set[str]]:
        statics, members = set(), set()
        for proto in decl.inherits:
            s, m = _PROTOCOL_MEMBERS.get(proto, (set(), set()))
            statics |= s
            members |= m
            if decl.kind == "enum" and proto in _RAW_TYPES:
                members.add("rawValue")
                statics.add("init")
        return statics, members

    def is_open(self, type_name: str) -> bool:
        decl = self.types[type_name]
        return decl.kind in ("extension", "protocol") or bool(decl.inherits - _CLOSED)

    def static_member(self, type_name: str, member: str) -> bool:
        decl = self.types[type_name]
        statics, _ = self._extra(decl)
        return (member in decl.cases or member in decl.statics or member in decl.nested or member in statics
                or any(f.static for f in decl.methods.get(member, [])) or member in ("init", "self", "Type"))

    def instance_member(self, type_name: str, member: str) -> bool:
        decl = self.types[type_name]
        _, members = self._extra(decl)
        return member in decl.members or member in decl.methods or member in members or member == "self"

    def member_type(self, type_name: str, member: str, static: bool) -> str | None:
        decl = self.types[type_name]
        if static:
            if member in decl.cases:
                return type_name
            if member in decl.nested:
                return "meta:" + f"{type_name}.{member}"
            t = decl.statics.get(member)
        else:
            t = decl.members.get(member)
        return t


@dataclass
class Scope:
    owner: str | None                   # enclosing project type
    names: dict[str, str | None]        # parameters and locals of the enclosing function(s)
    returns: str | None                 # declared result type of the enclosing function/property


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside parentheses and brackets."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        depth += c in "([<"
        depth -= c in ")]>" and not (c == ">" and text[i - 1:i] == "-")
        if depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i].strip())
            start = i = i + len(sep)
            continue
        i += 1
    return parts + [text[start:].strip()]


def _tuple_types(t: str | None) -> list[str] | None:
    """The element types of a tuple type "(A, B)"; None for any other type."""
    if not t or not (t.startswith("(") and t.endswith(")")):
        return None
    parts = _split_top(t[1:-1], ",")
    return parts if len(parts) > 1 else None


def _closure_result(function_type: str | None) -> str | None:
    """The result type of a function type "(A) throws -> R" (None for any other type)."""
    parts = _split_top(function_type or "", "->")
    return parts[-1] if len(parts) > 1 else None


def _enclosing(node, types: tuple[str, ...]):
    node = node.parent
    while node is not None and node.type not in types:
        node = node.parent
    return node


class Checker:
    def __init__(self, project: Project):
        self.p = project
        self.problems: list[str] = []
        self.stats = {"implicit_checked": 0, "implicit_unresolved": 0, "switches_checked": 0,
                      "explicit_checked": 0}
        self.switched: set[str] = set()    # "file:type" of the switches checked

    # -- scopes ---------------------------------------------------------------------------------

    def owner_of(self, node) -> str | None:
        names = []
        n = node.parent
        while n is not None:
            if n.type in ("class_declaration", "protocol_declaration"):
                name = _field(n, "name")
                if name is not None:
                    names.append(_text(name))
                kind = _field(n, "declaration_kind")
                if kind is not None and _text(kind) == "extension":
                    break
            n = n.parent
        return ".".join(reversed(names)) or None

    def scope_of(self, node) -> Scope:
        owner = self.owner_of(node)
        names: dict[str, str | None] = {}
        returns = None
        n = node.parent
        while n is not None and n.type not in ("class_body", "enum_class_body", "source_file"):
            if n.type in ("function_declaration", "init_declaration"):
                for k, v in _param_names(n).items():
                    names.setdefault(k, v)
                if returns is None and n.type == "function_declaration":
                    returns = _return_type(n) or "Void"
                self._locals(n, names, owner)
            elif n.type == "property_declaration" and returns is None and _named(n, "computed_property"):
                returns = _type_text(next(iter(_named(n, "type_annotation")), None))
            elif n.type == "lambda_literal" and returns is None:
                # a trailing closure's result type, from the parameter it is passed to; else unknown
                returns = self._trailing_closure_result(n, Scope(owner, dict(names), None)) or "?"
            n = n.parent
        if returns is None and n is not None and n.type == "source_file":
            self._locals(n, names, owner)
        return Scope(owner, names, None if returns in ("?", "Void") else returns)

    def _trailing_closure_result(self, closure, scope: Scope) -> str | None:
        """``f { ... }``: the result type the last parameter of the project function ``f`` gives the closure."""
        if closure.parent is None or closure.parent.type != "call_suffix" or closure.parent.parent is None:
            return None
        fns = self.callee_function(closure.parent.parent.named_children[0], scope) or []
        results = {_closure_result(fn.params[-1][1]) for fn in fns if fn.params}
        return results.pop() if len(results) == 1 else None

    def _locals(self, fn, names: dict[str, str | None], owner: str | None) -> None:
        stack = list(fn.named_children)
        while stack:
            n = stack.pop()
            if n.type in ("function_declaration", "class_declaration"):
                continue
            if n.type == "property_declaration":
                annotated = _type_text(next(iter(_named(n, "type_annotation")), None))
                value = _field(n, "value")
                for pattern in [c for c in n.children if c.type == "pattern"]:
                    ident = _field(pattern, "bound_identifier")
                    if ident is not None and _text(ident) not in names:
                        names[_text(ident)] = annotated or (self.expr_type(value, Scope(owner, {}, None))
                                                            if value is not None else None)
            stack.extend(n.named_children)

    # -- types of expressions -------------------------------------------------------------------

    def resolve(self, t: str | None, scope: Scope) -> str | None:
        if t is None:
            return None
        if t.startswith("meta:"):
            return t
        return self.p.lookup_type(t, scope.owner)

    def expr_type(self, node, scope: Scope) -> str | None:
        """The project type (or "meta:Type" for a type name, "[T]" for arrays) of an expression."""
        if node is None:
            return None
        t = node.type
        if t == "self_expression":
            return scope.owner
        if t in ("try_expression", "await_expression", "parenthesized_expression"):
            inner = [c for c in node.named_children]
            return self.expr_type(inner[-1], scope) if inner else None
        if t == "simple_identifier":
            name = _text(node)
            if name in scope.names:
                return self._known(scope.names[name], scope)
            owner = scope.owner
            while owner:
                decl = self.p.types.get(owner)
                if decl and name in decl.members:
                    return self._known(decl.members[name], scope)
                if decl and name in decl.statics:
                    return self._known(decl.statics[name], scope)
                owner = owner.rpartition(".")[0] or None
            found = self.p.lookup_type(name, scope.owner)
            return "meta:" + found if found else None
        if t == "navigation_expression":
            target = _field(node, "target")
            suffix = _field(node, "suffix")
            if target is None or suffix is None:
                return None
            member = _field(suffix, "suffix")
            if member is None:
                return None
            base = self.expr_type(target, scope)
            if base is None:
                return None
            name = _text(member)
            if base.startswith("meta:"):
                return self._known(self.p.member_type(base[5:], name, static=True), Scope(base[5:], {}, None))
            if base in self.p.types:
                return self._known(self.p.member_type(base, name, static=False), Scope(base, {}, None))
            return None
        if t == "call_expression":
            callee = node.named_children[0]
            suffix = next(iter(_named(node, "call_suffix")), None)
            if suffix is not None and _text(suffix).startswith("["):       # subscript
                base = self.expr_type(callee, scope)
                if base and base.startswith("[") and base.endswith("]"):
                    return self.resolve(base[1:-1].strip(), scope)
                return None
            base = self.expr_type(callee, scope)
            if base and base.startswith("meta:"):
                return base[5:]                                              # T(...)
            fn = self.callee_function(callee, scope)
            if fn is not None:
                return self._known(fn[0].returns, scope)
            return None
        return None

    def _known(self, t: str | None, scope: Scope) -> str | None:
        t = _strip_optional(t)
        if t is None:
            return None
        if t.startswith("meta:"):
            return t
        if t.startswith("[") and t.endswith("]") and ":" not in t:
            inner = self.p.lookup_type(t[1:-1].strip(), scope.owner)
            return f"[{inner}]" if inner else None
        return self.p.lookup_type(t, scope.owner)

    def callee_function(self, callee, scope: Scope) -> list[Function] | None:
        """The declared functions/initializers a call's callee names, when it names project ones."""
        if callee.type == "simple_identifier":
            name = _text(callee)
            found = self.p.lookup_type(name, scope.owner)
            if found:
                return self._initializers(found)
            owner = scope.owner
            while owner:
                decl = self.p.types.get(owner)
                if decl and name in decl.methods:
                    return decl.methods[name]
                owner = owner.rpartition(".")[0] or None
            return None
        if callee.type == "navigation_expression":
            target, suffix = _field(callee, "target"), _field(callee, "suffix")
            member = _field(suffix, "suffix") if suffix is not None else None
            if target is None or member is None:
                return None
            base = self.expr_type(target, scope)
            if base is None:
                return None
            name = _text(member)
            type_name = base[5:] if base.startswith("meta:") else base
            decl = self.p.types.get(type_name)
            if decl is None:
                return None
            if name == "init":
                return self._initializers(type_name)
            return decl.methods.get(name)
        return None

    def _initializers(self, type_name: str) -> list[Function]:
        decl = self.p.types[type_name]
        if decl.inits:
            return decl.inits
        if decl.kind == "struct":       # the memberwise initializer (defaulted members optional)
            full = Function([(n, t) for n, t, _ in decl.stored], type_name, True)
            required = Function([(n, t) for n, t, d in decl.stored if not d], type_name, True)
            return [full, required]
        return [Function([], type_name, True)]

    # -- checks ---------------------------------------------------------------------------------

    def fail(self, where: str, node, message: str) -> None:
        self.problems.append(f"{where}:{node.start_point[0] + 1}: {message}")

    def check_case(self, where: str, node, name: str, expected: str | None, context: str) -> None:
        if expected is None or expected.startswith(("meta:", "[")) or expected not in self.p.types or \
                self.p.is_open(expected):
            self.stats["implicit_unresolved"] += 1
            return
        self.stats["implicit_checked"] += 1
        if not self.p.static_member(expected, name):
            decl = self.p.types[expected]
            known = sorted(decl.cases) or sorted(decl.statics)
            self.fail(where, node, f"type '{expected}' has no member '{name}' ({context}; it has: "
                                   f"{', '.join(known) or 'no cases'})")

    def run(self) -> None:
        for where, tree in self.p.trees.items():
            stack = [tree.root_node]
            while stack:
                node = stack.pop()
                stack.extend(node.named_children)
                if node.type == "switch_statement":
                    self.check_switch(where, node)
                elif node.type == "if_statement":
                    self.check_if_case(where, node)
                elif node.type == "prefix_expression" and self._is_implicit_member(node):
                    self.check_implicit(where, node)
                elif node.type == "navigation_expression":
                    self.check_navigation(where, node)

    @staticmethod
    def _is_implicit_member(node) -> bool:
        op = _field(node, "operation")
        target = _field(node, "target")
        return op is not None and _text(op) == "." and target is not None

    @staticmethod
    def _implicit_name(node) -> str:
        target = _field(node, "target")
        if target.type == "call_expression":            # .classification(...)
            target = target.named_children[0]
        return _text(target).split("(")[0]

    def check_switch(self, where: str, node) -> None:
        scope = self.scope_of(node)
        subject = self.resolve(self.expr_type(_field(node, "expr"), scope), scope)
        if subject is None or subject not in self.p.types:
            return
        self.stats["switches_checked"] += 1
        self.switched.add(f"{where}:{subject}")
        covered: set[str] = set()
        has_default = False
        for entry in _named(node, "switch_entry"):
            if _named(entry, "default_keyword"):
                has_default = True
            for pattern in _named(entry, "switch_pattern"):
                names = self._pattern_case_names(pattern)
                if not names or "where_keyword" in [c.type for c in entry.children]:
                    has_default = has_default or not names and "let" in _text(pattern)
                for name_node in names:
                    self.check_case(where, name_node, _text(name_node), subject, "switch case")
                    if "where_keyword" not in [c.type for c in entry.children]:
                        covered.add(_text(name_node))
        cases = set(self.p.types[subject].cases)
        if cases and not has_default and not self.p.is_open(subject) and cases - covered:
            self.fail(where, node, f"switch over '{subject}' must be exhaustive: no case for "
                                   f"{', '.join('.' + c for c in sorted(cases - covered))}")

    @staticmethod
    def _pattern_case_names(pattern) -> list:
        """The `.name` of each alternative of a case pattern (`case .a, .b(let x):`)."""
        out = []
        stack = [pattern]
        while stack:
            n = stack.pop()
            kids = n.children
            for i, c in enumerate(kids):
                if c.type == "." and i + 1 < len(kids) and kids[i + 1].type == "simple_identifier" and \
                        (i == 0 or kids[i - 1].type in (",", "case")):
                    out.append(kids[i + 1])
            stack.extend(c for c in n.named_children if c.type == "pattern")
        return out

    def check_if_case(self, where: str, node) -> None:
        kids = node.children
        for i, c in enumerate(kids):
            if c.type == "case" and i + 2 < len(kids) and kids[i + 1].type == "." and \
                    kids[i + 2].type == "simple_identifier":
                j = next((k for k in range(i + 2, len(kids)) if kids[k].type == "="), None)
                if j is None or j + 1 >= len(kids):
                    continue
                scope = self.scope_of(node)
                subject = self.resolve(self.expr_type(kids[j + 1], scope), scope)
                self.check_case(where, kids[i + 2], _text(kids[i + 2]), subject, "if case pattern")

    def expected_type(self, node, scope: Scope) -> tuple[str | None, str]:
        """The type an implicit member expression must belong to, from where it stands."""
        parent = node.parent
        if parent.type == "call_expression" and parent.named_children and parent.named_children[0].id == node.id:
            node, parent = parent, parent.parent          # `.case(payload)`: where the call stands
        if parent.type == "value_argument":
            call = _enclosing(parent, ("call_expression",))
            if call is None:
                return None, "argument"
            args = [a for a in _named(_named(call, "call_suffix")[0], "value_arguments")[0].named_children
                    if a.type == "value_argument"] if _named(call, "call_suffix") and \
                _named(_named(call, "call_suffix")[0], "value_arguments") else []
            fns = self.callee_function(call.named_children[0], scope)
            if not fns:
                return None, "argument"
            labels = []
            for a in args:
                label = _field(a, "name")
                labels.append(_text(label).rstrip(":").strip() if label is not None else "_")
            index = next(i for i, a in enumerate(args) if a.id == parent.id)
            for fn in fns:
                if [lab for lab, _ in fn.params] == labels:
                    return self._known(fn.params[index][1], scope), f"argument '{labels[index]}:'"
            return None, "argument"
        if parent.type == "property_declaration" and _field(parent, "value") is not None and \
                _field(parent, "value").id == node.id:
            return self._known(_type_text(next(iter(_named(parent, "type_annotation")), None)), scope), \
                "property initializer"
        if parent.type == "tuple_expression" and parent.parent is not None and parent.parent.type == "array_literal":
            decl = parent.parent.parent
            if decl is not None and decl.type == "property_declaration":
                annotated = _type_text(next(iter(_named(decl, "type_annotation")), None)) or ""
                m = re.fullmatch(r"\[\((.*)\)\]", annotated)
                if m:
                    elements = [e.strip() for e in m[1].split(",")]
                    values = [c for c in parent.named_children]
                    index = next(i for i, v in enumerate(values) if v.id == node.id)
                    if index < len(elements):
                        return self._known(elements[index], scope), "tuple element"
            return None, "tuple element"
        if parent.type == "equality_expression":
            other = _field(parent, "lhs") if _field(parent, "rhs") is not None and \
                _field(parent, "rhs").id == node.id else _field(parent, "rhs")
            return self.resolve(self.expr_type(other, scope), scope), "comparison"
        if parent.type == "control_transfer_statement" and _text(parent).startswith("return"):
            return self._known(scope.returns, scope), "returned value"
        statement = parent.parent
        if parent.type == "tuple_expression" and statement is not None and \
                statement.type == "control_transfer_statement" and _text(statement).startswith("return"):
            elements = _tuple_types(scope.returns) or []
            index = next(i for i, v in enumerate(parent.named_children) if v.id == node.id)
            return (self._known(elements[index], scope) if index < len(elements) else None), "returned tuple element"
        if parent.type == "assignment":
            target = _field(parent, "target")
            if target is not None and target.id != node.id:
                inner = target.named_children[0] if target.named_children else target
                return self.resolve(self.expr_type(inner, scope), scope), "assigned value"
        return None, "expression"

    def check_implicit(self, where: str, node) -> None:
        scope = self.scope_of(node)
        expected, context = self.expected_type(node, scope)
        self.check_case(where, node, self._implicit_name(node), expected, context)

    def check_navigation(self, where: str, node) -> None:
        target, suffix = _field(node, "target"), _field(node, "suffix")
        member = _field(suffix, "suffix") if suffix is not None else None
        if target is None or member is None or member.type != "simple_identifier":
            return
        if node.parent is not None and node.parent.type == "navigation_expression" and \
                _field(node.parent, "target") is not None and _field(node.parent, "target").id != node.id:
            return
        scope = self.scope_of(node)
        base = self.expr_type(target, scope)
        if base is None:
            return
        name = _text(member)
        if base.startswith("meta:"):
            type_name = base[5:]
            if type_name not in self.p.types or self.p.is_open(type_name):
                return
            self.stats["explicit_checked"] += 1
            if not self.p.static_member(type_name, name):
                self.fail(where, member, f"type '{type_name}' has no member '{name}'")
        elif base in self.p.types and not self.p.is_open(base):
            self.stats["explicit_checked"] += 1
            if not self.p.instance_member(base, name):
                self.fail(where, member, f"value of type '{base}' has no member '{name}'")


def parse_sources(sources: dict[str, bytes]) -> dict[str, object]:
    import tree_sitter
    import tree_sitter_swift

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    return {name: parser.parse(data) for name, data in sources.items()}


def check_sources(sources: dict[str, bytes]) -> tuple[list[str], dict]:
    trees = parse_sources(sources)
    checker = Checker(Project(trees))
    checker.run()
    stats = dict(checker.stats, switched=sorted(checker.switched), types=sorted(checker.p.types))
    from tests.swift_image_input import image_input_problems

    return checker.problems + wordpiece_problems(trees) + image_input_problems(trees), stats


def check(project: Path) -> tuple[list[str], dict]:
    """(problems, stats) for every ``.swift`` file under ``project``."""
    files = sorted(p for p in project.rglob("*.swift") if "Pods" not in p.parts)
    return check_sources({str(p.relative_to(project)): p.read_bytes() for p in files})


def problems(project: Path) -> list[str]:
    return check(project)[0]


# --- WordPiece: the steps of mobilepack.data.wordpiece ------------------------------------------------
#
# The iOS app's WordPiece (Tokenizer.swift) cannot be run here, so its steps are checked on the parse
# against Python's tokenizer: the tables (CJK blocks, ASCII punctuation, the general categories that
# are punctuation, whitespace or dropped) and constants (100 scalars, "##", the special tokens) equal
# Python's; each step function does its step (clean drops and spaces, fold lower-cases per scalar then
# drops the non-spacing marks of the NFD, words runs clean -> fold when lower-casing -> split, split
# cuts at spaces, CJK and punctuation, pieces is greedy longest-first with "##" and [UNK], encode cuts
# to length - 2 between [CLS] and [SEP] and pads with 0).  tests/test_android_jvm.py runs the Kotlin
# twin of this code against Python on real text.

# Unicode general categories by their abbreviation, as Swift's Unicode.GeneralCategory names them.
SWIFT_CATEGORIES = {
    "Lu": "uppercaseLetter", "Ll": "lowercaseLetter", "Lt": "titlecaseLetter", "Lm": "modifierLetter",
    "Lo": "otherLetter", "Mn": "nonspacingMark", "Mc": "spacingMark", "Me": "enclosingMark",
    "Nd": "decimalNumber", "Nl": "letterNumber", "No": "otherNumber", "Pc": "connectorPunctuation",
    "Pd": "dashPunctuation", "Ps": "openPunctuation", "Pe": "closePunctuation", "Pi": "initialPunctuation",
    "Pf": "finalPunctuation", "Po": "otherPunctuation", "Sm": "mathSymbol", "Sc": "currencySymbol",
    "Sk": "modifierSymbol", "So": "otherSymbol", "Zs": "spaceSeparator", "Zl": "lineSeparator",
    "Zp": "paragraphSeparator", "Cc": "control", "Cf": "format", "Cs": "surrogate", "Co": "privateUse",
    "Cn": "unassigned",
}
WORDPIECE_STEPS = ("clean", "fold", "split", "words", "pieces", "encode", "isWhitespace", "isDropped", "isCjk",
                   "isPunctuation")


def _code(node) -> str:
    """A node's source without comments, whitespace runs made one space."""
    return re.sub(r"\s+", " ", re.sub(r"//[^\n]*", "", _text(node))).strip()


def _members_of(type_node) -> tuple[dict, dict]:
    """(functions, properties) declared in a type's body, by name."""
    functions, properties = {}, {}
    for body in (c for c in type_node.named_children if c.type.endswith("body")):
        for m in body.named_children:
            name = _field(m, "name")
            if m.type == "function_declaration" and name is not None:
                functions[_text(name)] = m
            elif m.type == "property_declaration":
                for pattern in _named(m, "pattern"):
                    properties[_text(pattern)] = m
    return functions, properties


def _literal_value(node):
    """The value of an integer/hex/string literal, a range of two, or an array of those."""
    if node.type in ("integer_literal", "hex_literal"):
        return int(_text(node).replace("_", ""), 0)
    if node.type == "line_string_literal":
        return "".join(_text(c) for c in node.named_children if c.type == "line_str_text")
    if node.type == "range_expression":
        return tuple(_literal_value(c) for c in node.named_children)
    if node.type == "array_literal":
        return [_literal_value(c) for c in node.named_children]
    if node.type == "prefix_expression":   # an implicit member: .name
        return "." + _code(node).lstrip(".")
    return None


def _value(prop):
    """The initial value of a property declaration (its last named child that is a literal)."""
    values = [c for c in prop.named_children if c.type not in ("modifiers", "value_binding_pattern", "pattern",
                                                               "type_annotation", "comment")]
    return _literal_value(values[-1]) if values else None


def _wordpiece_tables(properties: dict) -> list[str]:
    from mobilepack.data import wordpiece as wp

    def categories(names) -> list[str]:
        return sorted("." + SWIFT_CATEGORIES[c] for c in names)

    expected = {
        "cjk": [tuple(r) for r in wp.CJK_RANGES], "asciiPunctuation": [tuple(r) for r in wp.ASCII_PUNCTUATION],
        "punctuation": categories(c for c in SWIFT_CATEGORIES if c.startswith("P")),
        "whitespace": categories(wp.WHITESPACE_CATEGORIES), "dropped": categories(wp.DROPPED_CATEGORIES),
        "tabAndLineBreaks": [9, 10, 13], "maxWordScalars": wp.MAX_WORD_CHARS, "continuation": list(wp.CONTINUATION),
        "unknownToken": wp.UNKNOWN, "startToken": wp.START, "endToken": wp.END,
    }
    problems = []
    for name, want in expected.items():
        if name not in properties:
            problems.append(f"WordPiece has no '{name}' (Python's is {want!r})")
            continue
        got = _value(properties[name])
        if name in ("punctuation", "whitespace", "dropped") and isinstance(got, list):
            got = sorted(got)
        if got != want:
            problems.append(f"WordPiece.{name} is {got!r}, Python's is {want!r}")
    return problems


# What each step's code must contain (comments and whitespace runs ignored), and what it means.
_STEP_RULES = (
    ("isWhitespace", ("s.value == 0x20", "tabAndLineBreaks.contains(s.value)",
                      "whitespace.contains(s.properties.generalCategory)"), "space, tab/CR/LF and Zs/Zl/Zp are whitespace"),
    ("isDropped", ("if tabAndLineBreaks.contains(s.value) { return false }", "s.value == 0 ", "s.value == 0xFFFD",
                   "dropped.contains(s.properties.generalCategory)"), "NUL, U+FFFD and Cc/Cf/Cs/Co but tab/CR/LF are dropped"),
    ("isCjk", ("cjk.contains { $0.contains(s.value) }",), "the CJK blocks are split"),
    ("isPunctuation", ("asciiPunctuation.contains { $0.contains(s.value) }",
                       "punctuation.contains(s.properties.generalCategory)"), "ASCII and P* punctuation is split"),
    ("clean", ("where !isDropped(s)", "isWhitespace(s) ? \" \" : s"), "clean drops characters and makes whitespace a space"),
    ("fold", ("s.properties.lowercaseMapping.unicodeScalars", "decomposedStringWithCanonicalMapping"),
     "fold lower-cases each scalar and decomposes (NFD)"),
    ("words", ("WordPiece.clean(text)", "lowerCase ? WordPiece.fold(cleaned) : cleaned", "WordPiece.split("),
     "words runs clean, fold (when lower-casing), split"),
    ("split", ("s == \" \" || isCjk(s) || isPunctuation(s)", "words.append([s])"),
     "split cuts at spaces and around CJK and punctuation"),
    ("pieces", ("word.count > WordPiece.maxWordScalars { return [unknown] }", "from > 0 ? WordPiece.continuation : []",
                "var to = word.count", "to -= 1", "guard let id = found else { return [unknown] }"),
     "pieces is greedy longest-first with ## and [UNK]"),
    ("encode", (".prefix(length - 2)", "[start] + body + [end]", "[Int](repeating: 0, count: length - real.count)",
                "mask: [Int](repeating: 1, count: real.count) + pad", "segmentIds: [Int](repeating: 0, count: length)"),
     "encode is [CLS] pieces [SEP], cut to the length and zero-padded"),
)


def _fold_drops_marks(fold) -> bool:
    """The loop (or filter) over the NFD keeps only scalars that are not non-spacing marks."""
    for node in _descendants(fold):
        if node.type == "for_statement" and "decomposedStringWithCanonicalMapping" in _code(node).split("{")[0]:
            where = _named(node, "where_clause")
            return bool(where) and re.fullmatch(r"where \w+\.properties\.generalCategory != \.nonspacingMark",
                                                _code(where[0])) is not None
        if node.type == "call_expression" and re.search(r"decomposedStringWithCanonicalMapping\.unicodeScalars\s*"
                                                        r"\.filter \{ \$0\.properties\.generalCategory != "
                                                        r"\.nonspacingMark \}", _code(node)):
            return True
    return False


def _descendants(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.named_children))


def wordpiece_problems(trees: dict[str, object]) -> list[str]:
    """Where the app's WordPiece departs from mobilepack.data.wordpiece (empty when no Tokenizer.swift)."""
    if not any(name.endswith("Tokenizer.swift") for name in trees):
        return []
    declared = [n for tree in trees.values() for n in tree.root_node.named_children
                if n.type == "class_declaration" and _field(n, "name") is not None and _text(_field(n, "name")) == "WordPiece"]
    if len(declared) != 1:
        return [f"Tokenizer.swift: expected one struct WordPiece, found {len(declared)}"]
    functions, properties = _members_of(declared[0])
    problems = [f"WordPiece has no step '{name}'" for name in WORDPIECE_STEPS if name not in functions]
    problems += _wordpiece_tables(properties)
    for name, fragments, meaning in _STEP_RULES:
        code = _code(functions[name]) if name in functions else ""
        problems += [f"WordPiece.{name}: no `{f}` ({meaning})" for f in fragments if f not in code]
    if "fold" in functions and not _fold_drops_marks(functions["fold"]):
        problems.append("WordPiece.fold: the NFD's non-spacing marks (Mn) are not dropped (accents would stay)")
    return problems
