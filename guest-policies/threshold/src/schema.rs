//! JSON Schema (draft 2020-12) of the threshold policy's params, returned by `describe()`.
//! Keep it in step with `params.rs`; a unit test checks that the example params validate
//! against the parts serde enforces.

pub const PARAMS_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "urn:levee:policy:threshold:params",
  "title": "levee threshold policy params (approval matrix)",
  "description": "Amounts are integer minor units of the ladder's currency. An amount up to auto_approve_up_to auto-approves; otherwise the first band whose up_to it does not exceed gives the approver level; above the last band, above_top_band applies.",
  "type": "object",
  "required": ["version", "ladders", "above_top_band", "never_auto_approve", "customer_comms_for", "repeat_refunds_90d", "sla_minutes"],
  "additionalProperties": false,
  "properties": {
    "version": {"type": "string", "minLength": 1, "description": "Version of the matrix, e.g. default-2026.11."},
    "ladders": {
      "type": "object",
      "description": "The ladder of each ISO-4217 currency code.",
      "propertyNames": {"$ref": "#/$defs/currency"},
      "additionalProperties": {"$ref": "#/$defs/ladder"}
    },
    "kind_ladders": {
      "type": "object",
      "description": "Ladders that replace `ladders` for one case kind and currency.",
      "propertyNames": {"$ref": "#/$defs/kind"},
      "additionalProperties": {
        "type": "object",
        "propertyNames": {"$ref": "#/$defs/currency"},
        "additionalProperties": {"$ref": "#/$defs/ladder"}
      },
      "default": {}
    },
    "above_top_band": {
      "type": "object",
      "description": "What an amount above the last band needs.",
      "required": ["level", "approvals"],
      "additionalProperties": false,
      "properties": {
        "level": {"$ref": "#/$defs/level"},
        "approvals": {"type": "integer", "minimum": 1, "maximum": 255}
      }
    },
    "never_auto_approve": {
      "type": "array",
      "description": "Kinds that need at least lead approval however small the amount.",
      "items": {"$ref": "#/$defs/kind"},
      "uniqueItems": true
    },
    "customer_comms_for": {
      "type": "array",
      "description": "Kinds that always need a reviewed customer-impact message.",
      "items": {"$ref": "#/$defs/kind"},
      "uniqueItems": true
    },
    "repeat_refunds_90d": {
      "type": "integer",
      "minimum": 0,
      "maximum": 4294967295,
      "description": "A refund escalates one level when the customer had at least this many refunds in the previous 90 days."
    },
    "sla_minutes": {
      "type": "object",
      "description": "Minutes each approver level has before the case breaches its SLA.",
      "propertyNames": {"$ref": "#/$defs/level"},
      "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 4294967295}
    }
  },
  "$defs": {
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "kind": {"enum": ["refund", "credit", "fee_waiver", "write_off", "override"]},
    "level": {"enum": ["lead", "manager", "finance", "director"]},
    "minor_units": {"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807},
    "ladder": {
      "type": "object",
      "required": ["auto_approve_up_to", "bands", "rationale_above", "attachment_above"],
      "additionalProperties": false,
      "properties": {
        "auto_approve_up_to": {"$ref": "#/$defs/minor_units", "description": "Must be below the first band's up_to."},
        "bands": {
          "type": "array",
          "minItems": 1,
          "description": "Strictly ascending by up_to.",
          "items": {
            "type": "object",
            "required": ["up_to", "level"],
            "additionalProperties": false,
            "properties": {
              "up_to": {"$ref": "#/$defs/minor_units"},
              "level": {"$ref": "#/$defs/level"}
            }
          }
        },
        "rationale_above": {"$ref": "#/$defs/minor_units"},
        "attachment_above": {"$ref": "#/$defs/minor_units"}
      }
    }
  }
}"##;
