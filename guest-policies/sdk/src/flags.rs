//! Testing a code's [`CodeFlags`].
//!
//! Without wit-bindgen's `bitflags` feature (which would pull in the `bitflags` crate), a WIT
//! `flags` type is a small struct with associated constants, `empty()`, `bits()`,
//! `from_bits_retain()` and the `|`, `&`, `^` operators, but no `contains`. This adds `has`.

use crate::CodeFlags;

impl CodeFlags {
    /// Whether every flag in `flags` is set:
    /// `facts.code_flags.has(CodeFlags::ESCALATE_ALWAYS)`.
    pub fn has(self, flags: CodeFlags) -> bool {
        self.bits() & flags.bits() == flags.bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_checks_each_flag() {
        let flags = CodeFlags::ESCALATE_ALWAYS;
        assert!(flags.has(CodeFlags::ESCALATE_ALWAYS));
        assert!(!flags.has(CodeFlags::CUSTOMER_COMMS_REQUIRED));
        assert!(!CodeFlags::empty().has(CodeFlags::ESCALATE_ALWAYS));
        let both = CodeFlags::ESCALATE_ALWAYS | CodeFlags::CUSTOMER_COMMS_REQUIRED;
        assert!(both.has(CodeFlags::CUSTOMER_COMMS_REQUIRED));
    }
}
