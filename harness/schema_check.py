"""A small JSON-Schema subset validator (stdlib only) for the harness's own
output.  Supported keywords: type (string or list), enum, required,
properties, additionalProperties (bool or schema), items, minimum,
maximum, minItems, minLength, $ref to "#/definitions/NAME".
Returns a list of "path: problem" strings; empty means valid."""

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value, schema, root=None, path="$"):
    root = schema if root is None else root
    errors = []
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/definitions/"):
            return ["%s: unsupported $ref %r" % (path, ref)]
        name = ref[len("#/definitions/"):]
        target = root.get("definitions", {}).get(name)
        if target is None:
            return ["%s: unknown definition %r" % (path, name)]
        return validate(value, target, root, path)
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        for ty in types:
            if ty not in _TYPES:
                return ["%s: schema uses unknown type %r" % (path, ty)]
        if not any(_TYPES[ty](value) for ty in types):
            return ["%s: expected %s, got %s" % (path, "/".join(types), type(value).__name__)]
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r not one of %r" % (path, value, schema["enum"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: %r below minimum %r" % (path, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: %r above maximum %r" % (path, value, schema["maximum"]))
    if isinstance(value, str) and "minLength" in schema and len(value) < schema["minLength"]:
        errors.append("%s: string shorter than %d" % (path, schema["minLength"]))
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                errors.append("%s: missing required key %r" % (path, k))
        props = schema.get("properties", {})
        addl = schema.get("additionalProperties", True)
        for k, v in value.items():
            sub = "%s.%s" % (path, k)
            if k in props:
                errors += validate(v, props[k], root, sub)
            elif addl is False:
                errors.append("%s: unexpected key" % sub)
            elif isinstance(addl, dict):
                errors += validate(v, addl, root, sub)
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "items" in schema:
            for i, v in enumerate(value):
                errors += validate(v, schema["items"], root, "%s[%d]" % (path, i))
    return errors
