//! `fermyon:spin/variables@2.0.0` for the levee component: the application variables a Spin
//! deployment sets (`config`, `demo`), fixed when the server starts. A name that is not set is
//! `undefined(name)`, as Spin answers for a variable the component does not declare.

use std::collections::BTreeMap;

use wasmtime::component::{HasData, Linker};

use super::bindings::fermyon::spin::variables;

/// What the variables host function sees of a request's store data.
pub struct VariablesHost<'a> {
    pub values: &'a BTreeMap<String, String>,
}

struct VariablesData;

impl HasData for VariablesData {
    type Data<'a> = VariablesHost<'a>;
}

/// Adds `fermyon:spin/variables` to a linker.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    host: fn(&mut T) -> VariablesHost<'_>,
) -> wasmtime::Result<()> {
    variables::add_to_linker::<T, VariablesData>(linker, host)
}

impl variables::Host for VariablesHost<'_> {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables::Error>> {
        Ok(match self.values.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(variables::Error::Undefined(name)),
        })
    }
}
