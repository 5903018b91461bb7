//! Where [`export_policy!`](crate::export_policy) keeps a plugin's params between `configure`
//! and every `evaluate`: set once, read many times, in the instance's own memory (so levee's
//! snapshot of the configured instance carries them).

use alloc::boxed::Box;
use alloc::string::ToString;

use once_cell::race::OnceBox;

use crate::PolicyError;

/// A plugin's params, once configured.
pub struct Configured<T>(OnceBox<T>);

impl<T> Configured<T> {
    pub const fn new() -> Self {
        Configured(OnceBox::new())
    }

    /// Keeps `params`; a second `configure` is refused rather than changing what later
    /// evaluations see.
    pub fn set(&self, params: T) -> Result<(), PolicyError> {
        self.0
            .set(Box::new(params))
            .map_err(|_| PolicyError::Internal("configure was already called on this instance".to_string()))
    }

    /// The params `configure` kept.
    pub fn get(&self) -> Result<&T, PolicyError> {
        self.0.get().ok_or_else(|| PolicyError::Internal("evaluate was called before configure".to_string()))
    }
}

impl<T> Default for Configured<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_kept_once() {
        let configured = Configured::new();
        assert!(
            matches!(configured.get(), Err(PolicyError::Internal(message)) if message.contains("before configure"))
        );
        configured.set(5).unwrap();
        assert!(matches!(configured.set(6), Err(PolicyError::Internal(message)) if message.contains("already")));
        assert_eq!(configured.get(), Ok(&5));
    }
}
