# The threshold policy (guest-policies/threshold) in Rego, for the policy-decision benchmark
# (benches/policy.rs): the same decision, reason sentences included, from the same facts
# (`input`, shaped like the WIT facts) and the same approval matrix (`data.params.threshold`).
# The benchmark asserts that it decides every generated case exactly as the plugin does.
package levee.threshold

import rego.v1

params := data.params.threshold

amount := input.amount.minor_units

currency := input.amount.currency

# The kind's own ladder for the currency if there is one, else the currency's. Undefined (no
# decision: the plugin's `unsupported`) for a currency without a ladder.
ladder := object.get(object.get(params.kind_ladders, input.kind, {}), currency, params.ladders[currency])

# Where the amount falls: auto-approve, the first band it fits, or above the top band.
auto_approve if amount <= ladder.auto_approve_up_to

fitting_bands := {i | some i, band in ladder.bands; amount <= band.up_to}

band_index := min(fitting_bands) if {
	not auto_approve
	count(fitting_bands) > 0
}

above_top_band if {
	not auto_approve
	count(fitting_bands) == 0
}

top := ladder.bands[count(ladder.bands) - 1].up_to

# What the ladder alone asks for (undefined: auto-approve), its rule name and its reason.
ladder_requirement := {"level": ladder.bands[band_index].level, "approvals": 1}

ladder_requirement := {"level": params.above_top_band.level, "approvals": params.above_top_band.approvals} if {
	above_top_band
}

rule_name := "auto" if auto_approve

rule_name := sprintf("band-%d", [band_index + 1])

rule_name := "above-top-band" if above_top_band

case_text := sprintf("%s of %s", [input.kind, money(amount)])

ladder_reason := sprintf("%s is within the auto-approve limit of %s", [case_text, money(ladder.auto_approve_up_to)]) if {
	auto_approve
}

ladder_reason := sprintf("%s is above the auto-approve limit of %s and within band %d (up to %s): %s", [
	case_text, money(ladder.auto_approve_up_to), band_index + 1,
	money(ladder.bands[band_index].up_to), approval_phrase(ladder_requirement),
])

ladder_reason := sprintf("%s is above the top band (up to %s): %s", [case_text, money(top), top_band_phrase]) if {
	above_top_band
}

top_band_phrase := sprintf("dual approval above the top band (%s)", [approval_phrase(ladder_requirement)]) if {
	ladder_requirement.approvals == 2
}

top_band_phrase := sprintf("%s above the top band", [approval_phrase(ladder_requirement)]) if {
	ladder_requirement.approvals != 2
}

# A kind that never auto-approves turns an auto-approval into lead approval.
default refused_auto_approve := false

refused_auto_approve if {
	auto_approve
	input.kind in params.never_auto_approve
}

lead := {"level": "lead", "approvals": 1}

before_escalation := ladder_requirement if not refused_auto_approve

before_escalation := lead if refused_auto_approve

refusal_clause := sprintf(", but %s is never auto-approved: %s", [input.kind, approval_phrase(lead)]) if {
	refused_auto_approve
}

refusal_clause := "" if not refused_auto_approve

refusal_signals := ["never-auto-approve-kind"] if refused_auto_approve

refusal_signals := [] if not refused_auto_approve

# Escalation: a repeat refund and an escalate-always code, repeat refund first; one level in
# total, whatever the number of causes.
repeat_refund := [{"why": sprintf("repeat refund (%d in 90 days)", [input.refunds_90d]), "signal": "repeat-refund"} |
	input.kind == "refund"
	input.refunds_90d >= params.repeat_refunds_90d
]

escalate_always := [{"why": "code escalates always", "signal": "escalate-always-code"} | input.escalate_always]

causes := array.concat(repeat_refund, escalate_always)

escalated := before_escalation if count(causes) == 0

escalated := lead if {
	count(causes) > 0
	not before_escalation
}

escalated := {"level": one_level_up[before_escalation.level], "approvals": before_escalation.approvals} if {
	count(causes) > 0
}

one_level_up := {"lead": "manager", "manager": "finance", "finance": "director", "director": "director"}

why := concat(" and ", [cause.why | some cause in causes])

# Director, the highest level, cannot escalate further.
default at_highest_level := false

at_highest_level if before_escalation.level == "director"

escalation_clause := "" if count(causes) == 0

escalation_clause := sprintf("; already at the highest level, no escalation above it: %s", [why]) if {
	count(causes) > 0
	at_highest_level
}

escalation_clause := sprintf("; escalated one level: %s; %s", [why, approval_phrase(escalated)]) if {
	count(causes) > 0
	not at_highest_level
}

signals := array.concat(refusal_signals, [cause.signal | some cause in causes])

# The evidence gates, in order.
default needs_customer_comms := false

needs_customer_comms if input.kind in params.customer_comms_for

needs_customer_comms if input.customer_comms_required

evidence_gates := [
	["rationale", amount > ladder.rationale_above],
	["attachment", amount > ladder.attachment_above],
	["customer_comms", needs_customer_comms],
]

required_evidence := [gate[0] | some gate in evidence_gates; gate[1]]

outcome := {"type": "auto_approve"} if not escalated

outcome := {
	"type": "require_approval",
	"level": escalated.level,
	"approvals_needed": escalated.approvals,
	"sla_minutes": object.get(params.sla_minutes, escalated.level, null),
	"reason": concat("", [ladder_reason, refusal_clause, escalation_clause]),
}

decision := {
	"outcome": outcome,
	"required_evidence": required_evidence,
	"route": null,
	"signals": signals,
	"rule_id": sprintf("threshold/%s/%s", [currency, rule_name]),
}

# "lead approval" for one approver, "2 director approvals" for more.
approval_phrase(requirement) := sprintf("%s approval", [requirement.level]) if requirement.approvals == 1

approval_phrase(requirement) := sprintf("%d %s approvals", [requirement.approvals, requirement.level]) if {
	requirement.approvals != 1
}

# Minor units in the case's currency, exactly: 40000 with exponent 2 is "400.00 USD".
money(units) := sprintf("%s %s", [format_minor_units(units, input.amount.exponent), currency])

format_minor_units(units, exponent) := format_int(units, 10) if exponent == 0

format_minor_units(units, exponent) := concat("", [whole, ".", fraction]) if {
	exponent > 0
	digits := format_int(units, 10)
	padded := concat("", [substring("000000000000000000000", 0, max([exponent + 1 - count(digits), 0])), digits])
	split := count(padded) - exponent
	whole := substring(padded, 0, split)
	fraction := substring(padded, split, exponent)
}
