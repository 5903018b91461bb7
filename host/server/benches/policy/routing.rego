# The routing policy (guest-policies/routing) in Rego, for the policy-decision benchmark
# (benches/policy.rs): the exception code's queue, team and SLA, or the default route, from the
# same facts (`input`) and the same routes (`data.params.routing`). Never objects.
package levee.routing

import rego.v1

routes := data.params.routing

code := input.exception_code

decision := {
	"outcome": {"type": "auto_approve"},
	"required_evidence": [],
	"route": routes.codes[code],
	"signals": [],
	"rule_id": sprintf("routing/code/%s", [code]),
}

decision := {
	"outcome": {"type": "auto_approve"},
	"required_evidence": [],
	"route": routes["default"],
	"signals": ["unrouted-code"],
	"rule_id": "routing/default",
} if {
	not routes.codes[code]
}
