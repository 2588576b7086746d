//! Configuration errors: each one says where, what, and how to fix it.

use std::fmt;
use std::sync::Arc;

use crate::store::ObjectKey;

/// A place in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    /// 1-based.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub location: Option<Location>,
    pub resource: Option<ObjectKey>,
    /// Dotted path inside the resource, e.g. `spec.rules[0].backendRefs[0].name`.
    pub field: Option<String>,
    pub message: String,
    /// What to change to fix it.
    pub hint: Option<String>,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            location: None,
            resource: None,
            field: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn resource(mut self, key: &ObjectKey) -> Self {
        self.resource = Some(key.clone());
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if let Some(resource) = &self.resource {
            write!(f, "{resource}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Every error found in one load, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn single(error: ConfigError) -> Self {
        Self(vec![error])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// In file order, which reads best: users fix a file top to bottom.
    pub fn sort_by_location(&mut self) {
        self.0.sort_by(|a, b| {
            let key = |e: &ConfigError| e.location.as_ref().map(|l| (l.file.clone(), l.line));
            key(a).cmp(&key(b))
        });
    }

    /// The resources these errors are about (as `Kind namespace/name`), where `about`
    /// picks them.
    pub fn resources(&self, about: impl Fn(&ObjectKey) -> bool) -> Vec<String> {
        self.iter()
            .filter_map(|e| e.resource.as_ref())
            .filter(|key| about(key))
            .map(ToString::to_string)
            .collect()
    }
}

impl ConfigError {
    /// Whether the message names one of `resources`: an error that follows from theirs
    /// (a reference to a resource that failed, a value it lacks) and goes away with
    /// their fix.
    pub fn names_any(&self, resources: &[String]) -> bool {
        resources.iter().any(|r| self.message.contains(r.as_str()))
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} configuration error{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            writeln!(f, "  - {error}")?;
        }
        Ok(())
    }
}
