//! Reads variables and collects every problem, so that one start names them
//! all. Every section reads through this, so every problem is worded the
//! same way: `NAME: what is wrong`, never echoing a secret.

use std::{fmt::Display, ops::RangeInclusive, str::FromStr};

use super::placeholder;

pub(super) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Development fills in placeholders; production refuses them.
    pub dev: bool,
    pub problems: Vec<String>,
    /// Variables development mode filled in, for the startup banner.
    pub filled_in: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            dev: true,
            problems: Vec::new(),
            filled_in: Vec::new(),
        }
    }

    /// The trimmed value; empty counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn problem(&mut self, name: &str, what: impl Display) {
        self.problems.push(format!("{name}: {what}"));
    }

    /// The value, or `default` when unset.
    pub fn text(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    /// The value parsed, or `default` when unset or unparsable.
    pub fn parse<T: FromStr>(&mut self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                let ty = std::any::type_name::<T>();
                self.problem(name, format!("{raw:?} is not a valid {ty}"));
                default
            }),
        }
    }

    /// A number that must lie within `range`; `unit` ends the message
    /// (" seconds", " bytes" or "").
    pub fn parse_within<T>(
        &mut self,
        name: &str,
        default: T,
        range: RangeInclusive<T>,
        unit: &str,
    ) -> T
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let value = self.parse(name, default);
        if !range.contains(&value) {
            let (low, high) = (range.start(), range.end());
            self.problem(
                name,
                format!("{value} is not between {low} and {high}{unit}"),
            );
        }
        value
    }

    /// A value production must set for real; development fills in
    /// `placeholder`. The value is never echoed in a problem.
    pub fn required(&mut self, name: &'static str, placeholder: &str) -> String {
        match self.get(name) {
            Some(v) if !self.dev && placeholder::looks_like_one(&v) => {
                self.problem(name, "is a placeholder; set the real value");
                v
            }
            Some(v) => v,
            None if self.dev => {
                self.filled_in.push(name);
                placeholder.to_string()
            }
            None => {
                self.problem(name, "not set");
                String::new()
            }
        }
    }
}
