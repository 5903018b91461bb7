// Native unit tests of the rule logic: `node --test` (no wasm, no build needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  configure, describe, evaluate, evaluateWith, formatMoney, parseParams, rules, DEFAULTS,
} from '../src/repeat-guard.js';

/** Facts as the component sees them, with a clean history; `over` replaces fields. */
function facts(over = {}) {
  return {
    caseId: 'case-1',
    kind: 'refund',
    amount: { minorUnits: 2500, currency: 'USD', exponent: 2 },
    exceptionCode: 'DAMAGED_ITEM',
    codeCategory: 'fulfilment',
    codeFlags: { escalateAlways: false, customerCommsRequired: false },
    requesterRole: 'agent',
    requesterTeam: 'support',
    channel: 'api',
    history: { windowDays: 90, customer: { refunds: 0, refundedMinorUnits: 0 }, order: null },
    evidencePresent: [],
    attributes: [],
    submittedAt: 1767225600,
    ...over,
  };
}

const history = (refunds, refundedMinorUnits) => ({
  history: { windowDays: 90, customer: { refunds, refundedMinorUnits }, order: null },
});

function policyError(fn) {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail('expected a policy error');
}

test('a first refund within the limits auto-approves', () => {
  const d = evaluateWith(facts(), '{}');
  assert.deepEqual(d.outcome, { tag: 'auto-approve' });
  assert.deepEqual(d.requiredEvidence, []);
  assert.equal(d.route, null);
  assert.deepEqual(d.signals, []);
  assert.equal(d.ruleId, 'repeat-guard/within-limits');
});

test('the third refund in 90 days needs a manager and a rationale', () => {
  const d = evaluateWith(facts(history(3, 9000)), '{}');
  assert.equal(d.outcome.tag, 'require-approval');
  assert.equal(d.outcome.val.level, 'manager');
  assert.equal(d.outcome.val.approvalsNeeded, 1);
  assert.equal(d.outcome.val.slaMinutes, null);
  assert.match(d.outcome.val.reason, /3 refunds in the last 90 days \(review from 3\)/);
  assert.deepEqual(d.requiredEvidence, ['rationale']);
  assert.deepEqual(d.signals, ['repeat-refund']);
  assert.equal(d.ruleId, 'repeat-guard/count');
});

test('two refunds stay under the default count', () => {
  assert.equal(evaluateWith(facts(history(2, 0)), '{}').outcome.tag, 'auto-approve');
});

test('the refunded total is checked with this case included, strictly over the limit', () => {
  // 475.00 + 25.00 = 500.00: at the limit, allowed.
  assert.equal(evaluateWith(facts(history(1, 47500)), '{}').outcome.tag, 'auto-approve');
  // 475.01 + 25.00 = 500.01: over.
  const d = evaluateWith(facts(history(1, 47501)), '{}');
  assert.equal(d.outcome.tag, 'require-approval');
  assert.equal(
    d.outcome.val.reason,
    'Repeat refunds: 475.01 USD refunded in the last 90 days plus this 25.00 USD makes ' +
      '500.01 USD, over the limit of 500.00 USD.',
  );
  assert.deepEqual(d.signals, ['refund-volume']);
  assert.equal(d.ruleId, 'repeat-guard/volume');
});

test('both limits together name both numbers', () => {
  const d = evaluateWith(facts({ kind: 'credit', ...history(5, 60000) }), '{"level": "finance"}');
  assert.equal(d.outcome.val.level, 'finance');
  assert.match(d.outcome.val.reason, /5 refunds/);
  assert.match(d.outcome.val.reason, /600\.00 USD refunded/);
  assert.deepEqual(d.signals, ['repeat-refund', 'refund-volume']);
  assert.equal(d.ruleId, 'repeat-guard/count+volume');
});

test('params override the defaults', () => {
  const params = '{"max_refunds": 5, "max_refunded_minor_units": 100000, "level": "lead"}';
  assert.equal(evaluateWith(facts(history(4, 90000)), params).outcome.tag, 'auto-approve');
  const d = evaluateWith(facts(history(5, 0)), params);
  assert.equal(d.outcome.val.level, 'lead');
});

test('other kinds are not this policy\'s concern', () => {
  for (const kind of ['fee-waiver', 'write-off', 'override']) {
    const d = evaluateWith(facts({ kind, ...history(99, 10_000_000) }), '{}');
    assert.deepEqual(d.outcome, { tag: 'auto-approve' });
    assert.equal(d.ruleId, `repeat-guard/not-guarded/${kind}`);
  }
});

test('currencies without minor digits format as whole units', () => {
  const d = evaluateWith(
    facts({ amount: { minorUnits: 30000, currency: 'JPY', exponent: 0 }, ...history(0, 25000) }),
    '{}',
  );
  assert.match(d.outcome.val.reason, /25000 JPY refunded .* this 30000 JPY makes 55000 JPY, over the limit of 50000 JPY/);
  assert.equal(formatMoney(5, 'USD', 2), '0.05 USD');
  assert.equal(formatMoney(123456, 'BHD', 3), '123.456 BHD');
});

test('s64 values may arrive as BigInt', () => {
  const d = evaluateWith(
    facts({ amount: { minorUnits: 2500n, currency: 'USD', exponent: 2 }, ...history(0, 49000n) }),
    '{}',
  );
  assert.equal(d.ruleId, 'repeat-guard/volume');
});

test('empty, null and {} params all mean the defaults', () => {
  for (const text of ['', '  ', 'null', '{}']) assert.deepEqual(parseParams(text), { ...DEFAULTS });
});

test('malformed params are invalid-params errors', () => {
  const bad = [
    ['not json', /not JSON/],
    ['[1, 2]', /JSON object/],
    ['"manager"', /JSON object/],
    ['{"max_refunds": "three"}', /max_refunds must be an integer/],
    ['{"max_refunds": 0}', /max_refunds must be an integer/],
    ['{"max_refunds": 2.5}', /max_refunds must be an integer/],
    ['{"max_refunded_minor_units": -1}', /max_refunded_minor_units must be/],
    ['{"max_refunded_minor_units": 1e300}', /max_refunded_minor_units must be/],
    ['{"level": "ceo"}', /level must be one of lead, manager, finance, director/],
    ['{"max_refund": 3}', /unknown parameter "max_refund"/],
  ];
  for (const [params, message] of bad) {
    const error = policyError(() => evaluateWith(facts(), params));
    assert.equal(error.tag, 'invalid-params', params);
    assert.match(error.val, message, params);
  }
});

test('a case it cannot compute exactly is unsupported, not rounded', () => {
  const huge = facts({ amount: { minorUnits: 2n ** 60n, currency: 'USD', exponent: 2 } });
  assert.equal(policyError(() => evaluateWith(huge, '{}')).tag, 'unsupported');
  const negative = facts({ amount: { minorUnits: -5, currency: 'USD', exponent: 2 } });
  assert.equal(policyError(() => evaluateWith(negative, '{}')).tag, 'unsupported');
});

test('a bug is reported as an internal error, not a crash', () => {
  const error = policyError(() => evaluateWith({ kind: 'refund' }, '{}'));
  assert.equal(error.tag, 'internal');
});

test('describe names the policy and gives a parseable schema with the defaults', () => {
  const info = describe();
  assert.equal(info.name, 'repeat-guard');
  assert.equal(info.version, '0.2.0');
  assert.ok(info.description.length > 20);
  const schema = JSON.parse(info.paramsSchema);
  assert.equal(schema.properties.max_refunds.default, 3);
  assert.equal(schema.properties.max_refunded_minor_units.default, 50000);
  assert.equal(schema.properties.level.default, 'manager');
  assert.equal(rules.describe, describe);
  assert.equal(rules.evaluate, evaluate);
  assert.equal(rules.configure, configure);
});

test('evaluate takes the params configure took, once', () => {
  assert.equal(policyError(() => evaluate(facts())).val, 'evaluate was called before configure');
  assert.equal(policyError(() => configure('{"level": "boss"}')).tag, 'invalid-params');
  configure('{"max_refunds": 1}');
  assert.equal(evaluate(facts(history(1, 0))).ruleId, 'repeat-guard/count');
  assert.equal(policyError(() => configure('{}')).val, 'configure was already called');
});
