//! Line-numbered parse errors shared by every format in this crate.

use std::fmt;

/// One problem found on one line of an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the input.
    pub line: usize,
    /// Plain-language explanation a school admin can act on.
    pub message: String,
}

impl LineError {
    /// Creates an error for `line` (1-based).
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Every problem found in a file; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseErrors {
    /// The problems, in line order.
    pub errors: Vec<LineError>,
}

impl ParseErrors {
    /// Wraps a list of errors, sorting them by line number.
    pub fn new(mut errors: Vec<LineError>) -> Self {
        errors.sort_by_key(|e| e.line);
        Self { errors }
    }

    /// Returns `Ok(value)` when `errors` is empty, otherwise all errors.
    pub fn check<T>(errors: Vec<LineError>, value: T) -> Result<T, ParseErrors> {
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(Self::new(errors))
        }
    }
}

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(f, "{n} problem{}", if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}
