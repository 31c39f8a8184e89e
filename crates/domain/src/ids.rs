//! Typed identifiers: UUID v7 (time-ordered) wrapped so a node id can never be
//! passed where a graph id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected a UUID)")]
pub struct IdError {
    /// Which kind of id was expected ("graph", "node", "edge").
    pub kind: &'static str,
    /// The rejected text, cut to 64 characters.
    pub value: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Uuid::parse_str(value).map(Self).map_err(|_| IdError {
                    kind: $kind,
                    value: value.chars().take(64).collect(),
                })
            }
        }
    };
}

typed_id!(
    /// Identifies a graph document.
    GraphId,
    "graph"
);
typed_id!(
    /// Identifies a node within a graph.
    NodeId,
    "node"
);
typed_id!(
    /// Identifies an edge within a graph.
    EdgeId,
    "edge"
);
typed_id!(
    /// Identifies a library document: an agent, a prompt or a sandbox session.
    DocumentId,
    "document"
);
typed_id!(
    /// Identifies one version of a prompt.
    PromptVersionId,
    "prompt version"
);
typed_id!(
    /// Identifies one chat message of a sandbox session.
    MessageId,
    "message"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = NodeId::new();
        assert_eq!(id.to_string().parse::<NodeId>().unwrap(), id);
    }

    #[test]
    fn garbage_id_names_its_kind() {
        let error = "not-a-uuid".parse::<GraphId>().unwrap_err();
        assert_eq!(error.kind, "graph");
        assert!(error.to_string().contains("not-a-uuid"));
    }
}
