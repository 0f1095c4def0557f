//! The label rule, `[a-z][a-z0-9_]*`, for labels that arrive at run time (an app label from a
//! builder, extension names from a config file). The macros check the same rule at compile
//! time, from the same source file (`label/rule.rs`).

mod rule;

use crate::{Error, Result};

/// `Ok` if `label` follows the rule, else [`Error::InvalidLabel`] naming `what` it labels.
pub(crate) fn check(what: &'static str, label: &str) -> Result<()> {
    if rule::is_valid(label) {
        Ok(())
    } else {
        Err(Error::InvalidLabel {
            what,
            label: label.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(check("app", "my_app2").is_ok());
        for bad in ["", "My", "my-app", "1app", "_x", "a b", "é"] {
            let err = check("app", bad).unwrap_err();
            assert!(err.to_string().contains("invalid app label"), "{err}");
        }
    }
}
