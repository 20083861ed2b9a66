/**
 * EventBridge event patterns: which events a rule selects, decided the way EventBridge decides it,
 * so that tests and the local demo can route events "through the rules as serverless.yml declares
 * them". No npm package implements the whole pattern language (AWS-FACTS.md).
 *
 * Sources, cited below by short name:
 * - syntax:    docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html
 * - operators: docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
 * - filtering: docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
 *              (the same text is served as content-filtering-with-event-patterns.html)
 * - arrays:    docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
 * - nulls:     docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html
 * - ruler:     github.com/aws/event-ruler, AWS's open-source matcher with EventBridge's pattern language
 *              (README, JsonRuleCompiler.java for what a pattern may say, ByteMachine.java for matching).
 *              Used where the user guide is silent.
 *
 * Pure: no SDK, no I/O.
 */
import { type Cidr, contains, parseAddress, parseCidr } from './cidr.ts';

/** A pattern EventBridge would refuse (PutRule's InvalidEventPatternException), with where and why. */
export class InvalidPatternError extends Error {
  override readonly name = 'InvalidPatternError';
  constructor(
    /** Where in the pattern, e.g. `detail.severity[0].numeric`. */
    readonly path: string,
    readonly reason: string,
  ) {
    super(`invalid event pattern at ${path}: ${reason}`);
  }
}

/** A JSON scalar: what a leaf of an event can hold. */
type Leaf = string | number | boolean | null;

type Condition = { kind: 'exists'; present: boolean } | { kind: 'test'; test: (leaf: Leaf) => boolean };

type Node = { kind: 'object'; object: CompiledObject } | { kind: 'leaf'; conditions: Condition[] };

interface CompiledObject {
  fields: [string, Node][];
  /** The alternatives of the object's `$or` (an object has at most one): one must hold, with the fields. */
  or: CompiledObject[] | undefined;
  /** Only `exists: false` conditions below (no `$or`): must hold for every element of an array. */
  absenceOnly: boolean;
}

const OR = '$or';
const OPERATORS = [
  'prefix',
  'suffix',
  'equals-ignore-case',
  'anything-but',
  'numeric',
  'exists',
  'cidr',
  'wildcard',
] as const;
type Operator = (typeof OPERATORS)[number];
const isOperator = (key: string): key is Operator => (OPERATORS as readonly string[]).includes(key);

/**
 * Names EventBridge keeps for itself inside `$or` branches: the operators, the numeric comparators
 * and the words event-ruler reserves (Constants.RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP).
 */
const RESERVED_IN_OR = new Set<string>([
  ...OPERATORS,
  'exactly',
  'html',
  '=',
  '<',
  '<=',
  '>',
  '>=',
  'regex',
  'not-wildcard',
  'not-equals-ignore-case',
  'date-after',
  'date-on-or-after',
  'date-before',
  'date-on-or-before',
  'in-date-range',
  'ip-address-in-range',
  'ip-address-not-in-range',
]);

/**
 * Numeric matching is limited to this magnitude, with six digits after the decimal point. The user
 * guide (filtering, "Numeric matching") has said ±1.0e9; event-ruler's ComparableNumber and README
 * say ±5.0e9 inclusive. We take the wider one, so we never reject a pattern AWS accepts.
 */
const NUMERIC_LIMIT = 5e9;
const NUMERIC_DECIMALS = 6;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isLeaf = (value: unknown): value is Leaf =>
  value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number';

const fieldPath = (parent: string, key: string) => (parent === '' ? key : `${parent}.${key}`);
const show = (value: unknown) =>
  value === undefined ? 'nothing' : Array.isArray(value) ? 'an array' : JSON.stringify(value);

// ---------------------------------------------------------------------------------------------
// Compiling (and so validating) a pattern

function compileObject(pattern: unknown, path: string, insideOr: boolean): CompiledObject {
  const where = path === '' ? '(root)' : path;
  if (!isRecord(pattern)) {
    throw new InvalidPatternError(where, `must be a JSON object, not ${show(pattern)}`);
  }
  const entries = Object.entries(pattern);
  // JsonRuleCompiler: "Empty objects are not allowed".
  if (entries.length === 0) throw new InvalidPatternError(where, 'empty objects are not allowed');
  const fields: [string, Node][] = [];
  let or: CompiledObject[] | undefined;
  for (const [key, value] of entries) {
    const at = fieldPath(path, key);
    if (key === OR) {
      or = compileOr(value, at);
      continue;
    }
    if (insideOr && RESERVED_IN_OR.has(key)) {
      throw new InvalidPatternError(at, `"${key}" is a reserved word and cannot be a field name inside $or`);
    }
    if (Array.isArray(value)) fields.push([key, { kind: 'leaf', conditions: compileLeaf(value, at) }]);
    else if (isRecord(value))
      fields.push([key, { kind: 'object', object: compileObject(value, at, insideOr) }]);
    // syntax: "the value to match is in a JSON array"; JsonRuleCompiler: "must be an object or an array".
    else throw new InvalidPatternError(at, `must be an object or an array of values, not ${show(value)}`);
  }
  const absenceOnly =
    or === undefined &&
    fields.every(([, node]) =>
      node.kind === 'object'
        ? node.object.absenceOnly
        : node.conditions.every((c) => c.kind === 'exists' && !c.present),
    );
  return { fields, or, absenceOnly };
}

/**
 * `$or` (operators, "Or"; ruler, "The $or Primitive"): an array of at least two objects, each a
 * pattern for the same object as its siblings; operator names cannot be field names inside.
 */
function compileOr(value: unknown, path: string): CompiledObject[] {
  if (!Array.isArray(value)) {
    throw new InvalidPatternError(path, `$or must be an array of at least two objects, not ${show(value)}`);
  }
  if (value.length < 2) {
    throw new InvalidPatternError(path, `$or needs at least two objects, it has ${value.length}`);
  }
  return value.map((branch: unknown, i) => {
    if (!isRecord(branch)) {
      throw new InvalidPatternError(`${path}[${i}]`, `$or holds only objects, not ${show(branch)}`);
    }
    return compileObject(branch, `${path}[${i}]`, true);
  });
}

function compileLeaf(values: unknown[], path: string): Condition[] {
  // JsonRuleCompiler: "Empty arrays are not allowed".
  if (values.length === 0) throw new InvalidPatternError(path, 'empty arrays are not allowed');
  return values.map((value, i): Condition => {
    const at = `${path}[${i}]`;
    if (isLeaf(value) && (typeof value !== 'number' || Number.isFinite(value))) {
      return { kind: 'test', test: exact(value) };
    }
    if (isRecord(value)) return compileOperator(value, at);
    throw new InvalidPatternError(
      at,
      'a value must be a string, number, true, false, null or an operator object',
    );
  });
}

/**
 * Exact matching (syntax, "Matching event values"; nulls): strings character by character without
 * case-folding; `null` and `""` are different values; a string never equals a number or a boolean.
 * Numbers are compared as numbers: the user guide once said 300, 300.0 and 3.0e2 differ, but once
 * JSON is parsed they are one value here, and event-ruler compiles a number in a pattern to a
 * numeric-equals matcher too (JsonRuleCompiler.writeRules), so EventBridge matches them as well.
 */
const exact =
  (expected: Leaf) =>
  (leaf: Leaf): boolean =>
    leaf === expected;

function compileOperator(operator: Record<string, unknown>, path: string): Condition {
  const entries = Object.entries(operator);
  const [first] = entries;
  if (first === undefined || entries.length > 1) {
    throw new InvalidPatternError(
      path,
      `an operator object has exactly one key, this one has ${entries.length}`,
    );
  }
  const [name, argument] = first;
  const at = `${path}.${name}`;
  if (!isOperator(name)) throw new InvalidPatternError(at, `unknown operator "${name}"`);
  switch (name) {
    case 'exists':
      // filtering, "Exists matching": true or false.
      if (typeof argument !== 'boolean') {
        throw new InvalidPatternError(at, `exists takes true or false, not ${show(argument)}`);
      }
      return { kind: 'exists', present: argument };
    case 'numeric':
      return { kind: 'test', test: compileNumeric(argument, at) };
    case 'cidr':
      return { kind: 'test', test: compileCidr(argument, at) };
    case 'wildcard':
      return { kind: 'test', test: onStrings(wildcardRegExp(stringArgument(argument, at, 'wildcard'), at)) };
    case 'equals-ignore-case':
      return { kind: 'test', test: onStrings(ignoreCase(stringArgument(argument, at, name), 'equals')) };
    case 'prefix':
    case 'suffix':
      return { kind: 'test', test: compileAffix(name, argument, at) };
    case 'anything-but':
      return { kind: 'test', test: compileAnythingBut(argument, at) };
  }
}

function stringArgument(argument: unknown, path: string, what: string): string {
  if (typeof argument !== 'string') {
    throw new InvalidPatternError(path, `${what} takes a string, not ${show(argument)}`);
  }
  return argument;
}

/** String operators only see strings (ruler: "only work on string-valued fields"). */
const onStrings =
  (test: (text: string) => boolean) =>
  (leaf: Leaf): boolean =>
    typeof leaf === 'string' && test(leaf);

/**
 * `prefix` / `suffix`, plain or `{ "equals-ignore-case": "..." }` (filtering, "Prefix matching",
 * "Prefix matching while ignoring case", "Suffix matching", "Suffix matching while ignoring case").
 */
function compileAffix(kind: 'prefix' | 'suffix', argument: unknown, path: string): (leaf: Leaf) => boolean {
  if (isRecord(argument)) {
    const entries = Object.entries(argument);
    const [first] = entries;
    if (first === undefined || entries.length > 1 || first[0] !== 'equals-ignore-case') {
      throw new InvalidPatternError(path, `${kind} takes a string or { "equals-ignore-case": string }`);
    }
    const text = stringArgument(first[1], `${path}.equals-ignore-case`, 'equals-ignore-case');
    return onStrings(ignoreCase(text, kind));
  }
  const text = stringArgument(argument, path, kind);
  return onStrings((s) => (kind === 'prefix' ? s.startsWith(text) : s.endsWith(text)));
}

/** Escapes the syntax characters, the only ones a `u`-flag RegExp lets you escape. */
const escapeRegExp = (text: string) => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/**
 * Case-insensitive comparison, character by character as event-ruler does it
 * (EqualsIgnoreCaseParser): each character of the pattern matches itself, its lower case or its
 * upper case.
 */
function ignoreCase(text: string, anchor: 'equals' | 'prefix' | 'suffix'): (s: string) => boolean {
  const body = Array.from(text, (c) => {
    const forms = [...new Set([c, c.toLowerCase(), c.toUpperCase()])].map(escapeRegExp);
    return forms.length === 1 ? forms[0] : `(?:${forms.join('|')})`;
  }).join('');
  const regExp = new RegExp(`${anchor === 'suffix' ? '' : '^'}${body}${anchor === 'prefix' ? '' : '$'}`, 'u');
  return (s) => regExp.test(s);
}

/**
 * `wildcard` (operators, "Wildcard matching"; ruler, "Wildcard matching"): `*` stands for any run of
 * characters, possibly empty; `\*` is a literal asterisk and `\\` a literal backslash; consecutive
 * wildcards and any other escape are invalid (WildcardParser).
 */
function wildcardRegExp(text: string, path: string): (s: string) => boolean {
  let body = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '*') {
      if (text[i + 1] === '*') {
        throw new InvalidPatternError(path, `consecutive wildcard characters at position ${i} of "${text}"`);
      }
      body += '.*';
    } else if (c === '\\') {
      const next = text[i + 1];
      if (next !== '*' && next !== '\\') {
        throw new InvalidPatternError(
          path,
          `invalid escape at position ${i} of "${text}": only \\* and \\\\ may be escaped`,
        );
      }
      body += escapeRegExp(next);
      i++;
    } else {
      body += escapeRegExp(c);
    }
  }
  const regExp = new RegExp(`^${body}$`, 's');
  return (s) => regExp.test(s);
}

/** Digits after the decimal point of a finite number as JavaScript prints it (`1e-7` has 7). */
function decimals(n: number): number {
  const match = /^-?\d+(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(n));
  if (!match) return 0;
  return Math.max(0, (match[1]?.length ?? 0) - Number(match[2] ?? 0));
}

function numericOperand(value: unknown, path: string, operator: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidPatternError(path, `the value of ${operator} must be a number, not ${show(value)}`);
  }
  if (Math.abs(value) > NUMERIC_LIMIT) {
    throw new InvalidPatternError(path, `${value} is outside -5e9..5e9, the range numeric matching supports`);
  }
  if (decimals(value) > NUMERIC_DECIMALS) {
    throw new InvalidPatternError(path, `${value} has more than six digits after the decimal point`);
  }
  return value;
}

/**
 * `numeric` (filtering, "Numeric matching"): `["=", n]`, `["<", n]`, `["<=", n]`, `[">", n]`,
 * `[">=", n]`, or a lower bound (`>`/`>=`) followed by an upper bound (`<`/`<=`), the lower below the
 * upper (JsonRuleCompiler.processNumericMatchExpression, Range: "Bottom must be less than top").
 * It matches only JSON numbers, never a string holding digits, and only within ±5e9 (an event value
 * outside that range is not numeric to event-ruler's ComparableNumber, so no range matches it).
 */
function compileNumeric(argument: unknown, path: string): (leaf: Leaf) => boolean {
  if (!Array.isArray(argument)) {
    throw new InvalidPatternError(
      path,
      `numeric takes an array like [">", 0, "<=", 5], not ${show(argument)}`,
    );
  }
  const [op1, n1, op2, n2] = argument as unknown[];
  if (argument.length !== 2 && argument.length !== 4) {
    throw new InvalidPatternError(
      path,
      `numeric takes [op, number] or [">" or ">=", number, "<" or "<=", number]; this one has ${argument.length} elements`,
    );
  }
  if (op1 !== '=' && op1 !== '<' && op1 !== '<=' && op1 !== '>' && op1 !== '>=') {
    throw new InvalidPatternError(`${path}[0]`, `unknown numeric operator ${show(op1)}`);
  }
  const first = numericOperand(n1, `${path}[1]`, op1);
  let lower: { value: number; open: boolean } | undefined;
  let upper: { value: number; open: boolean } | undefined;
  if (op1 === '=') lower = upper = { value: first, open: false };
  else if (op1 === '<' || op1 === '<=') upper = { value: first, open: op1 === '<' };
  else lower = { value: first, open: op1 === '>' };
  if (argument.length === 4) {
    if (op1 !== '>' && op1 !== '>=') {
      throw new InvalidPatternError(
        `${path}[2]`,
        `only a lower bound (> or >=) can be followed by an upper bound`,
      );
    }
    if (op2 !== '<' && op2 !== '<=') {
      throw new InvalidPatternError(`${path}[2]`, `the second comparison must be < or <=, not ${show(op2)}`);
    }
    const top = numericOperand(n2, `${path}[3]`, op2);
    if (first >= top) {
      throw new InvalidPatternError(
        path,
        `the lower bound ${first} must be less than the upper bound ${top}`,
      );
    }
    upper = { value: top, open: op2 === '<' };
  }
  const low = lower;
  const high = upper;
  return (leaf) =>
    typeof leaf === 'number' &&
    Math.abs(leaf) <= NUMERIC_LIMIT &&
    (low === undefined || (low.open ? leaf > low.value : leaf >= low.value)) &&
    (high === undefined || (high.open ? leaf < high.value : leaf <= high.value));
}

/**
 * `cidr` (filtering, "IP address matching"): IPv4 and IPv6 blocks; an event value matches when it is
 * an address of the same family inside the block. Host bits in the pattern are ignored.
 */
function compileCidr(argument: unknown, path: string): (leaf: Leaf) => boolean {
  const text = stringArgument(argument, path, 'cidr');
  const block: Cidr | undefined = parseCidr(text);
  if (!block) throw new InvalidPatternError(path, `"${text}" is not an IPv4 or IPv6 CIDR block`);
  return onStrings((s) => {
    const address = parseAddress(s);
    if (!address) return false;
    return contains(block, {
      family: address.family,
      base: address.value,
      prefix: address.family === 4 ? 32 : 128,
    });
  });
}

const ANYTHING_BUT_FORMS = ['prefix', 'suffix', 'equals-ignore-case', 'wildcard'] as const;

/**
 * `anything-but` (filtering, "Anything-but matching" and the variants after it): a string, a number,
 * a non-empty list of only strings or only numbers, or one of `prefix`, `suffix`,
 * `equals-ignore-case`, `wildcard` with a string or a list of strings (`prefix`/`suffix` not empty).
 * It matches a present leaf value that the excluded values do not match: a value of another type is
 * not excluded (ruler's ByteMachine fails an anything-but only on an equal value of the same type),
 * and a missing field never matches, because the event must contain every field the pattern names
 * (syntax, "For an event pattern to match an event, the event must contain all the field names").
 */
function compileAnythingBut(argument: unknown, path: string): (leaf: Leaf) => boolean {
  if (isRecord(argument)) {
    const entries = Object.entries(argument);
    const [first] = entries;
    if (first === undefined || entries.length > 1) {
      throw new InvalidPatternError(path, `anything-but takes one of ${ANYTHING_BUT_FORMS.join(', ')}`);
    }
    const [form, inner] = first;
    const at = `${path}.${form}`;
    if (!(ANYTHING_BUT_FORMS as readonly string[]).includes(form)) {
      throw new InvalidPatternError(
        at,
        `anything-but takes one of ${ANYTHING_BUT_FORMS.join(', ')}, not "${form}"`,
      );
    }
    const list = Array.isArray(inner) ? (inner as unknown[]) : [inner];
    if (list.length === 0) throw new InvalidPatternError(at, 'empty arrays are not allowed');
    const texts = list.map((value, i) =>
      stringArgument(value, Array.isArray(inner) ? `${at}[${i}]` : at, `anything-but ${form}`),
    );
    let excluded: (s: string) => boolean;
    switch (form) {
      case 'prefix':
      case 'suffix':
        if (texts.includes(''))
          throw new InvalidPatternError(at, `an empty ${form} is not allowed in anything-but`);
        excluded = (s) => texts.some((t) => (form === 'prefix' ? s.startsWith(t) : s.endsWith(t)));
        break;
      case 'equals-ignore-case': {
        const tests = texts.map((t) => ignoreCase(t, 'equals'));
        excluded = (s) => tests.some((test) => test(s));
        break;
      }
      case 'wildcard': {
        const tests = texts.map((t, i) => wildcardRegExp(t, Array.isArray(inner) ? `${at}[${i}]` : at));
        excluded = (s) => tests.some((test) => test(s));
        break;
      }
      default:
        throw new InvalidPatternError(at, `anything-but does not take "${form}"`);
    }
    return (leaf) => !(typeof leaf === 'string' && excluded(leaf));
  }
  const list = Array.isArray(argument) ? (argument as unknown[]) : [argument];
  if (list.length === 0) throw new InvalidPatternError(path, 'empty arrays are not allowed');
  const strings = list.every((v) => typeof v === 'string');
  const numbers = list.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!strings && !numbers) {
    throw new InvalidPatternError(
      path,
      'anything-but takes a string, a number, or a list of only strings or only numbers (not null, booleans or a mix)',
    );
  }
  const excluded = new Set(list as Leaf[]);
  return (leaf) => !excluded.has(leaf);
}

// ---------------------------------------------------------------------------------------------
// Matching

/** Leaf values at a field: a scalar, or the scalars of an array (nested arrays flattened); objects are not leaves. */
function leavesOf(value: unknown, into: Leaf[] = []): Leaf[] {
  if (Array.isArray(value)) for (const v of value) leavesOf(v, into);
  else if (isLeaf(value) && (typeof value !== 'number' || Number.isFinite(value))) into.push(value);
  return into;
}

function elementsOf(value: unknown[], into: unknown[] = []): unknown[] {
  for (const v of value) {
    if (Array.isArray(v)) elementsOf(v, into);
    else into.push(v);
  }
  return into;
}

/**
 * A field's list of conditions holds when any of them does (arrays: "matches the event if any of
 * the values in the array match"); against an array in the event, when any element does ("the
 * intersection ... is non-empty"). `exists` looks at leaf values only (filtering, "Exists
 * matching": "only works on leaf nodes"): an object, an empty array or an array of objects is not
 * a leaf, so `exists: false` matches it and `exists: true` does not.
 */
function leafHolds(conditions: Condition[], value: unknown): boolean {
  const leaves = leavesOf(value);
  return conditions.some((c) =>
    c.kind === 'exists' ? leaves.length > 0 === c.present : leaves.some(c.test),
  );
}

/**
 * An object pattern holds for an event object when every field and every `$or` holds (syntax:
 * "the event must contain all the field names listed ... with the same nesting structure").
 * Against an array of objects, one element must satisfy the whole object pattern: event-ruler
 * "crushes out" arrays but "will refuse to recognize any match in which any two fields are within
 * JSON objects that are in different elements of the same array" (ruler README, "JSON Array
 * Matching"). A pattern that only requires absence (`exists: false`) must hold for every element:
 * the field is absent from the event only if no element has it.
 */
function objectHolds(pattern: CompiledObject, value: unknown): boolean {
  if (Array.isArray(value)) {
    const elements = elementsOf(value);
    return pattern.absenceOnly
      ? elements.every((e) => objectHolds(pattern, e))
      : elements.some((e) => objectHolds(pattern, e));
  }
  const record = isRecord(value) ? value : undefined;
  for (const [key, node] of pattern.fields) {
    const child = record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
    const holds =
      node.kind === 'object' ? objectHolds(node.object, child) : leafHolds(node.conditions, child);
    if (!holds) return false;
  }
  return pattern.or === undefined || pattern.or.some((branch) => objectHolds(branch, value));
}

const compiled = new WeakMap<object, CompiledObject>();

function compile(pattern: unknown): CompiledObject {
  if (isRecord(pattern)) {
    const cached = compiled.get(pattern);
    if (cached) return cached;
    const fresh = compileObject(pattern, '', false);
    compiled.set(pattern, fresh);
    return fresh;
  }
  return compileObject(pattern, '', false);
}

/**
 * Throws InvalidPatternError, naming the path, for a pattern EventBridge's PutRule would reject:
 * a root or field value that is neither an object nor an array, an empty object or array, a nested
 * array, an operator object with other than one key, an unknown operator, a malformed `numeric`
 * (unknown comparator, bounds in the wrong order or crossed, non-numbers, beyond ±5e9 or six
 * decimals), `exists` other than a boolean, a bad CIDR, consecutive or badly escaped wildcards, an
 * `anything-but` list mixing types or holding null/booleans, an empty anything-but prefix/suffix,
 * and `$or` that is not an array of at least two objects or uses operator names as fields.
 * Rules as in event-ruler's JsonRuleCompiler and the user guide pages cited at the top of this file.
 * (A key given twice cannot be seen here: JSON.parse keeps the last, as EventBridge does.)
 */
export function validatePattern(pattern: unknown): void {
  compile(pattern);
}

/**
 * Whether EventBridge would deliver `event` to a rule with `pattern` (see the module comment for
 * the rules and pages). Validates the pattern first and throws InvalidPatternError if AWS would
 * refuse it, so a bad rule in serverless.yml fails loudly instead of silently matching nothing.
 * Compiled patterns are cached per pattern object; do not mutate a pattern after matching with it.
 */
export function matches(pattern: unknown, event: unknown): boolean {
  return objectHolds(compile(pattern), event);
}
