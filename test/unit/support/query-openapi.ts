/**
 * Reading openapi.yaml without a YAML dependency, and checking JSON against its schemas.
 *
 * - `parseYamlSubset` reads the block YAML the document is written in: nested mappings and
 *   sequences by indentation, plain / single- / double-quoted scalars, flow sequences of scalars
 *   (`[a, b]`), folded scalars (`>-`). It throws on anything else, so the document stays inside it.
 * - `validate` checks a value against a JSON Schema (2020-12 keywords the document uses: $ref,
 *   type, enum, required, properties, additionalProperties, items, prefixItems, min/maxItems,
 *   min/maxLength, pattern, minimum, maximum, oneOf) and returns the violations.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Line {
  readonly indent: number;
  readonly text: string;
  readonly no: number;
}

export function parseYamlSubset(src: string): Json {
  const lines: Line[] = [];
  src.split('\n').forEach((raw, i) => {
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    if (raw.includes('\t')) throw new SyntaxError(`line ${i + 1}: tab`);
    lines.push({ indent: raw.length - raw.trimStart().length, text: raw.trim(), no: i + 1 });
  });
  let pos = 0;

  function node(indent: number): Json {
    const l = lines[pos]!;
    if (l.indent !== indent) throw new SyntaxError(`line ${l.no}: expected indent ${indent}`);
    return l.text.startsWith('- ') || l.text === '-' ? seq(indent) : map(indent);
  }

  function seq(indent: number): Json[] {
    const out: Json[] = [];
    while (pos < lines.length && lines[pos]!.indent === indent && lines[pos]!.text.startsWith('- ')) {
      const l = lines[pos]!;
      const rest = l.text.slice(2);
      if (keyValue(rest) !== undefined) {
        // A mapping item: re-read the line as the mapping's first key, indented past the dash.
        lines[pos] = { indent: indent + 2, text: rest, no: l.no };
        out.push(map(indent + 2));
      } else {
        pos++;
        out.push(scalar(rest, l.no));
      }
    }
    return out;
  }

  function map(indent: number): Json {
    const out: Record<string, Json> = {};
    while (pos < lines.length && lines[pos]!.indent === indent && !lines[pos]!.text.startsWith('- ')) {
      const l = lines[pos]!;
      const kv = keyValue(l.text);
      if (kv === undefined) throw new SyntaxError(`line ${l.no}: expected key: value`);
      if (Object.hasOwn(out, kv.key)) throw new SyntaxError(`line ${l.no}: duplicate key ${kv.key}`);
      pos++;
      if (kv.value === '>-') {
        const parts: string[] = [];
        while (pos < lines.length && lines[pos]!.indent > indent) parts.push(lines[pos++]!.text);
        out[kv.key] = parts.join(' ');
      } else if (kv.value === '') {
        if (pos >= lines.length || lines[pos]!.indent <= indent) throw new SyntaxError(`line ${l.no}: empty value`);
        out[kv.key] = node(lines[pos]!.indent);
      } else {
        out[kv.key] = scalar(kv.value, l.no);
      }
    }
    return out;
  }

  const result = node(0);
  if (pos !== lines.length) throw new SyntaxError(`line ${lines[pos]!.no}: unexpected indentation`);
  return result;
}

function keyValue(text: string): { key: string; value: string } | undefined {
  let key: string;
  let rest: string;
  if (text.startsWith("'") || text.startsWith('"')) {
    const end = text.indexOf(text[0]!, 1);
    if (end < 0 || text[end + 1] !== ':') return undefined;
    key = text.slice(1, end);
    rest = text.slice(end + 2);
  } else {
    const m = /^([^\s'"[\]{},#][^:]*?):(?: (.*)|)$/.exec(text);
    if (m === null) return undefined;
    key = m[1]!;
    rest = m[2] === undefined ? '' : ` ${m[2]}`;
  }
  if (rest !== '' && !rest.startsWith(' ')) return undefined;
  return { key, value: rest.trim() };
}

function scalar(s: string, no: number): Json {
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw new SyntaxError(`line ${no}: unterminated string`);
    return s.slice(1, -1).replaceAll("''", "'");
  }
  if (s.startsWith('"')) return JSON.parse(s) as string;
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw new SyntaxError(`line ${no}: unterminated flow sequence`);
    const inner = s.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((x) => scalar(x.trim(), no));
  }
  if (s.startsWith('{') || s.startsWith('&') || s.startsWith('*') || s.startsWith('|') || s.startsWith('>')) {
    throw new SyntaxError(`line ${no}: unsupported YAML: ${s}`);
  }
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (s === 'null' || s === '~') return null;
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if (s.includes(' #')) throw new SyntaxError(`line ${no}: inline comment; quote the value`);
  return s;
}

export type Schema = { [k: string]: Json };

export function resolveRef(doc: Json, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
  let cur: Json = doc;
  for (const part of ref.slice(2).split('/')) {
    const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, key)) throw new Error(`unresolved $ref ${ref}`);
    cur = (cur as Record<string, Json>)[key]!;
  }
  return cur as Schema;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function validate(doc: Json, schema: Schema, value: unknown, path = '$'): string[] {
  if (typeof schema.$ref === 'string') return validate(doc, resolveRef(doc, schema.$ref), value, path);
  const errors: string[] = [];
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const types = (Array.isArray(schema.type) ? schema.type : [schema.type]) as string[];
    if (!types.some((ty) => ty === t || (ty === 'number' && t === 'integer'))) return [`${path}: expected ${types.join('|')}, got ${t}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => e === value)) errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (Array.isArray(schema.oneOf)) {
    const ok = schema.oneOf.filter((s) => validate(doc, s as Schema, value, path).length === 0).length;
    if (ok !== 1) errors.push(`${path}: matches ${ok} of oneOf`);
  }
  if (t === 'string') {
    const s = value as string;
    if (typeof schema.minLength === 'number' && s.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && s.length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(s)) errors.push(`${path}: does not match ${schema.pattern}`);
  }
  if (t === 'integer' || t === 'number') {
    const n = value as number;
    if (typeof schema.minimum === 'number' && n < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && n > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
  }
  if (t === 'array') {
    const a = value as unknown[];
    if (typeof schema.minItems === 'number' && a.length < schema.minItems) errors.push(`${path}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === 'number' && a.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items`);
    const prefix = Array.isArray(schema.prefixItems) ? (schema.prefixItems as Schema[]) : [];
    a.forEach((item, i) => {
      const s = i < prefix.length ? prefix[i] : (schema.items as Schema | undefined);
      if (s !== undefined) errors.push(...validate(doc, s, item, `${path}[${i}]`));
    });
  }
  if (t === 'object') {
    const o = value as Record<string, unknown>;
    for (const r of (schema.required as string[] | undefined) ?? []) if (!Object.hasOwn(o, r)) errors.push(`${path}: missing ${r}`);
    const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, v] of Object.entries(o)) {
      if (Object.hasOwn(props, k)) errors.push(...validate(doc, props[k]!, v, `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property ${k}`);
      else if (typeof schema.additionalProperties === 'object' && schema.additionalProperties !== null) {
        errors.push(...validate(doc, schema.additionalProperties as Schema, v, `${path}.${k}`));
      }
    }
  }
  return errors;
}

/** The response schema the document gives for (path, method, status), $refs of responses resolved. */
export function responseSchema(doc: Json, path: string, method: string, status: number): Schema {
  const op = resolveRef(doc, `#/paths/${path.replaceAll('~', '~0').replaceAll('/', '~1')}/${method.toLowerCase()}`);
  const responses = op.responses as Record<string, Schema>;
  let r = responses[String(status)];
  if (r === undefined) throw new Error(`${method} ${path}: status ${status} is not documented`);
  if (typeof r.$ref === 'string') r = resolveRef(doc, r.$ref);
  const schema = (r.content as Record<string, { schema: Schema }> | undefined)?.['application/json']?.schema;
  if (schema === undefined) throw new Error(`${method} ${path} ${status}: no application/json schema`);
  return schema;
}
