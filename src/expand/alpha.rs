//! [`Alpha`]: the expansion factor of FPE, a value that can only be valid.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The expansion factor: every expanded neuron becomes `alpha` children (Sec. 2.3). Only values in
/// [`Alpha::MIN`]`..=`[`Alpha::MAX`] exist: a split into one child is no split, and a factor beyond
/// [`Alpha::MAX`] is a typo rather than an experiment (each child would keep a 1/1024th of its parent's inputs).
/// Deserializes from an integer through the same check ([`Alpha::new`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "usize", into = "usize")]
pub struct Alpha(usize);

impl Alpha {
    /// The smallest factor (two children per neuron).
    pub const MIN: usize = 2;
    /// The largest factor accepted.
    pub const MAX: usize = 1024;

    /// `alpha`, checked: an error naming the valid range otherwise.
    pub fn new(alpha: usize) -> Result<Alpha> {
        if alpha < Self::MIN {
            return Err(Error::invalid(
                "alpha",
                format!("{alpha} is too small: FPE splits each neuron into alpha >= 2"),
            ));
        }
        if alpha > Self::MAX {
            return Err(Error::invalid(
                "alpha",
                format!("{alpha} is too large: use alpha <= {}", Self::MAX),
            ));
        }
        Ok(Alpha(alpha))
    }

    /// The factor.
    pub fn get(self) -> usize {
        self.0
    }
}

impl TryFrom<usize> for Alpha {
    type Error = Error;
    fn try_from(alpha: usize) -> Result<Alpha> {
        Alpha::new(alpha)
    }
}

impl From<Alpha> for usize {
    fn from(alpha: Alpha) -> usize {
        alpha.0
    }
}

impl FromStr for Alpha {
    type Err = Error;
    fn from_str(s: &str) -> Result<Alpha> {
        let n: usize = s.trim().parse().map_err(|_| {
            Error::invalid(
                "alpha",
                format!(
                    "'{s}' is not a whole number (FPE splits each neuron into alpha >= 2 children)"
                ),
            )
        })?;
        Alpha::new(n)
    }
}

impl fmt::Display for Alpha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_factors_exist() {
        assert!(Alpha::new(1)
            .unwrap_err()
            .to_string()
            .contains("alpha >= 2"));
        assert!(Alpha::new(0).is_err());
        assert!(Alpha::new(Alpha::MAX + 1)
            .unwrap_err()
            .to_string()
            .contains("too large"));
        assert_eq!(Alpha::new(2).unwrap().get(), 2);
        assert_eq!("7".parse::<Alpha>().unwrap().get(), 7);
        assert!("x".parse::<Alpha>().is_err());
        // serde goes through the same check.
        assert_eq!(serde_json::from_str::<Alpha>("4").unwrap().get(), 4);
        let err = serde_json::from_str::<Alpha>("1").unwrap_err().to_string();
        assert!(err.contains("alpha >= 2"), "{err}");
        assert_eq!(serde_json::to_string(&Alpha::new(3).unwrap()).unwrap(), "3");
    }
}
