// repeat-guard: a levee rule plugin written in JavaScript, built into a component of the
// `levee:policy@0.2.0` world (../../wit/policy.wit) by componentize-qjs (QuickJS). It exports
// the `rules` interface as `rules` below; everything else is plain JavaScript that node can
// import and unit-test directly (test/repeat-guard.test.js). levee calls `configure` once with
// the params, then `evaluate` for each case.
//
// The rule: a refund or credit for a customer who has had `max_refunds` or more refunds in
// the last 90 days, or whose refunded total in the last 90 days plus this case would exceed
// `max_refunded_minor_units`, needs one approval at `level` and a written rationale.
// Anything else gets no objection from this policy.
//
// WIT values as the component sees them (componentize-qjs): records are objects with
// camelCase keys, enums are their case names ("refund"), variants are { tag, val },
// option<T> is T or null, s64 is a Number (a BigInt is accepted too, for other bindings),
// and a function returning result<T, E> returns T or throws E.

export const NAME = 'repeat-guard';
export const VERSION = '0.2.0';
export const DESCRIPTION =
  'Repeat-refund guard: a refund or credit for a customer with too many refunds, or too much ' +
  'refunded, in the last 90 days needs an approval (manager by default) and a written rationale.';

export const DEFAULTS = Object.freeze({
  max_refunds: 3,
  max_refunded_minor_units: 50000,
  level: 'manager',
});

const LEVELS = ['lead', 'manager', 'finance', 'director'];
const GUARDED_KINDS = ['refund', 'credit'];
// The largest integer a JS Number holds exactly; bigger amounts are refused, not rounded.
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export const PARAMS_SCHEMA = JSON.stringify({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'repeat-guard parameters',
  type: 'object',
  additionalProperties: false,
  properties: {
    max_refunds: {
      description: 'Refunds in the last 90 days at which a refund or credit needs approval.',
      type: 'integer', minimum: 1, maximum: 4294967295, default: DEFAULTS.max_refunds,
    },
    max_refunded_minor_units: {
      description: 'Most the customer may have refunded in 90 days, this case included, ' +
        "in minor units of the case's currency, before approval is needed.",
      type: 'integer', minimum: 0, maximum: MAX_SAFE, default: DEFAULTS.max_refunded_minor_units,
    },
    level: {
      description: 'The approver level asked for.',
      enum: LEVELS, default: DEFAULTS.level,
    },
  },
});

/** A policy-error of the contract, as the component's result error. */
class PolicyError {
  constructor(tag, message) {
    this.tag = tag;
    this.val = message;
  }
}

const invalidParams = (message) => new PolicyError('invalid-params', message);
const unsupported = (message) => new PolicyError('unsupported', message);

/**
 * Parses and checks the JSON params. Missing keys take their defaults; `null`, an empty
 * string and `{}` mean all defaults. Throws an `invalid-params` error on anything else.
 */
export function parseParams(text) {
  let raw;
  if (text === undefined || text === null || String(text).trim() === '') {
    raw = {};
  } else {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw invalidParams(`params are not JSON: ${error.message}`);
    }
  }
  if (raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalidParams('params must be a JSON object');
  }
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(DEFAULTS, key)) {
      throw invalidParams(
        `unknown parameter "${key}" (known: ${Object.keys(DEFAULTS).join(', ')})`);
    }
  }
  const params = { ...DEFAULTS, ...raw };
  if (!Number.isInteger(params.max_refunds) || params.max_refunds < 1 ||
      params.max_refunds > 4294967295) {
    throw invalidParams(
      `max_refunds must be an integer from 1 to 4294967295, not ${JSON.stringify(raw.max_refunds)}`);
  }
  if (!Number.isSafeInteger(params.max_refunded_minor_units) ||
      params.max_refunded_minor_units < 0) {
    throw invalidParams('max_refunded_minor_units must be a non-negative integer (minor units), ' +
      `not ${JSON.stringify(raw.max_refunded_minor_units)}`);
  }
  if (!LEVELS.includes(params.level)) {
    throw invalidParams(
      `level must be one of ${LEVELS.join(', ')}, not ${JSON.stringify(raw.level)}`);
  }
  return params;
}

/** An s64 from the component (Number or BigInt) as a safe integer Number. */
function safeInteger(value, what) {
  const number = typeof value === 'bigint' ? Number(value) : value;
  if (!Number.isSafeInteger(number)) {
    throw unsupported(`${what} ${String(value)} is beyond what this policy computes exactly`);
  }
  return number;
}

/** Minor units as a decimal amount with its currency: 12345, USD, 2 -> "123.45 USD". */
export function formatMoney(minorUnits, currency, exponent) {
  const negative = minorUnits < 0;
  let digits = String(Math.abs(minorUnits));
  if (exponent > 0) {
    digits = digits.padStart(exponent + 1, '0');
    digits = `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  }
  return `${negative ? '-' : ''}${digits} ${currency}`;
}

function decision(outcome, requiredEvidence, signals, ruleId) {
  return { outcome, requiredEvidence, route: null, signals, ruleId };
}

/** Decides one case; throws a PolicyError for bad params or a case it cannot decide. */
export function decide(facts, params) {
  if (!GUARDED_KINDS.includes(facts.kind)) {
    return decision({ tag: 'auto-approve' }, [], [], `${NAME}/not-guarded/${facts.kind}`);
  }
  const amount = safeInteger(facts.amount.minorUnits, 'amount');
  if (amount <= 0) throw unsupported(`amount must be positive, not ${amount}`);
  const refunds = facts.history.customer.refunds;
  const refunded = safeInteger(facts.history.customer.refundedMinorUnits, 'refunded-90d amount');
  const { currency, exponent } = facts.amount;
  const money = (minor) => formatMoney(minor, currency, exponent);
  // BigInt so that refunded + amount cannot lose precision.
  const total = BigInt(refunded) + BigInt(amount);

  const reasons = [];
  const signals = [];
  const fired = [];
  if (refunds >= params.max_refunds) {
    reasons.push(`the customer has had ${refunds} refunds in the last 90 days ` +
      `(review from ${params.max_refunds})`);
    signals.push('repeat-refund');
    fired.push('count');
  }
  if (total > BigInt(params.max_refunded_minor_units)) {
    reasons.push(`${money(refunded)} refunded in the last 90 days plus this ` +
      `${money(amount)} makes ${money(Number(total))}, over the limit of ` +
      `${money(params.max_refunded_minor_units)}`);
    signals.push('refund-volume');
    fired.push('volume');
  }
  if (fired.length === 0) {
    return decision({ tag: 'auto-approve' }, [], [], `${NAME}/within-limits`);
  }
  const reason = `Repeat refunds: ${reasons.join('; and ')}.`;
  return decision(
    {
      tag: 'require-approval',
      val: { level: params.level, approvalsNeeded: 1, slaMinutes: null, reason },
    },
    ['rationale'],
    signals,
    `${NAME}/${fired.join('+')}`,
  );
}

/** Runs `work`, with any error thrown as the contract's policy-error. */
function asContract(work) {
  try {
    return work();
  } catch (error) {
    if (error instanceof PolicyError) throw { tag: error.tag, val: error.val };
    // A bug here: report it as the contract's `internal` error rather than trapping.
    throw { tag: 'internal', val: `repeat-guard failed: ${error && error.message}` };
  }
}

/** Decides `facts` with the params `paramsJson`, as configure and then evaluate would. */
export function evaluateWith(facts, paramsJson) {
  return asContract(() => decide(facts, parseParams(paramsJson)));
}

// The params `configure` took. Where levee snapshots the configured instance, every case starts
// with them; this component (componentize-qjs nests components) is configured in each case's
// instance instead, before it evaluates.
let configured = null;

/** `configure` of the contract: parses and checks the params, once. */
export function configure(paramsJson) {
  return asContract(() => {
    if (configured !== null) throw new PolicyError('internal', 'configure was already called');
    configured = parseParams(paramsJson);
  });
}

/** `evaluate` of the contract: result<decision, policy-error> as return-or-throw. */
export function evaluate(facts) {
  return asContract(() => {
    if (configured === null) throw new PolicyError('internal', 'evaluate was called before configure');
    return decide(facts, configured);
  });
}

/** `describe` of the contract. */
export function describe() {
  return { name: NAME, version: VERSION, description: DESCRIPTION, paramsSchema: PARAMS_SCHEMA };
}

// The component's export of `levee:policy/rules`.
export const rules = { configure, evaluate, describe };
