//! The routing policy's params, their checks and their JSON Schema.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

use levee_policy_sdk::{PolicyError, Route};
use serde::Deserialize;

/// `{"default": <route>, "codes": {"<CODE>": <route>, ...}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingParams {
    /// Where a case goes when its code has no entry.
    pub default: RouteParams,
    /// Routes by exception code (exact, case-sensitive match).
    #[serde(default)]
    pub codes: BTreeMap<String, RouteParams>,
}

/// One route as written in params.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteParams {
    pub queue: String,
    pub team: String,
    pub sla_minutes: u32,
}

impl RoutingParams {
    /// Checks what serde cannot: every route names a queue and a team.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.default.validate("default")?;
        for (code, route) in &self.codes {
            route.validate(&format!("codes.{code}"))?;
        }
        Ok(())
    }
}

impl RouteParams {
    fn validate(&self, path: &str) -> Result<(), PolicyError> {
        let blank = |field: &str| PolicyError::InvalidParams(format!("{path}.{field} must not be empty"));
        if self.queue.trim().is_empty() {
            return Err(blank("queue"));
        }
        if self.team.trim().is_empty() {
            return Err(blank("team"));
        }
        Ok(())
    }

    pub fn to_route(&self) -> Route {
        Route { queue: self.queue.clone(), team: self.team.clone(), sla_minutes: self.sla_minutes }
    }
}

/// JSON Schema (draft 2020-12) of [`RoutingParams`], returned by `describe()`.
pub const PARAMS_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "urn:levee:policy:routing:params",
  "title": "levee routing policy params",
  "type": "object",
  "required": ["default"],
  "additionalProperties": false,
  "properties": {
    "default": {"$ref": "#/$defs/route", "description": "Where a case goes when its exception code has no entry."},
    "codes": {
      "type": "object",
      "description": "Routes by exception code (exact match).",
      "additionalProperties": {"$ref": "#/$defs/route"},
      "default": {}
    }
  },
  "$defs": {
    "route": {
      "type": "object",
      "required": ["queue", "team", "sla_minutes"],
      "additionalProperties": false,
      "properties": {
        "queue": {"type": "string", "minLength": 1},
        "team": {"type": "string", "minLength": 1},
        "sla_minutes": {"type": "integer", "minimum": 0, "maximum": 4294967295}
      }
    }
  }
}"##;
